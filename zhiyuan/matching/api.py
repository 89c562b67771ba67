"""Matching API (/api/v1/matching): a need's ranked volunteers, "fill all open needs" of a
region (now, or automatically every few minutes), and whom to invite to an under-filled shift.

Unknown objects get 404; a person without the ability in that place gets 403 (audited); a
solve that cannot be set up (more than 32 skills at once) gets 422 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import require
from zhiyuan.matching import selectors, services
from zhiyuan.matching.adapter import MatchingError, PairView

router = Router(tags=["matching"])


class PairOut(Schema):
    user_id: int
    volunteer_number: str
    name: str
    eligible: bool
    score: float
    utility: float
    distance_km: float
    reasons: list[str]
    codes: list[str]


def _pair(view: PairView) -> PairOut:
    profile = view.row.profile
    return PairOut(
        user_id=view.row.user_id,
        volunteer_number=profile.volunteer_number,
        name=view.row.name,
        eligible=view.eligible,
        score=view.score,
        utility=round(view.utility, 3),
        distance_km=round(view.distance_km, 3),
        reasons=view.reasons,
        codes=view.codes,
    )


class RankingOut(Schema):
    need: int
    problem: str
    ranked: list[PairOut]
    excluded: list[PairOut]


@router.get("/needs/{need_id}/ranking", response={200: RankingOut, 403: ErrorOut, 404: ErrorOut})
def need_ranking(request: HttpRequest, need_id: int) -> Any:
    """The volunteers who can go, best match first, and the nearest who cannot, with why."""
    from zhiyuan.needs.models import Need

    need = get_object_or_404(Need.objects.select_related("category", "region"), pk=need_id)
    require(request.user, "matching.rank", need, request=request)
    ranking = selectors.matching_need_ranking(need)
    return RankingOut(
        need=need.pk,
        problem=ranking.problem,
        ranked=[_pair(v) for v in ranking.ranked],
        excluded=[_pair(v) for v in ranking.excluded],
    )


class DispatchedOut(Schema):
    need: int
    volunteers: list[PairOut]


class UnfilledOut(Schema):
    need: int
    needed: int
    offered: int
    reason: str
    text: str


class FillOut(Schema):
    region: str
    offers: int
    dispatched: list[DispatchedOut]
    unfilled: list[UnfilledOut]
    total_utility: float
    violations: int
    seconds: dict[str, float]


@router.post(
    "/regions/{code}/fill",
    response={200: FillOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def region_fill(request: HttpRequest, code: str) -> Any:
    """Fill every open need of the region in one exact solve; each need the optimum gives
    people to is dispatched to them (offers), and every need left short says why."""
    from zhiyuan.regions.models import Region

    region = get_object_or_404(Region, pk=code)
    try:
        result = services.matching_fill_region(actor=request.user, region=region, request=request)
    except MatchingError as exc:
        raise ApiError(422, exc.code, exc.message) from exc
    return FillOut(
        region=region.code,
        offers=result.offers,
        dispatched=[
            DispatchedOut(need=d.need.pk, volunteers=[_pair(v) for v in d.volunteers])
            for d in result.dispatched
        ],
        unfilled=[
            UnfilledOut(
                need=u.need.pk, needed=u.needed, offered=u.offered, reason=u.reason, text=u.text
            )
            for u in result.unfilled
        ],
        total_utility=round(result.total_utility, 6),
        violations=result.violations,
        seconds={k: round(v, 6) for k, v in result.seconds.items()},
    )


class AutoFillOut(Schema):
    region: str
    enabled: bool
    interval_minutes: int
    last_run_at: datetime | None
    last_outcome: str
    last_run_text: str
    last_summary: dict[str, Any]
    next_run_at: datetime | None


class AutoFillIn(Schema):
    enabled: bool
    interval_minutes: int | None = None


def _autofill_out(region: Any) -> AutoFillOut:
    status = selectors.autofill_status(region)
    return AutoFillOut(
        region=region.code,
        enabled=status.enabled,
        interval_minutes=status.interval_minutes,
        last_run_at=status.last_run_at,
        last_outcome=status.outcome,
        last_run_text=status.last_run_text,
        last_summary=status.summary,
        next_run_at=status.next_run_at,
    )


@router.get("/regions/{code}/autofill", response={200: AutoFillOut, 403: ErrorOut, 404: ErrorOut})
def region_autofill(request: HttpRequest, code: str) -> Any:
    """Whether the region is filled automatically, how often, and what the last run did."""
    from zhiyuan.regions.models import Region

    region = get_object_or_404(Region, pk=code)
    require(request.user, "matching.fill", region, request=request)
    return _autofill_out(region)


@router.put(
    "/regions/{code}/autofill",
    response={200: AutoFillOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def region_autofill_set(request: HttpRequest, code: str, body: AutoFillIn) -> Any:
    """Switch the region's automatic fill on or off (and how many minutes apart it runs)."""
    from zhiyuan.regions.models import Region

    region = get_object_or_404(Region, pk=code)
    try:
        services.matching_autofill_set(
            actor=request.user,
            region=region,
            enabled=body.enabled,
            interval_minutes=body.interval_minutes,
            request=request,
        )
    except ValidationError as exc:
        raise ApiError(422, "invalid", " ".join(exc.messages)) from exc
    return _autofill_out(region)


class StaffingOut(Schema):
    shift: int
    confirmed: int
    holding: int
    missing: int
    problem: str
    suggestions: list[PairOut]
    excluded: list[PairOut]


@router.get(
    "/shifts/{shift_id}/suggestions", response={200: StaffingOut, 403: ErrorOut, 404: ErrorOut}
)
def shift_suggestions(request: HttpRequest, shift_id: int) -> Any:
    """Whom the organiser might invite to an under-filled shift, with the reasons."""
    from zhiyuan.activities.models import Shift
    from zhiyuan.organizations.services import organization_require

    shift = get_object_or_404(Shift.objects.select_related("activity__organization"), pk=shift_id)
    organization_require(
        request.user, "matching.staffing", shift.activity.organization, request=request
    )
    staffing = selectors.matching_staffing_suggestions(shift=shift)
    return StaffingOut(
        shift=shift.pk,
        confirmed=staffing.confirmed,
        holding=staffing.holding,
        missing=staffing.missing,
        problem=staffing.problem,
        suggestions=[_pair(v) for v in staffing.suggestions],
        excluded=[_pair(v) for v in staffing.excluded],
    )
