"""The rewards store: redeeming, handing over, cancelling and expiring vouchers."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone, translation

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import balance, give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import errors
from zhiyuan.ledger.models import Account, TransactionKind
from zhiyuan.organizations.models import OrganizationKind
from zhiyuan.store import services
from zhiyuan.store.models import Reward, VoucherStatus
from zhiyuan.store.tasks import store_voucher_expire

pytestmark = pytest.mark.django_db


def store_balance(org) -> int:
    account = Account.objects.filter(kind="store", organization=org).first()
    return account.balance if account else 0


def test_redeem_moves_points_to_the_store_and_issues_a_voucher(
    volunteer, district, reward, merchant_org
) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    assert voucher.status == VoucherStatus.ISSUED
    assert len(voucher.code) == 8 and set(voucher.code) <= set(services.CODE_ALPHABET)
    assert voucher.redemption.kind == TransactionKind.REDEMPTION
    assert balance(volunteer) == 70 and store_balance(merchant_org) == 30
    reward.refresh_from_db()
    assert reward.stock == 4


def test_a_retried_redemption_returns_the_same_voucher(volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    key = new_key()
    first = services.store_redeem(volunteer=volunteer, reward=reward, key=key)
    again = services.store_redeem(volunteer=volunteer, reward=reward, key=key)
    assert again == first and balance(volunteer) == 70
    other = Reward.objects.create(
        organization=reward.organization, name="油", kind="goods", price_points=5, stock=1
    )
    with pytest.raises(errors.IdempotencyConflict):
        services.store_redeem(volunteer=volunteer, reward=other, key=key)


def test_out_of_stock_and_not_enough_points(volunteer, district, reward) -> None:
    give_points(volunteer, district, 40)
    Reward.objects.filter(pk=reward.pk).update(stock=0)
    with translation.override("en"), pytest.raises(services.OutOfStock, match="out of stock"):
        services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    Reward.objects.filter(pk=reward.pk).update(stock=3)
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    with translation.override("en"), pytest.raises(errors.Overdrawn, match="10 available"):
        services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    reward.refresh_from_db()
    assert (reward.stock, balance(volunteer)) == (2, 10)


def test_a_voucher_is_used_once(volunteer, district, reward, merchant) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    used = services.store_voucher_use(code=voucher.code.lower(), merchant=merchant)
    assert used.status == VoucherStatus.USED and used.used_by == merchant
    with translation.override("en"), pytest.raises(services.VoucherUsed, match="already used"):
        services.store_voucher_use(code=voucher.code, merchant=merchant)
    with pytest.raises(services.VoucherUsed):  # and a used voucher cannot be cancelled
        services.store_voucher_return(voucher=voucher, actor=volunteer)
    assert balance(volunteer) == 70


def test_another_shops_merchant_sees_no_such_voucher(volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    other_shop = OrganizationFactory(region=district, kind=OrganizationKind.MERCHANT)
    stranger = make_user(Role.MERCHANT, organization=other_shop)
    with translation.override("en"), pytest.raises(services.VoucherUnknown, match="No voucher"):
        services.store_voucher_use(code=voucher.code, merchant=stranger)
    with pytest.raises(PermissionDenied):
        services.store_voucher_use(code=voucher.code, merchant=volunteer)


def test_cancelling_refunds_by_reversal_and_restocks(volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    with pytest.raises(PermissionDenied):
        services.store_voucher_return(
            voucher=voucher, actor=make_user(Role.VOLUNTEER, region=district)
        )
    returned = services.store_voucher_return(voucher=voucher, actor=volunteer)
    services.store_voucher_return(voucher=voucher, actor=volunteer)  # twice: nothing more
    assert returned.status == VoucherStatus.CANCELLED
    assert returned.refund.reverses == voucher.redemption
    assert balance(volunteer) == 100
    reward.refresh_from_db()
    assert reward.stock == 5


def test_an_expired_voucher_is_refunded_by_its_task(volunteer, district, reward, merchant) -> None:
    give_points(volunteer, district, 100)
    voucher = services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    assert store_voucher_expire.call(voucher.pk) == VoucherStatus.ISSUED  # not due yet
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        with pytest.raises(services.VoucherExpired):
            services.store_voucher_use(code=voucher.code, merchant=merchant)
        assert store_voucher_expire.call(voucher.pk) == VoucherStatus.EXPIRED
        with translation.override("en"), pytest.raises(services.VoucherReturned):
            services.store_voucher_use(code=voucher.code, merchant=merchant)
    assert balance(volunteer) == 100


def test_the_sweep_expires_whatever_is_due(volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    assert services.store_expire_due() == 0
    assert services.store_expire_due(timezone.now() + dt.timedelta(days=31)) == 2
    assert balance(volunteer) == 100


def test_a_shop_under_a_suspended_parent_hands_out_nothing(
    volunteer, district, reward, merchant_org
) -> None:
    """Suspending an organisation stops its teams and shops too (its own status stays
    "verified"): redeeming asks the same question as publishing."""
    from zhiyuan.safeguards.services import sanction_impose

    parent = OrganizationFactory(region=district, name="某商会")
    type(merchant_org).objects.filter(pk=merchant_org.pk).update(parent=parent)
    give_points(volunteer, district, 100)
    sanction_impose(
        party=parent,
        kind="suspension",
        reason="以志愿服务名义营利",
        ends_at=timezone.now() + dt.timedelta(days=30),
        actor=make_user(Role.REGION_ADMIN, region=district),
    )
    merchant_org.refresh_from_db()
    assert merchant_org.is_verified
    with translation.override("en"), pytest.raises(services.NotOnOffer, match="not on offer"):
        services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())
    reward.refresh_from_db()
    assert reward.stock == 5 and balance(volunteer) == 100 and store_balance(merchant_org) == 0
