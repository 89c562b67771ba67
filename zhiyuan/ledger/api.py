"""Ledger API: a member's balances, history and statements, the time bank, and the region's
rules, fund and report. Every write takes an ``idempotency_key``: send the same request twice
and it is booked once; send a different request under a used key and it is refused (409)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.ledger import selectors, services
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.ledger.models import (
    Asset,
    Elder,
    ElderReason,
    Relation,
    Relative,
    TimeBankItem,
    Withdrawal,
    WithdrawalStatus,
)
from zhiyuan.ledger.views import (
    admin_region,
    find_user_in,
    member_region,
    not_in_region_message,
    withdrawal_served_message,
)
from zhiyuan.regions.selectors import region_subtree_q

router = Router(tags=["ledger"])
T = TypeVar("T")

SLUG_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
KEY = Field(..., min_length=8, max_length=100, description="unique per request; reuse to retry")
WRITE_ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def district_of(region_code: str) -> str:
    """The district a community belongs to: where its members donate and redeem."""
    return region_code[:6] + "000000"


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
    # Only the elders registered in the member's own district; any other answers 404. An
    # elder no longer eligible is refused by the service with its own code.
    elder = (
        get_object_or_404(
            Elder.objects.filter(region_subtree_q([district_of(region)])), pk=payload.elder_id
        )
        if payload.elder_id
        else None
    )
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
    return Status(201, _withdrawal_out(withdrawal))


def _withdrawal_out(w: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut(
        id=w.pk, minutes=w.minutes, status=w.status, transaction_id=w.transaction_id
    )


@router.get("/timebank/withdrawals", response={200: list[WithdrawalOut], 403: ErrorOut})
def withdrawals(request: HttpRequest) -> list[WithdrawalOut]:
    """The member's latest requests for service paid with credit."""
    require(request.user, "ledger.own", request=request)
    return [_withdrawal_out(w) for w in selectors.withdrawals_of(cast(User, request.user))]


@router.post(
    "/timebank/withdrawals/{withdrawal_id}/cancel", response={200: WithdrawalOut, **WRITE_ERRORS}
)
def withdrawal_cancel(request: HttpRequest, withdrawal_id: int) -> WithdrawalOut:
    """Cancel a request not yet served: the credit comes back by reversal."""
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    # Another member's withdrawal answers like one that does not exist.
    withdrawal = get_object_or_404(Withdrawal, pk=withdrawal_id, member=user)
    result = refusals(
        lambda: services.timebank_withdrawal_cancel(
            withdrawal=withdrawal, actor=user, http_request=request
        )
    )
    # Decided under the withdrawal's row lock: one already served comes back unchanged.
    if result.status != WithdrawalStatus.CANCELLED:
        raise ApiError(409, "withdrawal_served", withdrawal_served_message())
    return _withdrawal_out(result)


class ItemOut(Schema):
    id: int
    code: str
    name: str
    minutes: int
    region: str


class PriceListOut(Schema):
    priced_items: bool = Field(description="false: 1 hour of service = 60 minutes of credit")
    items: list[ItemOut]


def _item_out(item: TimeBankItem) -> ItemOut:
    return ItemOut(
        id=item.pk, code=item.code, name=item.name, minutes=item.minutes, region=item.region_id
    )


@router.get("/timebank/items", response={200: PriceListOut, 403: ErrorOut, 404: ErrorOut})
def timebank_items(request: HttpRequest) -> PriceListOut:
    """The price list of service items in the member's region."""
    require(request.user, "ledger.own", request=request)
    region = member_region(request.user)
    if region is None:
        raise Http404
    return PriceListOut(
        priced_items=services.timebank_policy_for(region).priced_items,
        items=[_item_out(i) for i in selectors.timebank_items_for(region)],
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
    # Another region's elder answers 404: not the administrator's to credit, or to learn of.
    elder = get_object_or_404(
        Elder.objects.filter(region_subtree_q(region_scopes(request.user, "ledger.manage"))),
        pk=payload.elder_id,
    )
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


# --- the region's time bank: service items, settings, funds, elders, relatives ----------------


@router.get("/items", response={200: list[ItemOut], 403: ErrorOut})
def items_list(request: HttpRequest) -> list[ItemOut]:
    """The service items priced by the administrator's regions."""
    require(request.user, "ledger.manage", request=request)
    codes = region_scopes(request.user, "ledger.manage")
    return [_item_out(i) for i in selectors.timebank_items_in(codes)[:500]]


class ItemIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    minutes: int


@router.put("/items/{code}", response={200: ItemOut, **WRITE_ERRORS})
def item_save(request: HttpRequest, code: str, payload: ItemIn) -> ItemOut:
    """Price a service item of the administrator's region (add it, or change its name or
    minutes; the code never changes). Sending it twice changes nothing more."""
    require(request.user, "ledger.manage", request=request)
    if not SLUG_RE.match(code):
        raise ApiError(
            422,
            "invalid_code",
            _("A code is 1 to 40 lower-case letters, digits, dashes or underscores."),
        )
    region = admin_region(request.user)
    item = refusals(
        lambda: services.timebank_item_save(
            region=region,
            code=code,
            name=payload.name.strip(),
            minutes=payload.minutes,
            actor=cast(User, request.user),
            http_request=request,
        )
    )
    return _item_out(item)


class PolicyOut(Schema):
    region: str
    cap_minutes: int
    min_withdraw_age: int
    priced_items: bool


class FundOut(Schema):
    region: str
    asset: str
    balance: int


class FundStateOut(Schema):
    policy: PolicyOut
    funds: list[FundOut]


def _policy_out(policy: Any) -> PolicyOut:
    return PolicyOut(
        region=policy.region_id,
        cap_minutes=policy.cap_minutes,
        min_withdraw_age=policy.min_withdraw_age,
        priced_items=policy.priced_items,
    )


@router.get("/fund", response={200: FundStateOut, 403: ErrorOut, 404: ErrorOut})
def fund(request: HttpRequest) -> FundStateOut:
    """The public funds' balances and the time-bank settings in force in the admin's region."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    codes = region_scopes(request.user, "ledger.manage")
    return FundStateOut(
        policy=_policy_out(services.timebank_policy_for(region)),
        funds=[
            FundOut(region=f.region_id or "", asset=f.asset, balance=f.balance)
            for f in selectors.fund_balances(codes)
        ],
    )


class PolicyIn(Schema):
    cap_minutes: int
    min_withdraw_age: int
    priced_items: bool = False


@router.put("/policy", response={200: PolicyOut, **WRITE_ERRORS})
def policy_set(request: HttpRequest, payload: PolicyIn) -> PolicyOut:
    """Set the region's cap on balances, the age from which credit may be spent, and whether
    service items are priced (audited)."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    policy = refusals(
        lambda: services.timebank_policy_set(
            region=region,
            cap_minutes=payload.cap_minutes,
            min_withdraw_age=payload.min_withdraw_age,
            priced_items=payload.priced_items,
            actor=cast(User, request.user),
            http_request=request,
        )
    )
    return _policy_out(policy)


class ElderOut(Schema):
    id: int
    name: str
    region: str
    reason: str
    active: bool


class ElderIn(Schema):
    phone: str = Field(..., description="the elder's own account's mobile number")
    birth_date: dt.date
    reason: ElderReason


def _elder_out(e: Elder) -> ElderOut:
    return ElderOut(id=e.pk, name=e.user.name, region=e.region_id, reason=e.reason, active=e.active)


def _person(phone: str, codes: list[str] | None, field: str) -> User:
    person = find_user_in(phone, codes)
    if person is None:
        raise ApiError(404, f"{field}_unknown", not_in_region_message())
    return person


@router.get("/elders", response={200: list[ElderOut], 403: ErrorOut})
def elders(request: HttpRequest) -> list[ElderOut]:
    """The eligible elders in difficulty of the administrator's regions."""
    require(request.user, "ledger.manage", request=request)
    codes = region_scopes(request.user, "ledger.manage")
    return [_elder_out(e) for e in selectors.elders_in(codes)[:500]]


@router.post("/elders", response={201: ElderOut, **WRITE_ERRORS})
def elder_register(request: HttpRequest, payload: ElderIn) -> Status[ElderOut]:
    """Register an elder in difficulty of the administrator's region (audited)."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    person = _person(payload.phone, region_scopes(request.user, "ledger.manage"), "person")
    elder = refusals(
        lambda: services.elder_register(
            user=person,
            region=region,
            birth_date=payload.birth_date,
            reason=payload.reason,
            registered_by=cast(User, request.user),
            http_request=request,
        )
    )
    return Status(201, _elder_out(elder))


class RelativeIn(Schema):
    member_phone: str
    relation: Relation
    name: str = Field(..., min_length=1, max_length=60)
    birth_date: dt.date
    relative_phone: str | None = Field(None, description="the relative's own account, if any")


class RegisteredRelativeOut(Schema):
    id: int
    member_id: int
    relation: str
    name: str
    direct: bool
    has_account: bool
    region: str


@router.post("/members/relatives", response={201: RegisteredRelativeOut, **WRITE_ERRORS})
def relative_register(request: HttpRequest, payload: RelativeIn) -> Status[RegisteredRelativeOut]:
    """Register a member's relative after seeing the household register. The member and the
    relative's own account must both belong to the administrator's regions."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    codes = region_scopes(request.user, "ledger.manage")
    member = _person(payload.member_phone, codes, "member")
    relative_user = (
        _person(payload.relative_phone, codes, "relative") if payload.relative_phone else None
    )
    relative = refusals(
        lambda: services.relative_register(
            member=member,
            relation=payload.relation,
            name=payload.name,
            birth_date=payload.birth_date,
            region=region,
            registered_by=cast(User, request.user),
            account_user=relative_user,
            http_request=request,
        )
    )
    return Status(
        201,
        RegisteredRelativeOut(
            id=relative.pk,
            member_id=member.pk,
            relation=relative.relation,
            name=relative.name,
            direct=relative.is_direct,
            has_account=relative_user is not None,
            region=relative.region_id,
        ),
    )


# --- members' free-standing requests, for the region's administrators ------------------------


class ArrangeOut(Schema):
    id: int
    created_at: dt.datetime
    region: str
    minutes: int
    note: str
    status: str
    member: str  # masked
    relative: str | None  # masked; None: for the member themselves


@router.get("/admin/withdrawals", response={200: list[ArrangeOut], 403: ErrorOut})
def withdrawals_to_arrange(request: HttpRequest) -> list[ArrangeOut]:
    """Members' time-bank requests made outside the needs flow, in the admin's regions: those
    still waiting first."""
    require(request.user, "ledger.manage", request=request)
    from zhiyuan.core.masking import mask_name

    return [
        ArrangeOut(
            id=w.pk,
            created_at=w.created_at,
            region=w.region_id,
            minutes=w.minutes,
            note=w.note,
            status=w.status,
            member=mask_name(w.member.name),
            relative=mask_name(w.relative.name) if w.relative else None,
        )
        for w in selectors.withdrawals_to_arrange(region_scopes(request.user, "ledger.manage"))[
            :200
        ]
    ]


def _to_arrange(request: HttpRequest, withdrawal_id: int) -> Withdrawal:
    require(request.user, "ledger.manage", request=request)
    # Outside the admin's regions a request answers like one that does not exist.
    return get_object_or_404(
        selectors.withdrawals_to_arrange(region_scopes(request.user, "ledger.manage")),
        pk=withdrawal_id,
    )


@router.post(
    "/admin/withdrawals/{withdrawal_id}/served", response={200: WithdrawalOut, **WRITE_ERRORS}
)
def withdrawal_served(request: HttpRequest, withdrawal_id: int) -> WithdrawalOut:
    """The community arranged the service: the credit is spent (no longer refundable)."""
    withdrawal = _to_arrange(request, withdrawal_id)
    spent = refusals(
        lambda: services.timebank_withdrawal_arranged(
            withdrawal=withdrawal, actor=cast(User, request.user), http_request=request
        )
    )
    if not spent:
        raise ApiError(
            409, "withdrawal_cancelled", _("This request was cancelled; its credit is back.")
        )
    withdrawal.refresh_from_db()
    return _withdrawal_out(withdrawal)


@router.post(
    "/admin/withdrawals/{withdrawal_id}/cancel", response={200: WithdrawalOut, **WRITE_ERRORS}
)
def withdrawal_cancel_by_admin(request: HttpRequest, withdrawal_id: int) -> WithdrawalOut:
    """Cancel a request not yet served: the credit goes back to the member."""
    withdrawal = _to_arrange(request, withdrawal_id)
    result = refusals(
        lambda: services.timebank_withdrawal_cancel(
            withdrawal=withdrawal, actor=cast(User, request.user), http_request=request
        )
    )
    if result.status != WithdrawalStatus.CANCELLED:
        raise ApiError(409, "withdrawal_served", withdrawal_served_message())
    return _withdrawal_out(result)
