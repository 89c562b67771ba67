"""The administrator's page of priced service items says which region's settings and price
list apply where (a street pricing items under a district that counts minutes, or the
reverse), and which items are in effect for whom; an item can be withdrawn, audited, after
which a region above's price of the same code applies again."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import services
from zhiyuan.ledger.models import TimeBankItem

pytestmark = pytest.mark.django_db
PAGE = "/ledger/admin/items/"


@pytest.fixture
def street(community):
    return community.parent


@pytest.fixture
def priced_street(admin, district, street):
    """The district counts minutes; one street prices items. The district prices a haircut
    and a bath; the street prices its own haircut."""
    services.timebank_policy_set(
        region=street, cap_minutes=90_000, min_withdraw_age=60, priced_items=True, actor=admin
    )
    return {
        "haircut": services.timebank_item_save(
            region=district, code="haircut", name="理发", minutes=60, actor=admin
        ),
        "bath": services.timebank_item_save(
            region=district, code="bath", name="助浴", minutes=90, actor=admin
        ),
        "street_haircut": services.timebank_item_save(
            region=street, code="haircut", name="理发（本街道）", minutes=45, actor=admin
        ),
    }


def zone(text: str, code: str) -> str:
    start = text.index(f'data-region="{code}"')
    return text[start : text.index("</li>", start)]


def row(text: str, pk: int) -> str:
    start = text.index(f'data-item="{pk}"')
    return text[start : text.index("</tr>", start)]


def test_the_page_says_which_price_list_applies_where(
    client: Client, admin, district, street, priced_street
) -> None:
    client.force_login(admin)
    text = client.get(PAGE).content.decode()
    # The district counts minutes; the street prices items, by its own settings, with the
    # street's haircut and the district's bath in effect there.
    assert "按时长计" in zone(text, district.pk) and "按项目定价" not in zone(text, district.pk)
    there = zone(text, street.pk)
    assert "按项目定价" in there and "执行本地区的时间银行设置。" in there
    assert f"理发（本街道）（45 分钟，{street.name}定价）" in there
    assert f"助浴（90 分钟，{district.name}定价）" in there
    assert "理发（60 分钟" not in there  # the district's haircut is overridden there
    # Each item says where it is in effect.
    assert street.name in row(text, priced_street["bath"].pk)
    assert street.name in row(text, priced_street["street_haircut"].pk)
    assert "无：其覆盖的地区按时长计" in row(text, priced_street["haircut"].pk)
    with translation.override("en"):
        english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Which price list applies where" in english
    assert "Its own time-bank settings." in zone(english, street.pk)


def test_a_street_that_counts_minutes_under_a_pricing_district_follows_its_own_switch(
    client: Client, admin, district, street, community
) -> None:
    services.timebank_policy_set(
        region=district, cap_minutes=90_000, min_withdraw_age=60, priced_items=True, actor=admin
    )
    services.timebank_policy_set(
        region=street, cap_minutes=90_000, min_withdraw_age=60, priced_items=False, actor=admin
    )
    item = services.timebank_item_save(
        region=district, code="meal", name="送餐", minutes=30, actor=admin
    )
    client.force_login(admin)
    text = client.get(PAGE).content.decode()
    assert "按项目定价" in zone(text, district.pk)
    assert "按时长计" in zone(text, street.pk)
    assert "该地区按时长计，为其定价的项目暂不使用。" in zone(text, street.pk)
    assert district.name in row(text, item.pk) and street.name not in row(text, item.pk)


def test_withdrawing_an_item_is_audited_and_the_price_above_applies_again(
    client: Client, admin, district, street, priced_street
) -> None:
    item = priced_street["street_haircut"]
    client.force_login(admin)
    edit = client.get(f"/ledger/admin/items/{item.pk}/").content.decode()
    assert f'action="/ledger/admin/items/{item.pk}/withdraw/"' in edit
    assert client.get(f"/ledger/admin/items/{item.pk}/withdraw/").status_code == 405
    done = client.post(f"/ledger/admin/items/{item.pk}/withdraw/", follow=True)
    text = done.content.decode()
    assert (
        f"理发（本街道） 已从价目表撤下；{street.name}改按{district.name}的价格执行：60 分钟。"
        in text
    )
    assert not TimeBankItem.objects.filter(pk=item.pk).exists()
    entry = AuditEvent.objects.get(action="ledger.item_withdrawn")
    assert entry.detail == {"code": "haircut", "minutes": 45, "region": street.pk}
    assert entry.actor_id == admin.pk
    assert f"理发（60 分钟，{district.name}定价）" in zone(text, street.pk)
    # A code priced nowhere above simply leaves the list.
    bath = priced_street["bath"]
    gone = client.post(f"/ledger/admin/items/{bath.pk}/withdraw/", follow=True).content.decode()
    assert "助浴 已从价目表撤下。" in gone


def test_outsiders_cannot_withdraw_an_item(
    client: Client, admin, district, street, other_district, priced_street
) -> None:
    item = priced_street["haircut"]
    url = f"/ledger/admin/items/{item.pk}/withdraw/"
    for outsider in (
        make_user(Role.VOLUNTEER, region=district),
        make_user(Role.DISPATCHER, region=district),
        make_user(Role.SYSTEM_ADMIN),
    ):
        client.force_login(outsider)
        assert client.post(url).status_code == 403
    # Another district's admin, and a street's admin for the district's item: not found.
    for far in (
        make_user(Role.REGION_ADMIN, region=other_district),
        make_user(Role.REGION_ADMIN, region=street),
    ):
        client.force_login(far)
        assert client.post(url).status_code == 404
    client.logout()
    assert client.post(url).status_code == 302
    assert TimeBankItem.objects.filter(pk=item.pk).exists()
    assert not AuditEvent.objects.filter(action="ledger.item_withdrawn").exists()
