"""A shop's own rewards: listing, details, counting stock against what vouchers hold,
withdrawing from sale; every change audited and only by the shop's own people."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations.models import OrganizationKind, OrganizationStatus
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.store import services
from zhiyuan.store.models import Reward, Voucher, VoucherStatus

pytestmark = pytest.mark.django_db


def redeem(volunteer, reward):
    return services.store_redeem(volunteer=volunteer, reward=reward, key=new_key("redeem"))


def actions_on(reward) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(reward.pk), action__startswith="store.reward")
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_a_merchant_lists_a_reward_for_their_own_shop(merchant, merchant_org) -> None:
    reward = services.reward_save(
        organization=merchant_org, name=" 酱油 ", price_points=12, stock=9, actor=merchant
    )
    assert (reward.name, reward.stock, reward.active) == ("酱油", 9, True)
    assert actions_on(reward) == ["store.reward_saved"]


def test_stock_counts_what_vouchers_hold_and_never_goes_below(
    volunteer, district, reward, merchant
) -> None:
    give_points(volunteer, district, 100)
    redeem(volunteer, reward)
    redeem(volunteer, reward)  # two held for vouchers, three left of five
    reward.refresh_from_db()
    assert reward.stock == 3

    with pytest.raises(services.StockBelowReserved) as refused:
        services.reward_stock_set(reward=reward, on_hand=1, actor=merchant)
    assert refused.value.code == "stock_below_reserved" and refused.value.status == 409
    assert "2" in refused.value.messages[0]
    reward.refresh_from_db()
    assert reward.stock == 3  # nothing changed

    services.reward_stock_set(reward=reward, on_hand=2, actor=merchant)
    reward.refresh_from_db()
    assert reward.stock == 0  # both promised items stay promised; nothing left to sell
    with pytest.raises(services.OutOfStock):
        redeem(volunteer, reward)

    services.reward_stock_set(reward=reward, on_hand=10, actor=merchant)
    services.reward_stock_set(reward=reward, on_hand=10, actor=merchant)  # a double tap
    reward.refresh_from_db()
    assert reward.stock == 8
    event = AuditEvent.objects.filter(action="store.reward_stock_set").order_by("id").last()
    assert event.detail == {"on_hand": 10, "reserved": 2, "before": 8, "stock": 8}


def test_a_handed_over_voucher_no_longer_holds_stock(volunteer, district, reward, merchant) -> None:
    give_points(volunteer, district, 100)
    voucher = redeem(volunteer, reward)
    services.store_voucher_use(code=voucher.code, merchant=merchant)
    services.reward_stock_set(reward=reward, on_hand=0, actor=merchant)
    reward.refresh_from_db()
    assert reward.stock == 0


def test_bad_counts_are_refused(reward, merchant) -> None:
    for bad in (-1, True, "3"):
        with pytest.raises(services.InvalidReward):
            services.reward_stock_set(reward=reward, on_hand=bad, actor=merchant)
    reward.refresh_from_db()
    assert reward.stock == 5


def test_editing_details_keeps_the_stock_and_what_was_paid(
    volunteer, district, reward, merchant
) -> None:
    give_points(volunteer, district, 100)
    first = redeem(volunteer, reward)
    services.reward_save(
        reward=reward,
        name="大米两袋",
        description="东四店自提",
        kind="goods",
        price_points=45,
        actor=merchant,
    )
    reward.refresh_from_db()
    assert (reward.name, reward.description, reward.price_points, reward.stock) == (
        "大米两袋",
        "东四店自提",
        45,
        4,
    )
    second = redeem(volunteer, reward)
    assert (first.price_points, second.price_points) == (30, 45)
    event = AuditEvent.objects.filter(action="store.reward_saved").order_by("id").last()
    assert event.detail["changed"] == ["description", "name", "price"]
    assert event.detail["price_before"] == 30
    with pytest.raises(ValueError, match="reward_stock_set"):
        services.reward_save(reward=reward, name="x", price_points=1, stock=99, actor=merchant)


@pytest.mark.parametrize(
    "change",
    [
        {"name": " "},
        {"name": "长" * 81},
        {"price_points": 0},
        {"valid_days": 0},
        {"valid_days": 366},
        {"kind": "car"},
        {"description": "x" * 301},
    ],
)
def test_a_bad_reward_is_refused_with_its_message(reward, merchant, change) -> None:
    values = {"name": "大米", "price_points": 30, "valid_days": 30, "kind": "goods"} | change
    with pytest.raises(services.InvalidReward):
        services.reward_save(reward=reward, actor=merchant, **values)
    reward.refresh_from_db()
    assert (reward.name, reward.price_points) == ("大米一袋", 30)


def test_withdrawn_rewards_cannot_be_redeemed_but_issued_vouchers_stay_valid(
    volunteer, district, reward, merchant
) -> None:
    give_points(volunteer, district, 100)
    voucher = redeem(volunteer, reward)
    services.reward_withdraw(reward=reward, actor=merchant)
    services.reward_withdraw(reward=reward, actor=merchant)  # twice: one audit entry
    with pytest.raises(services.NotOnOffer):
        redeem(volunteer, reward)
    used = services.store_voucher_use(code=voucher.code, merchant=merchant)
    assert used.status == VoucherStatus.USED
    services.reward_offer(reward=reward, actor=merchant)
    assert redeem(volunteer, reward).status == VoucherStatus.ISSUED
    assert actions_on(reward) == [
        "store.reward_saved",
        "store.reward_withdrawn",
        "store.reward_offered",
    ]


def test_an_organisation_admin_manages_their_own_organisations_rewards(district) -> None:
    org = OrganizationFactory(region=district)
    org_admin = make_user(Role.ORG_ADMIN, organization=org)
    reward = services.reward_save(
        organization=org, name="志愿者帽子", price_points=20, stock=3, actor=org_admin
    )
    services.reward_stock_set(reward=reward, on_hand=7, actor=org_admin)
    assert Reward.objects.get(pk=reward.pk).stock == 7


def test_another_shop_is_refused_everything(district, reward, volunteer) -> None:
    other_shop = OrganizationFactory(region=district, kind=OrganizationKind.MERCHANT)
    other_merchant = make_user(Role.MERCHANT, organization=other_shop)
    other_org_admin = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    for outsider in (other_merchant, other_org_admin, volunteer):
        with pytest.raises(PermissionDenied):
            services.reward_stock_set(reward=reward, on_hand=0, actor=outsider)
        with pytest.raises(PermissionDenied):
            services.reward_withdraw(reward=reward, actor=outsider)
        with pytest.raises(PermissionDenied):
            services.reward_save(reward=reward, name="x", price_points=1, actor=outsider)
        with pytest.raises(PermissionDenied):
            services.reward_save(
                organization=reward.organization, name="x", price_points=1, stock=1, actor=outsider
            )
    reward.refresh_from_db()
    assert (reward.name, reward.stock, reward.active) == ("大米一袋", 5, True)
    assert Voucher.objects.count() == 0


def test_an_organisation_that_may_not_operate_cannot_put_rewards_on_sale(
    district, merchant_org, reward, merchant
) -> None:
    pending = OrganizationFactory(region=district, status=OrganizationStatus.PENDING)
    pending_admin = make_user(Role.ORG_ADMIN, organization=pending)
    with pytest.raises(OperationRefused) as refused:
        services.reward_save(
            organization=pending, name="帽子", price_points=5, stock=1, actor=pending_admin
        )
    assert refused.value.refusal.code == "unverified"
    assert not Reward.objects.filter(organization=pending).exists()
    # The refusal carries its audit entry (written once no transaction is open).
    assert refused.value.audit["detail"]["reason"] == "unverified"

    services.reward_withdraw(reward=reward, actor=merchant)
    type(merchant_org).objects.filter(pk=merchant_org.pk).update(
        status=OrganizationStatus.SUSPENDED
    )
    reward.refresh_from_db()
    with pytest.raises(OperationRefused):
        services.reward_offer(reward=reward, actor=merchant)
    reward.refresh_from_db()
    assert not reward.active
    # Counting and withdrawing stay possible: they only make the shop's promises safer.
    services.reward_stock_set(reward=reward, on_hand=2, actor=merchant)
