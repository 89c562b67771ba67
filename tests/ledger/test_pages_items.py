"""The time bank's priced service items: the region admin's page lists, adds and changes them;
members see the price list that applies to them; outsiders are refused."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import services
from zhiyuan.ledger.models import TimeBankItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def street(community):
    return community.parent


def test_outsiders_are_refused(client, district, street, admin) -> None:
    item = services.timebank_item_save(
        region=district, code="haircut", name="上门理发", minutes=60, actor=admin
    )
    for outsider in (
        make_user(Role.VOLUNTEER, region=district),
        make_user(Role.DISPATCHER, region=district),
        make_user(Role.SYSTEM_ADMIN),
    ):
        client.force_login(outsider)
        assert client.get("/ledger/admin/items/").status_code == 403
        assert client.get(f"/ledger/admin/items/{item.pk}/").status_code == 403
        response = client.post(f"/ledger/admin/items/{item.pk}/", {"name": "x", "minutes": "1"})
        assert response.status_code == 403
    client.force_login(make_user(Role.DISPATCHER, region=district))
    assert client.get("/ledger/timebank/items/").status_code == 403
    client.logout()
    assert client.get("/ledger/admin/items/").status_code == 302
    item.refresh_from_db()
    assert (item.name, item.minutes) == ("上门理发", 60)


def test_admin_adds_and_edits_items_from_the_page(client, admin, district) -> None:
    client.force_login(admin)
    home = client.get("/", follow=True).content.decode()
    assert 'href="/ledger/admin/items/"' in home
    response = client.post(
        "/ledger/admin/items/", {"code": "meal-delivery", "name": "送餐上门", "minutes": "45"}
    )
    assert response.status_code == 302
    item = TimeBankItem.objects.get(code="meal-delivery")
    assert (item.region_id, item.name, item.minutes) == (district.pk, "送餐上门", 45)

    duplicate = client.post(
        "/ledger/admin/items/", {"code": "meal-delivery", "name": "送餐", "minutes": "30"}
    )
    assert duplicate.status_code == 200
    assert duplicate.context["form"].errors["code"]
    assert 'value="送餐"' in duplicate.content.decode()  # what was typed stays

    bad = client.post("/ledger/admin/items/", {"code": "bath", "name": "助浴", "minutes": "0"})
    assert bad.status_code == 200 and bad.context["form"].errors["minutes"]

    listing = client.get("/ledger/admin/items/").content.decode()
    assert "送餐上门" in listing and f'href="/ledger/admin/items/{item.pk}/"' in listing

    edited = client.post(
        f"/ledger/admin/items/{item.pk}/", {"name": "送餐上门（午餐）", "minutes": "60"}
    )
    assert edited.status_code == 302
    item.refresh_from_db()
    assert (item.code, item.name, item.minutes) == ("meal-delivery", "送餐上门（午餐）", 60)
    assert list(
        AuditEvent.objects.filter(action="ledger.item_saved").values_list("detail", flat=True)
    ) == [{"code": "meal-delivery", "minutes": 45}, {"code": "meal-delivery", "minutes": 60}]


def test_another_regions_item_is_not_found(client, admin, other_district) -> None:
    far_admin = make_user(Role.REGION_ADMIN, region=other_district)
    far = services.timebank_item_save(
        region=other_district, code="haircut", name="西城理发", minutes=30, actor=far_admin
    )
    client.force_login(admin)
    assert "西城理发" not in client.get("/ledger/admin/items/").content.decode()
    assert client.get(f"/ledger/admin/items/{far.pk}/").status_code == 404
    response = client.post(f"/ledger/admin/items/{far.pk}/", {"name": "改", "minutes": "1"})
    assert response.status_code == 404
    far.refresh_from_db()
    assert (far.name, far.minutes) == ("西城理发", 30)


def test_members_see_the_price_list_that_applies_to_them(
    client, admin, district, street, volunteer, other_district
) -> None:
    client.force_login(volunteer)
    plain = client.get("/ledger/timebank/items/")
    assert plain.status_code == 200
    assert plain.context["items"] == [] and not plain.context["policy"].priced_items

    services.timebank_policy_set(
        region=district, cap_minutes=90_000, min_withdraw_age=60, priced_items=True, actor=admin
    )
    services.timebank_item_save(
        region=district, code="haircut", name="理发", minutes=30, actor=admin
    )
    services.timebank_item_save(region=district, code="bath", name="助浴", minutes=90, actor=admin)
    # The street prices haircuts differently: the nearer region's price is the one that applies.
    services.timebank_item_save(
        region=street, code="haircut", name="理发（本街道）", minutes=40, actor=admin
    )
    far_admin = make_user(Role.REGION_ADMIN, region=other_district)
    services.timebank_item_save(
        region=other_district, code="walk", name="陪同散步", minutes=60, actor=far_admin
    )
    assert 'href="/ledger/timebank/items/"' in client.get("/ledger/timebank/").content.decode()
    page = client.get("/ledger/timebank/items/")
    assert [(i.name, i.minutes) for i in page.context["items"]] == [
        ("助浴", 90),
        ("理发（本街道）", 40),
    ]
    body = page.content.decode()
    assert "陪同散步" not in body and "理发（本街道）" in body
