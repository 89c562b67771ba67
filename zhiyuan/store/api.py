"""Rewards store API: rewards on offer, redeeming (idempotent), vouchers, and the merchant's
check and hand-over."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ErrorOut
from zhiyuan.core.permissions import require
from zhiyuan.ledger.api import KEY, WRITE_ERRORS, refusals
from zhiyuan.ledger.selectors import balances_of
from zhiyuan.ledger.views import member_region
from zhiyuan.store import selectors, services
from zhiyuan.store.models import Reward, Voucher

router = Router(tags=["store"])


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
