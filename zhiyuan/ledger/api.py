"""Ledger API: a member's balances, history and statements, the time bank, and the region's
rules, fund and report. Every write takes an ``idempotency_key``: send the same request twice
and it is booked once; send a different request under a used key and it is refused (409)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.ledger import selectors, services
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.ledger.models import Asset, Elder, Relative
from zhiyuan.ledger.views import admin_region, member_region

router = Router(tags=["ledger"])
T = TypeVar("T")

KEY = Field(..., min_length=8, max_length=100, description="unique per request; reuse to retry")
WRITE_ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def refusals(call: Callable[[], T]) -> T:
    """Run a service; a refusal becomes ``{"code", "message"}`` with its own status."""
    try:
        return call()
    except LedgerRefused as exc:
        raise ApiError(exc.status, exc.code, str(exc.messages[0])) from exc


class BalancesOut(Schema):
    points: int
    time_minutes: int


class MovementOut(Schema):
    at: dt.datetime
    kind: str
    asset: str
    amount: int
    source: str
    transaction_id: int


class BookedOut(Schema):
    transaction_id: int
    kind: str
    balance: int = Field(description="the member's balance in the asset after the booking")


def _booked(user: User, tx: Any, asset: Asset) -> BookedOut:
    return BookedOut(
        transaction_id=tx.pk, kind=tx.kind, balance=selectors.balances_of(user)[asset.value]
    )


@router.get("/balances", response={200: BalancesOut, 403: ErrorOut})
def balances(request: HttpRequest, at: dt.datetime | None = None) -> BalancesOut:
    """The member's balances now, or as they stood at ``at`` (replayed from the postings)."""
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    if at is None:
        return BalancesOut(**selectors.balances_of(user))
    values = {}
    for asset in Asset:
        account = selectors.account_of(user, asset)
        values[asset.value] = selectors.balance_as_of(account, at) if account else 0
    return BalancesOut(**values)


@router.get("/history", response={200: list[MovementOut], 403: ErrorOut})
def history(request: HttpRequest, limit: int = 20) -> list[MovementOut]:
    require(request.user, "ledger.own", request=request)
    rows = selectors.recent_history(cast(User, request.user), limit=max(1, min(limit, 200)))
    return [MovementOut(**{k: v for k, v in row.items() if k != "kind_label"}) for row in rows]


class StatementLineOut(Schema):
    at: dt.datetime
    transaction_id: int
    kind: str
    source: str
    amount: int
    balance: int


class StatementOut(Schema):
    asset: str
    start: dt.datetime
    end: dt.datetime
    opening: int
    closing: int
    total_in: int
    total_out: int
    lines: list[StatementLineOut]


@router.get("/statement", response={200: StatementOut, 403: ErrorOut, 404: ErrorOut})
def statement(request: HttpRequest, asset: str = "points", year: int | None = None) -> StatementOut:
    """The yearly statement of one of the member's accounts."""
    require(request.user, "ledger.own", request=request)
    if asset not in Asset.values:
        raise Http404
    start, end = selectors.year_bounds(year or timezone.localdate().year)
    account = selectors.account_of(cast(User, request.user), asset)
    if account is None:
        return StatementOut(
            asset=asset,
            start=start,
            end=end,
            opening=0,
            closing=0,
            total_in=0,
            total_out=0,
            lines=[],
        )
    result = selectors.account_statement(account, start, end)
    return StatementOut(
        asset=asset,
        start=start,
        end=end,
        opening=result.opening,
        closing=result.closing,
        total_in=result.total_in,
        total_out=result.total_out,
        lines=[
            StatementLineOut(
                at=line.at,
                transaction_id=line.transaction_id,
                kind=line.kind,
                source=line.source,
                amount=line.amount,
                balance=line.balance,
            )
            for line in result.lines
        ],
    )


class RelativeOut(Schema):
    id: int
    relation: str
    name: str
    direct: bool
    has_account: bool


@router.get("/relatives", response={200: list[RelativeOut], 403: ErrorOut})
def relatives(request: HttpRequest) -> list[RelativeOut]:
    require(request.user, "ledger.own", request=request)
    return [
        RelativeOut(
            id=r.pk,
            relation=r.relation,
            name=r.name,
            direct=r.is_direct,
            has_account=r.account_user_id is not None,
        )
        for r in selectors.relatives_of(cast(User, request.user))
    ]


class TransferIn(Schema):
    relative_id: int
    minutes: int
    idempotency_key: str = KEY


@router.post("/timebank/transfers", response={201: BookedOut, **WRITE_ERRORS})
def transfer(request: HttpRequest, payload: TransferIn) -> Status[BookedOut]:
    """Give time credit to a registered direct relative."""
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    # Another member's relative answers like one that does not exist.
    relative = get_object_or_404(Relative, pk=payload.relative_id, member=user)
    tx = refusals(
        lambda: services.timebank_transfer(
            member=user,
            relative=relative,
            minutes=payload.minutes,
            key=payload.idempotency_key,
            http_request=request,
        )
    )
    return Status(201, _booked(user, tx, Asset.TIME_MINUTES))


class DonationIn(Schema):
    minutes: int
    elder_id: int | None = None
    idempotency_key: str = KEY


@router.post("/timebank/donations", response={201: BookedOut, **WRITE_ERRORS})
def donate(request: HttpRequest, payload: DonationIn) -> Status[BookedOut]:
    """Donate time credit to the public fund, or to a named elder in difficulty."""
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    region = member_region(user)
    if region is None:
        raise Http404
    elder = get_object_or_404(Elder, pk=payload.elder_id) if payload.elder_id else None
    tx = refusals(
        lambda: services.timebank_donate(
            member=user,
            region=region,
            minutes=payload.minutes,
            elder=elder,
            key=payload.idempotency_key,
            http_request=request,
        )
    )
    return Status(201, _booked(user, tx, Asset.TIME_MINUTES))


class WithdrawalIn(Schema):
    minutes: int
    note: str = Field(..., min_length=1, max_length=200)
    relative_id: int | None = None
    idempotency_key: str = KEY


class WithdrawalOut(Schema):
    id: int
    minutes: int
    status: str
    transaction_id: int


@router.post("/timebank/withdrawals", response={201: WithdrawalOut, **WRITE_ERRORS})
def withdraw(request: HttpRequest, payload: WithdrawalIn) -> Status[WithdrawalOut]:
    """Spend credit to ask for service for oneself or a registered relative."""
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    region = member_region(user)
    if region is None:
        raise Http404
    relative = (
        get_object_or_404(Relative, pk=payload.relative_id, member=user)
        if payload.relative_id
        else None
    )
    withdrawal = refusals(
        lambda: services.timebank_withdraw(
            member=user,
            region=region,
            minutes=payload.minutes,
            note=payload.note,
            relative=relative,
            key=payload.idempotency_key,
            http_request=request,
        )
    )
    return Status(
        201,
        WithdrawalOut(
            id=withdrawal.pk,
            minutes=withdrawal.minutes,
            status=withdrawal.status,
            transaction_id=withdrawal.transaction_id,
        ),
    )


# --- the region's administration ---------------------------------------------------------------


class RulesIn(Schema):
    params: dict[str, Any]
    effective_from: dt.datetime
    note: str = ""


class RulesOut(Schema):
    id: int
    region: str
    version: int
    effective_from: dt.datetime
    params: dict[str, Any]


def _rules_out(r: Any) -> RulesOut:
    return RulesOut(
        id=r.pk,
        region=r.region_id,
        version=r.version,
        effective_from=r.effective_from,
        params=r.params,
    )


@router.get("/rules", response={200: list[RulesOut], 403: ErrorOut})
def rules_list(request: HttpRequest) -> list[RulesOut]:
    require(request.user, "ledger.manage", request=request)
    return [
        _rules_out(r)
        for r in selectors.rule_versions(region_scopes(request.user, "ledger.manage"))[:200]
    ]


@router.post("/rules", response={201: RulesOut, **WRITE_ERRORS})
def rules_publish(request: HttpRequest, payload: RulesIn) -> Status[RulesOut]:
    """Publish the next version of the earning rules of the administrator's region."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    rule_set = refusals(
        lambda: services.earning_rules_publish(
            region=region,
            params=payload.params,
            effective_from=payload.effective_from,
            note=payload.note,
            actor=request.user,
            http_request=request,
        )
    )
    return Status(201, _rules_out(rule_set))


class SeedIn(Schema):
    elder_id: int
    minutes: int
    decision: str = Field(..., min_length=1, max_length=200)
    idempotency_key: str = KEY


@router.post("/fund/seed", response={201: BookedOut, **WRITE_ERRORS})
def fund_seed(request: HttpRequest, payload: SeedIn) -> Status[BookedOut]:
    """Credit an eligible elder from the public fund, by a recorded decision (audited)."""
    require(request.user, "ledger.manage", request=request)
    elder = get_object_or_404(Elder, pk=payload.elder_id)
    tx = refusals(
        lambda: services.timebank_fund_seed(
            elder=elder,
            minutes=payload.minutes,
            decision=payload.decision,
            decided_by=cast(User, request.user),
            key=payload.idempotency_key,
            http_request=request,
        )
    )
    return Status(201, _booked(elder.user, tx, Asset.TIME_MINUTES))


class ReportRowOut(Schema):
    organization_id: int | None
    organization: str
    issued: int
    redeemed: int


@router.get("/report", response={200: list[ReportRowOut], 403: ErrorOut})
def report(request: HttpRequest, start: dt.date, end: dt.date) -> list[ReportRowOut]:
    """Points issued and redeemed per organisation in ``[start, end)``."""
    require(request.user, "ledger.report", request=request)
    tz = timezone.get_current_timezone()
    rows = selectors.points_report(
        region_scopes(request.user, "ledger.report"),
        dt.datetime.combine(start, dt.time(), tzinfo=tz),
        dt.datetime.combine(end, dt.time(), tzinfo=tz),
    )
    return [ReportRowOut(**row.__dict__) for row in rows]
