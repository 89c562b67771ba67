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
from zhiyuan.organizations.selectors import OperatePurpose, organization_can_operate
from zhiyuan.organizations.services import organization_require_operable
from zhiyuan.regions.models import Region
from zhiyuan.store.models import Reward, RewardKind, Voucher, VoucherStatus

#: Letters and digits that cannot be mistaken for one another when read out or typed.
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY346789"
CODE_LENGTH = 8


@audit_actions
class StoreAudit(models.TextChoices):
    PARTNER_ADDED = "store.partner_added", _("Partner merchant added")
    REWARD_SAVED = "store.reward_saved", _("Reward saved")
    REWARD_STOCK_SET = "store.reward_stock_set", _("Reward stock counted")
    REWARD_WITHDRAWN = "store.reward_withdrawn", _("Reward withdrawn from sale")
    REWARD_OFFERED = "store.reward_offered", _("Reward put back on sale")
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


class ShopMayNotOperate(NotOnOffer):
    """The shop (or an organisation above it) is suspended, deregistered or not verified: it
    hands out nothing in the name of volunteering, and the volunteer is told why."""

    default_code = "shop_may_not_operate"

    def __init__(self, why: str) -> None:
        LedgerRefused.__init__(
            self, _("This reward is not on offer at present: %(why)s") % {"why": why}
        )


class InvalidReward(LedgerRefused):
    default_code = "invalid_reward"

    def __init__(self) -> None:
        super().__init__(
            _(
                "A reward needs a name (at most 80 characters), a price of at least one point, "
                "a stock of zero or more and a voucher valid for 1 to 365 days."
            )
        )


class StockBelowReserved(LedgerRefused):
    default_code = "stock_below_reserved"
    status = 409

    def __init__(self, reserved: int) -> None:
        super().__init__(
            _(
                "%(reserved)d of this reward are held by vouchers not yet handed over: there "
                "must be at least that many on hand."
            )
            % {"reserved": reserved}
        )


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


def _check_reward(
    *, name: str, price_points: int, valid_days: int, kind: str, description: str
) -> None:
    numbers = (price_points, valid_days)
    if (
        any(isinstance(n, bool) or not isinstance(n, int) for n in numbers)
        or price_points <= 0
        or not 1 <= valid_days <= 365
        or not name.strip()
        or len(name.strip()) > 80
        or len(description) > 300
        or kind not in RewardKind.values
    ):
        raise InvalidReward()


def _locked_reward(reward: Reward) -> Reward:
    # Row lock on the reward (second in the store's lock order): a change waits for the
    # redemptions in flight, and redemptions after it see the new price, stock or state.
    return Reward.objects.select_for_update().select_related("organization").get(pk=reward.pk)


def reward_save(
    *,
    organization: Organization | None = None,
    name: str,
    price_points: int,
    stock: int | None = None,
    kind: RewardKind | str = RewardKind.GOODS,
    description: str = "",
    valid_days: int = 30,
    active: bool | None = None,
    reward: Reward | None = None,
    actor: User,
    http_request: HttpRequest | None = None,
) -> Reward:
    """List a new reward with its opening stock, or change one's name, description, kind,
    price or voucher validity (a new price applies to redemptions from now on; vouchers
    issued keep what was paid). The stock of a listed reward changes only through
    ``reward_stock_set``, which knows what is reserved; withdrawing from sale through
    ``reward_withdraw``.

    Listing a new reward is publishing: an organisation that may not operate now (unverified,
    suspended, banned) is refused with the reason (``OperationRefused``), checked before the
    write's transaction opens so that the refusal stays in the audit log.
    """
    owner = organization if reward is None else reward.organization
    if owner is None:
        raise ValueError("a new reward needs its organisation")
    require(actor, "store.rewards", owner, request=http_request)
    if reward is None:
        organization_require_operable(
            owner, purpose=OperatePurpose.PUBLISH, actor=actor, request=http_request
        )
    return _reward_save(
        owner=owner,
        name=name,
        price_points=price_points,
        stock=stock,
        kind=kind,
        description=description,
        valid_days=valid_days,
        active=active,
        reward=reward,
        actor=actor,
        http_request=http_request,
    )


@transaction.atomic
def _reward_save(
    *,
    owner: Organization,
    name: str,
    price_points: int,
    stock: int | None,
    kind: RewardKind | str,
    description: str,
    valid_days: int,
    active: bool | None,
    reward: Reward | None,
    actor: User,
    http_request: HttpRequest | None,
) -> Reward:
    description = description.strip()
    _check_reward(
        name=name,
        price_points=price_points,
        valid_days=valid_days,
        kind=str(kind),
        description=description,
    )
    if reward is None:
        if stock is None or isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            raise InvalidReward()
        reward = Reward(organization=owner, stock=stock, active=True if active is None else active)
        before: dict[str, Any] = {}
    else:
        if stock is not None or active is not None:
            raise ValueError("change stock with reward_stock_set, sale with reward_withdraw")
        reward = _locked_reward(reward)
        before = {
            "name": reward.name,
            "description": reward.description,
            "kind": reward.kind,
            "price": reward.price_points,
            "valid_days": reward.valid_days,
        }
    reward.name, reward.description, reward.kind = name.strip(), description, RewardKind(kind)
    reward.price_points, reward.valid_days = price_points, valid_days
    reward.save()
    after = {
        "name": reward.name,
        "description": reward.description,
        "kind": reward.kind,
        "price": reward.price_points,
        "valid_days": reward.valid_days,
    }
    detail: dict[str, Any] = {"price": price_points, "valid_days": valid_days}
    if before:
        detail["changed"] = sorted(k for k in after if after[k] != before[k])
        if before["price"] != price_points:
            detail["price_before"] = before["price"]
    else:
        detail.update(stock=reward.stock, active=reward.active, created=True)
    audit_record(
        action=StoreAudit.REWARD_SAVED,
        actor=actor,
        target=reward,
        request=http_request,
        detail=detail,
    )
    return reward


@transaction.atomic
def reward_stock_set(
    *, reward: Reward, on_hand: int, actor: User, http_request: HttpRequest | None = None
) -> Reward:
    """Record how many of a reward the shop has on hand, counting those already promised.

    ``on_hand`` includes the items held for vouchers issued but not yet handed over; what is
    left for new redemptions (``Reward.stock``) is ``on_hand`` minus those. It can never be set
    below what is reserved, so no voucher issued is left without its item. Setting the same
    count twice changes nothing, so a double tap is harmless.
    """
    require(actor, "store.rewards", reward.organization, request=http_request)
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
        raise InvalidReward()
    locked = _locked_reward(reward)
    # Under the reward's lock no redemption can issue a voucher; a voucher being returned
    # meanwhile is still counted here and gives its item back to the stock after us.
    reserved = Voucher.objects.filter(reward=locked, status=VoucherStatus.ISSUED).count()
    if on_hand < reserved:
        raise StockBelowReserved(reserved)
    before = locked.stock
    locked.stock = on_hand - reserved
    locked.save(update_fields=["stock"])
    audit_record(
        action=StoreAudit.REWARD_STOCK_SET,
        actor=actor,
        target=locked,
        request=http_request,
        detail={"on_hand": on_hand, "reserved": reserved, "before": before, "stock": locked.stock},
    )
    return locked


def _reward_on_offer(
    reward: Reward, active: bool, actor: User, http_request: HttpRequest | None
) -> Reward:
    require(actor, "store.rewards", reward.organization, request=http_request)
    locked = _locked_reward(reward)
    if locked.active != active:
        locked.active = active
        locked.save(update_fields=["active"])
        audit_record(
            action=StoreAudit.REWARD_OFFERED if active else StoreAudit.REWARD_WITHDRAWN,
            actor=actor,
            target=locked,
            request=http_request,
            detail={"stock": locked.stock},
        )
    return locked


@transaction.atomic
def reward_withdraw(
    *, reward: Reward, actor: User, http_request: HttpRequest | None = None
) -> Reward:
    """Take a reward off sale: nobody can redeem it any more. Vouchers already issued stay
    valid and the shop still hands them over (or they are refunded on cancellation or
    expiry). Withdrawing twice changes nothing."""
    return _reward_on_offer(reward, False, actor, http_request)


def reward_offer(*, reward: Reward, actor: User, http_request: HttpRequest | None = None) -> Reward:
    """Put a withdrawn reward back on sale, with the stock it has; like listing a new one,
    only while its organisation may operate (checked before the transaction opens)."""
    require(actor, "store.rewards", reward.organization, request=http_request)
    organization_require_operable(
        reward.organization, purpose=OperatePurpose.PUBLISH, actor=actor, request=http_request
    )
    with transaction.atomic():
        return _reward_on_offer(reward, True, actor, http_request)


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
    if offered is None or not offered.active:
        raise NotOnOffer()
    # A shop under a sanction (or not verified) hands out nothing in the name of volunteering.
    refusal = organization_can_operate(offered.organization, purpose=OperatePurpose.PUBLISH)
    if refusal is not None:
        raise ShopMayNotOperate(refusal.message)
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
