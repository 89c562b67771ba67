"""Every write of the rewards store: partners and rewards, redeeming, using and refunding
vouchers.

Lock order, the same on every path so that no two writers deadlock: the voucher, then the
reward, then the ledger accounts (ascending pk).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import User
from zhiyuan.core.audit import audit_actions, audit_record
from zhiyuan.core.permissions import has_perm, require
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.ledger.models import Asset, Transaction, TransactionKind
from zhiyuan.ledger.services import (
    Leg,
    book,
    check_key,
    ledger_reverse,
    ledger_service,
    lock_accounts,
    replay,
    store_account,
    user_account,
)
from zhiyuan.organizations.models import Organization, OrganizationKind, OrganizationStatus
from zhiyuan.regions.models import Region
from zhiyuan.store.models import Reward, RewardKind, Voucher, VoucherStatus

#: Letters and digits that cannot be mistaken for one another when read out or typed.
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY346789"
CODE_LENGTH = 8


@audit_actions
class StoreAudit(models.TextChoices):
    PARTNER_ADDED = "store.partner_added", _("Partner merchant added")
    REWARD_SAVED = "store.reward_saved", _("Reward saved")
    VOUCHER_USED = "store.voucher_used", _("Voucher used")
    VOUCHER_CANCELLED = "store.voucher_cancelled", _("Voucher cancelled and refunded")
    VOUCHER_EXPIRED = "store.voucher_expired", _("Voucher expired and refunded")


class OutOfStock(LedgerRefused):
    default_code = "out_of_stock"
    status = 409

    def __init__(self) -> None:
        super().__init__(_("This reward is out of stock."))


class NotOnOffer(LedgerRefused):
    default_code = "not_on_offer"
    status = 409

    def __init__(self) -> None:
        super().__init__(_("This reward is not on offer any more."))


class VoucherUnknown(LedgerRefused):
    default_code = "voucher_unknown"
    status = 404

    def __init__(self) -> None:
        super().__init__(_("No voucher of this shop has this code. Check the code and try again."))


class VoucherUsed(LedgerRefused):
    default_code = "voucher_used"
    status = 409

    def __init__(self, used_at: dt.datetime | None) -> None:
        when = timezone.localtime(used_at).strftime("%Y-%m-%d %H:%M") if used_at else ""
        super().__init__(
            _("This voucher was already used (%(when)s). Do not hand the reward over again.")
            % {"when": when}
        )


class VoucherReturned(LedgerRefused):
    default_code = "voucher_returned"
    status = 409

    def __init__(self) -> None:
        super().__init__(_("This voucher was cancelled or has expired; its points were returned."))


class VoucherExpired(LedgerRefused):
    default_code = "voucher_expired"
    status = 409

    def __init__(self) -> None:
        super().__init__(_("This voucher has expired. Its points go back to the holder."))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transaction.atomic
def store_partner_add(
    *, name: str, region: Region, actor: User, http_request: HttpRequest | None = None
) -> Organization:
    """Register a partner merchant of the region's rewards store (verified by the admin)."""
    require(actor, "store.partners", region, request=http_request)
    name = name.strip()
    if not name:
        raise LedgerRefused(_("Give the merchant's name."), code="name_missing")
    partner = Organization.objects.create(
        name=name, kind=OrganizationKind.MERCHANT, region=region, status=OrganizationStatus.VERIFIED
    )
    audit_record(
        action=StoreAudit.PARTNER_ADDED,
        actor=actor,
        target=partner,
        request=http_request,
        detail={"region": region.pk},
    )
    return partner


@transaction.atomic
def reward_save(
    *,
    organization: Organization,
    name: str,
    price_points: int,
    stock: int,
    kind: RewardKind = RewardKind.GOODS,
    description: str = "",
    valid_days: int = 30,
    active: bool = True,
    reward: Reward | None = None,
    actor: User,
    http_request: HttpRequest | None = None,
) -> Reward:
    """List a reward, or change one (its price applies to redemptions from now on)."""
    require(actor, "store.rewards", organization, request=http_request)
    if price_points <= 0 or stock < 0 or valid_days <= 0 or not name.strip():
        raise LedgerRefused(
            _("A reward needs a name, a price of at least one point and a stock of zero or more."),
            code="invalid_reward",
        )
    if reward is None:
        reward = Reward(organization=organization)
    else:
        # Row lock on the reward: a stock change waits for redemptions in flight.
        reward = Reward.objects.select_for_update().get(pk=reward.pk, organization=organization)
    reward.name, reward.description, reward.kind = name.strip(), description, RewardKind(kind)
    reward.price_points, reward.stock, reward.valid_days = price_points, stock, valid_days
    reward.active = active
    reward.save()
    audit_record(
        action=StoreAudit.REWARD_SAVED,
        actor=actor,
        target=reward,
        request=http_request,
        detail={"price": price_points, "stock": stock, "active": active},
    )
    return reward


@ledger_service
def store_redeem(
    *, volunteer: User, reward: Reward | int, key: str, http_request: HttpRequest | None = None
) -> Voucher:
    """Redeem a reward: the price moves to the store's account and a voucher is issued.

    Exactly once per ``key``: a retry returns the same voucher.
    """
    check_key(key)
    reward_id = reward if isinstance(reward, int) else reward.pk
    request = {"op": "redeem", "volunteer": volunteer.pk, "reward": reward_id}
    if (done := replay(key, request)) is not None:
        return Voucher.objects.select_related("reward").get(redemption=done)
    # Row lock on the reward, taken before the accounts: serialises the stock check, so the
    # last item is sold once, and orders this writer like every other store writer.
    offered = (
        Reward.objects.select_for_update()
        .select_related("organization")
        .filter(pk=reward_id)
        .first()
    )
    if offered is None or not offered.active or not offered.organization.is_verified:
        raise NotOnOffer()
    if offered.stock <= 0:
        raise OutOfStock()
    own = user_account(volunteer, Asset.POINTS)
    store = store_account(offered.organization_id)
    locked = lock_accounts([own, store])
    issued: list[Voucher] = []

    def issue(tx: Transaction) -> None:
        Reward.objects.filter(pk=offered.pk).update(stock=F("stock") - 1)
        now = timezone.now()
        issued.append(
            Voucher.objects.create(
                code=_new_code(),
                reward=offered,
                holder=volunteer,
                price_points=offered.price_points,
                issued_at=now,
                expires_at=now + dt.timedelta(days=offered.valid_days),
                redemption=tx,
            )
        )

    book(
        kind=TransactionKind.REDEMPTION,
        key=key,
        request=request,
        legs=[Leg(own, store, offered.price_points, f"reward:{offered.pk}")],
        locked=locked,
        region_id=offered.organization.region_id,
        organization_id=offered.organization_id,
        actor=volunteer,
        http_request=http_request,
        audit_detail={"reward": offered.pk},
        then=issue,
    )
    voucher = issued[0]
    transaction.on_commit(lambda: _schedule_expiry(voucher))
    return voucher


def _schedule_expiry(voucher: Voucher) -> None:
    from zhiyuan.store.tasks import store_voucher_expire

    store_voucher_expire.using(run_after=voucher.expires_at).enqueue(voucher.pk)


def store_voucher_find(*, code: str, merchant: User) -> Voucher:
    """The voucher with ``code`` if it was issued by a shop this merchant acts for."""
    require(merchant, "store.vouchers")
    voucher = (
        Voucher.objects.select_related("reward__organization", "holder")
        .filter(code=normalise_code(code))
        .first()
    )
    # Another shop's voucher looks like no voucher: codes are not for others to probe.
    if voucher is None or not has_perm(merchant, "store.vouchers", voucher.reward.organization):
        raise VoucherUnknown()
    return voucher


@transaction.atomic
def store_voucher_use(
    *, code: str, merchant: User, http_request: HttpRequest | None = None
) -> Voucher:
    """Hand the reward over: the voucher is used, once. The points stay with the store."""
    found = store_voucher_find(code=code, merchant=merchant)
    # Row lock on the voucher: the same code scanned on two phones at once is used once.
    voucher = Voucher.objects.select_for_update().select_related("reward").get(pk=found.pk)
    if voucher.status == VoucherStatus.USED:
        raise VoucherUsed(voucher.used_at)
    if voucher.status != VoucherStatus.ISSUED:
        raise VoucherReturned()
    if voucher.expires_at <= timezone.now():
        raise VoucherExpired()
    voucher.status, voucher.used_at, voucher.used_by = VoucherStatus.USED, timezone.now(), merchant
    voucher.save(update_fields=["status", "used_at", "used_by"])
    audit_record(
        action=StoreAudit.VOUCHER_USED,
        actor=merchant,
        target=voucher,
        request=http_request,
        detail={"reward": voucher.reward_id},
    )
    return voucher


@ledger_service
def store_voucher_return(
    *,
    voucher: Voucher,
    actor: Any = None,
    expired: bool = False,
    now: dt.datetime | None = None,
    http_request: HttpRequest | None = None,
) -> Voucher:
    """Cancel an unused voucher (or expire it): the redemption is reversed, the stock restored.

    Only the holder cancels; the expiry task expires. Returning twice changes nothing.
    """
    if not expired and (actor is None or actor.pk != voucher.holder_id):
        raise PermissionDenied(_("Only the holder can cancel this voucher."))
    # Row locks: the voucher first (a scan racing a cancellation: one of them wins), then the
    # reward (its stock), then — inside ledger_reverse — the accounts.
    locked = Voucher.objects.select_for_update().get(pk=voucher.pk)
    target = VoucherStatus.EXPIRED if expired else VoucherStatus.CANCELLED
    if locked.status in (VoucherStatus.CANCELLED, VoucherStatus.EXPIRED):
        return locked
    if locked.status == VoucherStatus.USED:
        raise VoucherUsed(locked.used_at)
    if expired and locked.expires_at > (now or timezone.now()):
        return locked  # not due yet
    # The UPDATE locks the reward row (second in the order) while the stock is restored.
    Reward.objects.filter(pk=locked.reward_id).update(stock=F("stock") + 1)
    refund = ledger_reverse(
        original=locked.redemption,
        key=f"refund:{locked.code}",
        actor=actor,
        memo="expired" if expired else "cancelled",
        http_request=http_request,
    )
    locked.status, locked.refund = target, refund
    locked.save(update_fields=["status", "refund"])
    audit_record(
        action=StoreAudit.VOUCHER_EXPIRED if expired else StoreAudit.VOUCHER_CANCELLED,
        actor=actor,
        target=locked,
        request=http_request,
        detail={"refund": refund.pk},
    )
    return locked


def store_expire_due(now: dt.datetime | None = None) -> int:
    """Expire (and refund) every issued voucher past its date; the number expired."""
    now = now or timezone.now()
    due = list(
        Voucher.objects.filter(status=VoucherStatus.ISSUED, expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    expired = 0
    for pk in due:
        voucher = store_voucher_return(voucher=Voucher.objects.get(pk=pk), expired=True, now=now)
        expired += voucher.status == VoucherStatus.EXPIRED
    return expired
