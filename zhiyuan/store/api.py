"""Rewards store API: rewards on offer, redeeming (idempotent), vouchers, and the merchant's
check and hand-over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar, cast

from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.ledger.api import KEY, WRITE_ERRORS, refusals
from zhiyuan.ledger.selectors import balances_of
from zhiyuan.ledger.views import admin_region, member_region
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.store import selectors, services
from zhiyuan.store.models import Reward, RewardKind, Voucher, VoucherStatus

router = Router(tags=["store"])
T = TypeVar("T")


class RewardOut(Schema):
    id: int
    name: str
    kind: str
    organization: str
    price_points: int
    stock: int


class VoucherOut(Schema):
    code: str
    reward_id: int
    reward: str
    status: str
    price_points: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    transaction_id: int
    points_left: int | None = None


def _voucher_out(v: Voucher, points_left: int | None = None) -> VoucherOut:
    return VoucherOut(
        code=v.code,
        reward_id=v.reward_id,
        reward=v.reward.name,
        status=v.status,
        price_points=v.price_points,
        issued_at=v.issued_at,
        expires_at=v.expires_at,
        used_at=v.used_at,
        transaction_id=v.redemption_id,
        points_left=points_left,
    )


@router.get("/rewards", response={200: list[RewardOut], 403: ErrorOut})
def rewards(request: HttpRequest) -> list[RewardOut]:
    require(request.user, "store.redeem", request=request)
    return [
        RewardOut(
            id=r.pk,
            name=r.name,
            kind=r.kind,
            organization=r.organization.name,
            price_points=r.price_points,
            stock=r.stock,
        )
        for r in selectors.rewards_for(member_region(request.user))[:200]
    ]


class RedeemIn(Schema):
    reward_id: int
    idempotency_key: str = KEY


@router.post("/redemptions", response={201: VoucherOut, **WRITE_ERRORS})
def redeem(request: HttpRequest, payload: RedeemIn) -> Status[VoucherOut]:
    """Redeem a reward for points. The same key sent again returns the same voucher."""
    require(request.user, "store.redeem", request=request)
    user = cast(User, request.user)
    get_object_or_404(Reward, pk=payload.reward_id)
    voucher = refusals(
        lambda: services.store_redeem(
            volunteer=user,
            reward=payload.reward_id,
            key=payload.idempotency_key,
            http_request=request,
        )
    )
    return Status(201, _voucher_out(voucher, balances_of(user)["points"]))


@router.get("/vouchers", response={200: list[VoucherOut], 403: ErrorOut})
def vouchers(request: HttpRequest) -> list[VoucherOut]:
    require(request.user, "store.redeem", request=request)
    return [_voucher_out(v) for v in selectors.vouchers_of(cast(User, request.user))]


@router.post("/vouchers/{code}/cancel", response={200: VoucherOut, **WRITE_ERRORS})
def voucher_cancel(request: HttpRequest, code: str) -> VoucherOut:
    """Cancel an unused voucher: its points come back by reversal."""
    require(request.user, "store.redeem", request=request)
    voucher = get_object_or_404(
        Voucher.objects.select_related("reward"),
        code=services.normalise_code(code),
        holder=request.user,
    )
    returned = refusals(
        lambda: services.store_voucher_return(
            voucher=voucher, actor=request.user, http_request=request
        )
    )
    return _voucher_out(returned)


@router.get("/merchant/vouchers/{code}", response={200: VoucherOut, 403: ErrorOut, 404: ErrorOut})
def merchant_voucher(request: HttpRequest, code: str) -> VoucherOut:
    """What a scanned code is for (a merchant sees only their own shop's vouchers)."""
    voucher = refusals(
        lambda: services.store_voucher_find(code=code, merchant=cast(User, request.user))
    )
    return _voucher_out(voucher)


@router.post("/merchant/vouchers/{code}/use", response={200: VoucherOut, **WRITE_ERRORS})
def merchant_use(request: HttpRequest, code: str) -> VoucherOut:
    """Confirm the hand-over. A voucher is used once; the second attempt gets 409."""
    voucher = refusals(
        lambda: services.store_voucher_use(
            code=code, merchant=cast(User, request.user), http_request=request
        )
    )
    return _voucher_out(voucher)


# --- a merchant's (or organisation's) own rewards ----------------------------------------------


class ShopRewardOut(Schema):
    id: int
    organization_id: int
    organization: str
    name: str
    description: str
    kind: str
    price_points: int
    valid_days: int
    active: bool
    stock: int = Field(description="left for new redemptions")
    reserved: int = Field(description="held by vouchers issued and not yet handed over")
    on_hand: int = Field(description="stock + reserved: what the shop should have")


def _shop_reward_out(r: Reward) -> ShopRewardOut:
    reserved = getattr(r, "reserved", None)
    if reserved is None:
        reserved = r.vouchers.filter(status=VoucherStatus.ISSUED).count()
    return ShopRewardOut(
        id=r.pk,
        organization_id=r.organization_id,
        organization=r.organization.name,
        name=r.name,
        description=r.description,
        kind=r.kind,
        price_points=r.price_points,
        valid_days=r.valid_days,
        active=r.active,
        stock=r.stock,
        reserved=reserved,
        on_hand=r.stock + reserved,
    )


def operable(call: Callable[[], T]) -> T:
    """Run a store service; an organisation that may not operate now answers 403 with the
    reason's own code (``organization_suspended``…), other refusals as ``refusals`` does."""
    try:
        return refusals(call)
    except OperationRefused as exc:
        raise ApiError(403, f"organization_{exc.refusal.code}", exc.refusal.message) from exc


def _managed(request: HttpRequest, reward_id: int) -> Reward:
    require(request.user, "store.rewards", request=request)
    # Another shop's reward answers 404, like one that does not exist.
    return get_object_or_404(selectors.rewards_managed_by(cast(User, request.user)), pk=reward_id)


@router.get("/merchant/rewards", response={200: list[ShopRewardOut], 403: ErrorOut})
def shop_rewards(request: HttpRequest) -> list[ShopRewardOut]:
    """The rewards of the shops the caller manages (merchant, organisation or region admin)."""
    require(request.user, "store.rewards", request=request)
    return [
        _shop_reward_out(r) for r in selectors.rewards_managed_by(cast(User, request.user))[:500]
    ]


class RewardIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    description: str = Field("", max_length=300)
    kind: RewardKind = RewardKind.GOODS
    price_points: int
    valid_days: int = 30


class RewardNewIn(RewardIn):
    organization_id: int
    stock: int


@router.post("/merchant/rewards", response={201: ShopRewardOut, **WRITE_ERRORS})
def shop_reward_create(request: HttpRequest, payload: RewardNewIn) -> Status[ShopRewardOut]:
    """List a new reward with its opening stock, for one of the caller's shops."""
    require(request.user, "store.rewards", request=request)
    user = cast(User, request.user)
    shop = get_object_or_404(selectors.shops_managed_by(user), pk=payload.organization_id)
    reward = operable(
        lambda: services.reward_save(
            organization=shop,
            name=payload.name,
            description=payload.description,
            kind=payload.kind,
            price_points=payload.price_points,
            stock=payload.stock,
            valid_days=payload.valid_days,
            actor=user,
            http_request=request,
        )
    )
    return Status(201, _shop_reward_out(reward))


@router.put("/merchant/rewards/{reward_id}", response={200: ShopRewardOut, **WRITE_ERRORS})
def shop_reward_update(request: HttpRequest, reward_id: int, payload: RewardIn) -> ShopRewardOut:
    """Change a reward's name, description, kind, price or voucher validity."""
    reward = _managed(request, reward_id)
    saved = refusals(
        lambda: services.reward_save(
            reward=reward,
            name=payload.name,
            description=payload.description,
            kind=payload.kind,
            price_points=payload.price_points,
            valid_days=payload.valid_days,
            actor=cast(User, request.user),
            http_request=request,
        )
    )
    return _shop_reward_out(saved)


class StockIn(Schema):
    on_hand: int = Field(description="what the shop has, counting items held for vouchers")


@router.put("/merchant/rewards/{reward_id}/stock", response={200: ShopRewardOut, **WRITE_ERRORS})
def shop_reward_stock(request: HttpRequest, reward_id: int, payload: StockIn) -> ShopRewardOut:
    """Count the stock. Refused (409 ``stock_below_reserved``) below what vouchers hold."""
    reward = _managed(request, reward_id)
    saved = refusals(
        lambda: services.reward_stock_set(
            reward=reward,
            on_hand=payload.on_hand,
            actor=cast(User, request.user),
            http_request=request,
        )
    )
    return _shop_reward_out(saved)


@router.post(
    "/merchant/rewards/{reward_id}/withdraw", response={200: ShopRewardOut, **WRITE_ERRORS}
)
def shop_reward_withdraw(request: HttpRequest, reward_id: int) -> ShopRewardOut:
    """Take a reward off sale; vouchers already issued stay valid."""
    reward = _managed(request, reward_id)
    saved = refusals(
        lambda: services.reward_withdraw(
            reward=reward, actor=cast(User, request.user), http_request=request
        )
    )
    return _shop_reward_out(saved)


@router.post("/merchant/rewards/{reward_id}/offer", response={200: ShopRewardOut, **WRITE_ERRORS})
def shop_reward_offer(request: HttpRequest, reward_id: int) -> ShopRewardOut:
    """Put a withdrawn reward back on sale."""
    reward = _managed(request, reward_id)
    saved = operable(
        lambda: services.reward_offer(
            reward=reward, actor=cast(User, request.user), http_request=request
        )
    )
    return _shop_reward_out(saved)


# --- the region's partner merchants -------------------------------------------------------------


class PartnerOut(Schema):
    id: int
    name: str
    region: str
    status: str
    rewards_on_offer: int


class PartnerIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)


@router.get("/partners", response={200: list[PartnerOut], 403: ErrorOut})
def partners(request: HttpRequest) -> list[PartnerOut]:
    """The partner merchants of the administrator's regions."""
    require(request.user, "store.partners", request=request)
    rows = selectors.partners_in(region_scopes(request.user, "store.partners")).annotate(
        on_offer=Count("rewards", filter=Q(rewards__active=True))
    )
    return [
        PartnerOut(
            id=p.pk, name=p.name, region=p.region_id, status=p.status, rewards_on_offer=p.on_offer
        )
        for p in rows[:500]
    ]


@router.post("/partners", response={201: PartnerOut, **WRITE_ERRORS})
def partner_add(request: HttpRequest, payload: PartnerIn) -> Status[PartnerOut]:
    """Register a partner merchant in the administrator's region (verified at once)."""
    require(request.user, "store.partners", request=request)
    region = admin_region(request.user, "store.partners")
    partner = refusals(
        lambda: services.store_partner_add(
            name=payload.name, region=region, actor=cast(User, request.user), http_request=request
        )
    )
    return Status(
        201,
        PartnerOut(
            id=partner.pk,
            name=partner.name,
            region=partner.region_id,
            status=partner.status,
            rewards_on_offer=0,
        ),
    )
