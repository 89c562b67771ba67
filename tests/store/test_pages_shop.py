"""The shop's phone pages: a merchant lists, changes, counts and withdraws their own rewards;
other shops' rewards are not found and outsiders are refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.organizations.models import OrganizationKind
from zhiyuan.store import services
from zhiyuan.store.models import Reward

pytestmark = pytest.mark.django_db


def test_outsiders_are_refused(client, district, reward) -> None:
    for outsider in (
        make_user(Role.VOLUNTEER, region=district),
        make_user(Role.RESIDENT, region=district),
        make_user(Role.DISPATCHER, region=district),
    ):
        client.force_login(outsider)
        for url in ("/store/shop/", "/store/shop/new/", f"/store/shop/{reward.pk}/"):
            assert client.get(url).status_code == 403, url
        assert client.post(f"/store/shop/{reward.pk}/", {"action": "withdraw"}).status_code == 403
    client.logout()
    assert client.get("/store/shop/").status_code == 302
    reward.refresh_from_db()
    assert reward.active


def test_another_shops_reward_is_not_found(client, district, reward) -> None:
    other = make_user(
        Role.MERCHANT,
        organization=OrganizationFactory(region=district, kind=OrganizationKind.MERCHANT),
    )
    client.force_login(other)
    listing = client.get("/store/shop/").content.decode()
    assert "大米一袋" not in listing and f"/store/shop/{reward.pk}/" not in listing
    assert client.get(f"/store/shop/{reward.pk}/").status_code == 404
    for data in (
        {"action": "stock", "on_hand": "0"},
        {"action": "withdraw"},
        {"action": "details", "name": "x", "kind": "goods", "price_points": "1", "valid_days": "1"},
    ):
        assert client.post(f"/store/shop/{reward.pk}/", data).status_code == 404
    reward.refresh_from_db()
    assert (reward.name, reward.stock, reward.active) == ("大米一袋", 5, True)


def test_merchant_adds_a_reward_on_the_phone_page(client, merchant, merchant_org) -> None:
    client.force_login(merchant)
    home = client.get("/store/merchant/").content.decode()
    assert 'href="/store/shop/"' in home
    page = client.get("/store/shop/new/")
    assert page.status_code == 200
    assert page.context["form"].fields["organization"].initial == merchant_org.pk
    response = client.post(
        "/store/shop/new/",
        {
            "organization": merchant_org.pk,
            "name": "挂面",
            "description": "一斤装",
            "kind": "goods",
            "price_points": "15",
            "stock": "20",
            "valid_days": "30",
        },
    )
    assert response.status_code == 302
    made = Reward.objects.get(name="挂面")
    assert (made.organization, made.price_points, made.stock) == (merchant_org, 15, 20)
    listing = client.get("/store/shop/").content.decode()
    assert "挂面" in listing and f'href="/store/shop/{made.pk}/"' in listing


def test_a_bad_form_keeps_what_was_typed(client, merchant, merchant_org) -> None:
    client.force_login(merchant)
    with translation.override("en"):
        page = client.post(
            "/store/shop/new/",
            {"organization": merchant_org.pk, "name": "挂面", "kind": "goods", "price_points": "0"},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert page.status_code == 200
    body = page.content.decode()
    assert 'value="挂面"' in body and 'role="alert"' in body
    assert not Reward.objects.filter(name="挂面").exists()


def test_merchant_counts_stock_edits_and_withdraws(client, merchant, volunteer, district, reward):
    give_points(volunteer, district, 100)
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    client.force_login(merchant)
    url = f"/store/shop/{reward.pk}/"
    page = client.get(url)
    body = page.content.decode()
    assert 'id="reward-stock">3<' in body and 'id="reward-reserved">2<' in body
    assert page.context["stock_form"].initial["on_hand"] == 5

    refused = client.post(url, {"action": "stock", "on_hand": "1"})
    assert refused.status_code == 200
    assert refused.context["stock_form"].non_field_errors()
    assert 'value="1"' in refused.content.decode()  # what was typed stays
    reward.refresh_from_db()
    assert reward.stock == 3

    assert client.post(url, {"action": "stock", "on_hand": "9"}).status_code == 302
    reward.refresh_from_db()
    assert reward.stock == 7

    details = {
        "action": "details",
        "name": "大米一袋（5公斤）",
        "description": "周末到店领取",
        "kind": "goods",
        "price_points": "35",
        "valid_days": "14",
    }
    assert client.post(url, details).status_code == 302
    reward.refresh_from_db()
    assert (reward.name, reward.price_points, reward.valid_days, reward.stock) == (
        "大米一袋（5公斤）",
        35,
        14,
        7,
    )

    assert client.post(url, {"action": "withdraw"}).status_code == 302
    reward.refresh_from_db()
    assert not reward.active
    client.force_login(volunteer)
    assert "大米一袋" not in client.get("/store/").content.decode()
    client.force_login(merchant)
    assert client.post(url, {"action": "offer"}).status_code == 302
    reward.refresh_from_db()
    assert reward.active


def test_organisation_admin_and_region_admin_reach_the_pages(client, district, admin, reward):
    org = OrganizationFactory(region=district)
    org_admin = make_user(Role.ORG_ADMIN, organization=org)
    services.reward_save(
        organization=org, name="志愿者帽子", price_points=20, stock=3, actor=org_admin
    )
    client.force_login(org_admin)
    assert 'href="/store/shop/"' in client.get("/", follow=True).content.decode()
    mine = client.get("/store/shop/").content.decode()
    assert "志愿者帽子" in mine and "大米一袋" not in mine
    assert client.get(f"/store/shop/{reward.pk}/").status_code == 404
    client.force_login(admin)
    everything = client.get("/store/shop/").content.decode()
    assert "志愿者帽子" in everything and "大米一袋" in everything
    assert client.get(f"/store/shop/{reward.pk}/").status_code == 200


def test_the_list_does_not_grow_queries_with_its_length(client, merchant, merchant_org) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/store/shop/").status_code == 200
        return len(captured)

    services.reward_save(
        organization=merchant_org, name="礼品", price_points=5, stock=1, actor=merchant
    )
    client.force_login(merchant)
    client.get("/store/shop/")
    one = queries()
    for n in range(12):
        services.reward_save(
            organization=merchant_org, name=f"礼品{n}", price_points=5, stock=1, actor=merchant
        )
    assert queries() == one
