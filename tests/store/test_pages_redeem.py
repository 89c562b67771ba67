"""Redeeming from the phone: the store lists rewards, each opens a confirmation (the reward,
its shop, the price, the balance now and after) and only its POST books, once per key. A shop
under a safeguards sanction hands out nothing: the list and the confirmation say why, and the
service refuses with that reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone, translation

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import balance, give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.store import services
from zhiyuan.store.models import Voucher

pytestmark = pytest.mark.django_db


def url(reward) -> str:
    return f"/store/rewards/{reward.pk}/redeem/"


def test_the_confirmation_shows_what_is_spent_and_only_its_post_books(
    client: Client, volunteer, district, reward
) -> None:
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    listing = client.get("/store/").content.decode()
    # The list links to the confirmation; it has no button that books at once.
    assert f'href="{url(reward)}"' in listing and 'name="reward"' not in listing
    confirm = client.get(url(reward))
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert "大米一袋" in page and "爱心超市一号店" in page
    assert 'id="redeem-price">30 积分<' in page
    assert 'id="redeem-balance">100<' in page and 'id="redeem-after">70<' in page
    assert Voucher.objects.count() == 0 and balance(volunteer) == 100
    key = confirm.context["form"].initial["key"]
    first = client.post(url(reward), {"key": key, "reward": reward.pk})
    again = client.post(url(reward), {"key": key, "reward": reward.pk})  # a double tap
    voucher = Voucher.objects.get()
    assert first.url == again.url == f"/store/vouchers/{voucher.code}/"
    assert balance(volunteer) == 70
    with translation.override("en"):
        english = client.get(url(reward), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Your points after" in english and 'id="redeem-after">40<' in english


def test_not_enough_points_says_how_many_are_missing_and_offers_no_button(
    client: Client, volunteer, district, reward
) -> None:
    give_points(volunteer, district, 12)
    client.force_login(volunteer)
    page = client.get(url(reward)).content.decode()
    assert "兑换该礼品还差 18 积分。" in page and 'name="key"' not in page
    # Sent anyway, the ledger refuses and nothing is booked.
    refused = client.post(url(reward), {"key": new_key(), "reward": reward.pk})
    assert refused.status_code == 200 and "账户余额不足" in refused.content.decode()
    assert Voucher.objects.count() == 0 and balance(volunteer) == 12


def suspend(party, district) -> None:
    from zhiyuan.safeguards.services import sanction_impose

    sanction_impose(
        party=party,
        kind="suspension",
        reason="以志愿服务名义营利",
        ends_at=timezone.now() + dt.timedelta(days=30),
        actor=make_user(Role.REGION_ADMIN, region=district),
    )


def test_a_suspended_shops_rewards_cannot_be_redeemed_and_the_volunteer_is_told_why(
    client: Client, volunteer, district, reward, merchant_org
) -> None:
    give_points(volunteer, district, 100)
    suspend(merchant_org, district)
    with translation.override("en"), pytest.raises(services.ShopMayNotOperate) as refused:
        services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    message = refused.value.messages[0]
    assert message.startswith("This reward is not on offer at present: 爱心超市一号店 is suspended")
    assert refused.value.code == "shop_may_not_operate"
    # Its own status is "suspended" now: the store no longer lists it at all.
    client.force_login(volunteer)
    assert "大米一袋" not in client.get("/store/").content.decode()
    assert client.get(url(reward)).status_code == 404
    reward.refresh_from_db()
    assert reward.stock == 5 and balance(volunteer) == 100 and not Voucher.objects.exists()


def test_under_a_suspended_parent_the_list_and_the_confirmation_say_why(
    client: Client, volunteer, district, reward, merchant_org
) -> None:
    """Suspending an organisation stops the shops below it, whose own status stays
    "verified": the reward is still listed, marked, with the reason."""
    give_points(volunteer, district, 100)
    parent = OrganizationFactory(region=district, name="某商会")
    type(merchant_org).objects.filter(pk=merchant_org.pk).update(parent=parent)
    suspend(parent, district)
    client.force_login(volunteer)
    listing = client.get("/store/").content.decode()
    assert "大米一袋" in listing and "暂不可兑换" in listing and "某商会被暂停至" in listing
    assert f'href="{url(reward)}"' not in listing
    page = client.get(url(reward)).content.decode()
    assert 'id="redeem-refused"' in page and "某商会被暂停至" in page and 'name="key"' not in page
    posted = client.post(url(reward), {"key": new_key(), "reward": reward.pk})
    assert posted.status_code == 200 and "该礼品目前不可兑换" in posted.content.decode()
    assert posted.content.decode().count("某商会被暂停至") == 1  # said once, not twice
    reward.refresh_from_db()
    assert reward.stock == 5 and balance(volunteer) == 100 and not Voucher.objects.exists()


def test_the_api_names_the_sanction_too(client: Client, volunteer, district, reward, merchant_org):
    give_points(volunteer, district, 100)
    parent = OrganizationFactory(region=district, name="某商会")
    type(merchant_org).objects.filter(pk=merchant_org.pk).update(parent=parent)
    suspend(parent, district)
    client.force_login(volunteer)
    response = client.post(
        "/api/v1/store/redemptions",
        {"reward_id": reward.pk, "idempotency_key": new_key()},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "shop_may_not_operate"
    assert "某商会 is suspended until" in response.json()["message"]


def test_outsiders_cannot_open_the_confirmation(
    client: Client, volunteer, district, other_district, reward, merchant
) -> None:
    far = make_user(Role.VOLUNTEER, region=other_district)
    client.force_login(far)
    assert client.get(url(reward)).status_code == 404  # not offered in their district
    assert client.post(url(reward), {"key": new_key(), "reward": reward.pk}).status_code == 404
    for outsider in (merchant, make_user(Role.REGION_ADMIN, region=district)):
        client.force_login(outsider)
        assert client.get(url(reward)).status_code == 403
    client.logout()
    assert client.get(url(reward)).status_code == 302
    assert not Voucher.objects.exists()


def test_the_voucher_code_label_takes_each_languages_colon(
    client: Client, volunteer, district, reward
) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    client.force_login(volunteer)
    chinese = client.get(f"/store/vouchers/{voucher.code}/").content.decode()
    assert "兑换码： <strong" in chinese and "兑换码: " not in chinese
    with translation.override("en"):
        english = client.get(
            f"/store/vouchers/{voucher.code}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert "Voucher code: <strong" in english


def test_a_confirmation_sent_for_another_reward_books_nothing_and_says_so(
    client: Client, volunteer, district, reward
) -> None:
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    posted = client.post(url(reward), {"key": new_key(), "reward": reward.pk + 1000})
    page = posted.content.decode()
    assert posted.status_code == 200
    assert "这份确认是针对另一件礼品的：请核对本礼品后再确认。" in page
    assert balance(volunteer) == 100 and not Voucher.objects.exists()
    # The page offers this reward's own confirmation afresh, and that one books.
    fresh = posted.context["form"]
    assert fresh.initial["reward"] == reward.pk and not fresh.is_bound
    booked = client.post(url(reward), {"key": fresh.initial["key"], "reward": reward.pk})
    assert booked.status_code == 302 and balance(volunteer) == 70
