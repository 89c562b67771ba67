"""Matching's writes, and the engine's ranker for the needs app.

* :class:`EngineRanker` implements the needs app's ``Ranker`` protocol
  (``zhiyuan/needs/ranking.py``); select it with
  ``ZHIYUAN_NEED_RANKER = "zhiyuan.matching.services.EngineRanker"``.
* :func:`matching_fill_region` is the dispatcher's "fill all open needs" button: one exact
  solve over a region's open needs, each resulting assignment dispatched through
  ``needs.services.need_dispatch`` (offers the volunteers accept or decline; this app never
  writes a need's rows itself).
* :func:`matching_autofill_set` switches a region's automatic fill on or off;
  :func:`matching_autofill_due` (the periodic task, ``tasks.matching_autofill``) runs
  :func:`matching_autofill_run` for every region whose interval is over: the same fill, over the
  needs nobody has taken in hand, on the standing order of the dispatcher who switched it on.
* :func:`matching_staffing_suggestions` (a read, kept in selectors.py) says whom to invite to
  an under-filled shift.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_record
from zhiyuan.core.permissions import has_perm, record_refusal, require
from zhiyuan.matching import adapter, selectors
from zhiyuan.matching.models import (
    AUTOFILL_MAX_MINUTES,
    AUTOFILL_MIN_MINUTES,
    AutoFill,
    AutoFillOutcome,
    MatchingAudit,
)
from zhiyuan.matching.selectors import matching_staffing_suggestions

__all__ = [
    "EngineRanker",
    "FillResult",
    "matching_autofill_due",
    "matching_autofill_run",
    "matching_autofill_set",
    "matching_fill_region",
    "matching_staffing_suggestions",
]

logger = logging.getLogger("zhiyuan.matching")


class EngineRanker:
    """The needs app's ranker, backed by the matching engine's rule and objective.

    Volunteers who can go come first, by the engine's utility (urgency × (10 + 2 × rating) −
    km, plus continuity of care); the score is that utility as a share of the best possible
    for this urgency (a volunteer rated 5 at the door), so it stays in [0, 1]. Volunteers who
    cannot go (not free then, at their weekly cap, too far for them, qualification lapsed…)
    follow with score 0 and the reasons, nearest first, so a dispatcher who looks someone up
    sees why not. Candidates without a home point come last: they cannot be measured.
    """

    def rank(self, need: Any, candidates: Sequence[Any]) -> list[Any]:
        from zhiyuan.needs.ranking import RankedCandidate

        tasks, skipped = selectors.need_tasks([need])
        if not tasks:
            why = selectors.skip_text(skipped[need.pk])
            return [RankedCandidate(p, 0.0, [why]) for p in candidates]
        placed = [p for p in candidates if p.home_lat is not None and p.home_lng is not None]
        unplaced = [p for p in candidates if p.home_lat is None or p.home_lng is None]
        out: list[RankedCandidate] = []
        if placed:
            try:
                built, good, rest = selectors.rank_profiles(tasks[0], placed, skip_needs=[need.pk])
            except adapter.MatchingError as exc:
                return [RankedCandidate(p, 0.0, [exc.message]) for p in candidates]
            views = [adapter.explain(built, v, 0) for v in good + rest]
            out = [
                RankedCandidate(v.row.profile, v.score, v.reasons, round(v.distance_km, 3))
                for v in views
            ]
        note = _("No home point: distance unknown")
        out += [RankedCandidate(p, 0.0, [note]) for p in unplaced]
        return out


@dataclass(frozen=True)
class Dispatched:
    """One need offered to the volunteers the optimum chose."""

    need: Any
    volunteers: list[adapter.PairView]


@dataclass(frozen=True)
class Unfilled:
    """A need (partly) left without volunteers, and why in plain words."""

    need: Any
    needed: int
    offered: int
    reason: str
    text: str


@dataclass
class FillResult:
    """What "fill all open needs" did."""

    region: Any
    dispatched: list[Dispatched] = field(default_factory=list)
    unfilled: list[Unfilled] = field(default_factory=list)
    total_utility: float = 0.0
    violations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    solutions: list[adapter.Solution] = field(default_factory=list)
    needs: int = 0  # open needs considered

    @property
    def offers(self) -> int:
        return sum(len(d.volunteers) for d in self.dispatched)


def _refusal_text(exc: BaseException) -> str:
    from zhiyuan.needs.states import IllegalTransition
    from zhiyuan.organizations.services import OperationRefused

    if isinstance(exc, IllegalTransition):
        return exc.message
    if isinstance(exc, OperationRefused):
        return str(exc.refusal.message)
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def matching_fill_region(
    *, actor: Any, region: Any, request: HttpRequest | None = None
) -> FillResult:
    """Fill every open need of ``region`` (a community, street or district) in one step.

    One exact solve per week over the open needs and the volunteers of the district; each
    need the optimum gives people to is dispatched to them through the needs app's
    ``need_dispatch`` (offers, never forced: Regulations Art. 25). A need that cannot be
    dispatched does not hold back the others; every need left short is returned with why.
    """
    # Checked before the transaction opens, so a refusal's audit entry stays.
    require(actor, "matching.fill", region, request=request)
    return _fill(actor, region, request)


@transaction.atomic(durable=True)
def _fill(actor: Any, region: Any, request: HttpRequest | None) -> FillResult:
    from zhiyuan.needs.states import OPEN

    return _fill_locked(actor, region, request, states=OPEN, automatic=False)


def _fill_locked(
    actor: Any,
    region: Any,
    request: HttpRequest | None,
    *,
    states: Iterable[str],
    automatic: bool,
) -> FillResult:
    """The body of "fill all", inside the caller's transaction (see matching_fill_region)."""
    from zhiyuan.needs.models import Need
    from zhiyuan.needs.services import need_dispatch
    from zhiyuan.needs.states import IllegalTransition
    from zhiyuan.organizations.services import OperationRefused
    from zhiyuan.regions.models import Region

    started = time.perf_counter()
    # Row lock on the district: serialises two "fill all" runs over the same volunteers, so
    # the second sees the first's offers in every volunteer's load and busy slots.
    Region.objects.select_for_update().filter(pk=selectors.district_code(region.code)).first()
    ids = list(selectors.needs_open_in(region.code, states).values_list("pk", flat=True))
    # Row locks on the open needs, in pk order: a dispatcher dispatching one of them by hand
    # meanwhile waits, and a need dispatched before we got the lock is no longer open below,
    # so nobody's hand-made offers are silently replaced.
    locked = list(
        Need.objects.filter(pk__in=ids, state__in=list(states))
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    needs = [
        n
        for n in selectors.needs_open_in(region.code, states).filter(pk__in=locked)
        if has_perm(actor, "need.dispatch", n)
    ]
    plan = selectors.plan_needs(needs, region.code)
    result = FillResult(
        region=region,
        total_utility=plan.total_utility,
        violations=plan.violations,
        solutions=plan.solutions,
        needs=len(needs),
    )
    by_pk = {n.pk: n for n in needs}
    for pk, code in plan.skipped.items():
        need = by_pk[pk]
        result.unfilled.append(
            Unfilled(need, need.people_needed, 0, code, selectors.skip_text(code))
        )
    note = (
        _("Filled by the automatic run of the matching engine")
        if automatic
        else _("Filled by the matching engine")
    )
    clock = time.perf_counter()
    for solution in plan.solutions:
        built = solution.built
        short = {s.task: s for s in solution.short}
        for j, task in enumerate(built.tasks):
            need = task.obj
            views = [adapter.explain(built, v, j) for v in solution.pairs_of(j)]
            if views:
                try:
                    with transaction.atomic():
                        need_dispatch(
                            need=need,
                            actor=actor,
                            volunteers=[v.row.profile.user for v in views],
                            scores={v.row.user_id: (v.score, v.reasons) for v in views},
                            note=note,
                            request=request,
                        )
                except (
                    ValidationError,
                    IllegalTransition,
                    PermissionDenied,
                    OperationRefused,
                ) as exc:
                    record_refusal(exc)
                    result.unfilled.append(
                        Unfilled(need, task.people, 0, "dispatch_refused", _refusal_text(exc))
                    )
                    continue
                result.dispatched.append(Dispatched(need, views))
            if j in short:
                s = short[j]
                result.unfilled.append(
                    Unfilled(need, s.need, s.assigned, s.reason, adapter.unfilled_text(s.reason))
                )
    result.seconds = {
        **plan.seconds,
        "dispatch": time.perf_counter() - clock,
        "total": time.perf_counter() - started,
    }
    result.unfilled.sort(key=lambda u: u.need.pk)
    detail = {
        "needs": len(needs),
        "dispatched": [d.need.pk for d in result.dispatched],
        "offers": result.offers,
        "unfilled": {str(u.need.pk): u.reason for u in result.unfilled},
    }
    if not automatic:
        audit_record(
            action=MatchingAudit.REGION_FILLED,
            actor=actor,
            target=region,
            request=request,
            detail=detail,
        )
    elif result.dispatched:
        # The run is the system's; the offers went out on the standing order of the
        # dispatcher who switched it on. A run that dispatched nothing leaves no entry, so an
        # idle region does not fill the log every few minutes.
        audit_record(
            action=MatchingAudit.REGION_AUTOFILLED,
            actor=None,
            target=region,
            detail={**detail, "standing_order_of": actor.pk},
        )
    return result


# --- automatic fill ------------------------------------------------------------------------------

#: A run is due this much before its interval is over, so that the scheduler's one-minute beat
#: does not push a 10-minute interval to 11 minutes.
AUTOFILL_SLACK = timedelta(seconds=30)


def matching_autofill_set(
    *,
    actor: Any,
    region: Any,
    enabled: bool,
    interval_minutes: int | None = None,
    request: HttpRequest | None = None,
) -> AutoFill:
    """Switch a region's automatic "fill all" on or off, and set how often it runs.

    Only a dispatcher who may fill the region may (``matching.fill``); the runs then dispatch
    on that dispatcher's standing order, re-checked at every run. Saying the same again
    changes nothing and writes no audit entry.
    """
    require(actor, "matching.fill", region, request=request)
    if interval_minutes is not None and not (
        AUTOFILL_MIN_MINUTES <= interval_minutes <= AUTOFILL_MAX_MINUTES
    ):
        raise ValidationError(
            {
                "interval_minutes": _("Choose between %(low)s and %(high)s minutes.")
                % {"low": AUTOFILL_MIN_MINUTES, "high": AUTOFILL_MAX_MINUTES}
            }
        )
    return _autofill_set(actor, region, enabled, interval_minutes, request)


@transaction.atomic(durable=True)
def _autofill_set(
    actor: Any,
    region: Any,
    enabled: bool,
    interval_minutes: int | None,
    request: HttpRequest | None,
) -> AutoFill:
    AutoFill.objects.get_or_create(region=region)
    # Row lock: a switch and a run of the same region do not interleave.
    row = AutoFill.objects.select_for_update().get(region=region)
    interval = row.interval_minutes if interval_minutes is None else interval_minutes
    if row.enabled == enabled and row.interval_minutes == interval:
        return row
    row.enabled = enabled
    row.interval_minutes = interval
    row.changed_by = actor
    row.changed_at = timezone.now()
    row.save(update_fields=["enabled", "interval_minutes", "changed_by", "changed_at"])
    audit_record(
        action=MatchingAudit.AUTOFILL_CHANGED,
        actor=actor,
        target=region,
        request=request,
        detail={"enabled": enabled, "interval_minutes": interval},
    )
    return row


def matching_autofill_due(now: datetime | None = None) -> dict[str, str]:
    """Run the automatic fill of every region whose interval is over (the periodic task).

    Each region runs in its own transaction: one that fails does not hold back the others.
    Returns each region run and what it did.
    """
    now = now or timezone.now()
    done: dict[str, str] = {}
    for row in AutoFill.objects.filter(enabled=True).order_by("region_id"):
        if not _due(row, now):
            continue
        try:
            outcome = matching_autofill_run(region_code=row.region_id, now=now)
        except Exception:  # one region's failure must not stop the others' runs
            logger.exception("automatic fill of region %s failed", row.region_id)
            with translation.override(settings.LANGUAGE_CODE):
                _autofill_failed(row.region_id, now)
            outcome = "error"
        if outcome is not None:
            done[row.region_id] = outcome
    return done


@transaction.atomic(durable=True)
def _autofill_failed(region_code: str, now: datetime) -> None:
    """Note an unexpected failure, so the page says so and the next try waits an interval."""
    AutoFill.objects.filter(region_id=region_code).update(
        last_run_at=now,
        last_outcome=AutoFillOutcome.PROBLEM,
        last_summary={"code": "internal_error", "message": _("Internal error; logged.")},
    )


def _due(row: AutoFill, now: datetime) -> bool:
    return row.last_run_at is None or now - row.last_run_at >= (
        timedelta(minutes=row.interval_minutes) - AUTOFILL_SLACK
    )


def matching_autofill_run(*, region_code: str, now: datetime | None = None) -> str | None:
    """One automatic "fill all" of a region, if it is switched on and due; what it did.

    What it writes for people to read (the need's event note, the summary) is in the
    deployment's language, whatever language this thread served last.
    """
    with translation.override(settings.LANGUAGE_CODE):
        return _autofill_run(region_code=region_code, now=now)


@transaction.atomic(durable=True)
def _autofill_run(*, region_code: str, now: datetime | None = None) -> str | None:
    """The run itself.

    It fills only needs nobody has taken in hand: submitted or returned for re-dispatch, not
    those a dispatcher is reviewing; needs already dispatched (by hand or by an earlier run)
    or accepted are not open and stay as they are. Offers go through the same path as the
    button, on the standing order of the dispatcher who switched it on; if that person may
    no longer fill the region, the automatic fill stops and says so.
    """
    from zhiyuan.needs.states import NeedState

    now = now or timezone.now()
    # Row lock on the setting: two workers (or a worker and a switch) never run or change the
    # same region at once, and the second one sees the first one's run time.
    row = AutoFill.objects.select_for_update().filter(region_id=region_code, enabled=True).first()
    if row is None or not _due(row, now):
        return None
    actor = row.changed_by
    summary: dict[str, Any]
    if actor is None or not has_perm(actor, "matching.fill", row.region):
        row.enabled = False
        outcome, summary = AutoFillOutcome.STOPPED, {}
        audit_record(
            action=MatchingAudit.AUTOFILL_CHANGED,
            actor=None,
            target=row.region,
            detail={
                "enabled": False,
                "interval_minutes": row.interval_minutes,
                "why": "standing_order_lapsed",
            },
        )
    else:
        try:
            result = _fill_locked(
                actor,
                row.region,
                None,
                states=[NeedState.SUBMITTED, NeedState.RETURNED],
                automatic=True,
            )
        except adapter.MatchingError as exc:
            outcome, summary = AutoFillOutcome.PROBLEM, {"code": exc.code, "message": exc.message}
        else:
            outcome = AutoFillOutcome.DISPATCHED if result.dispatched else AutoFillOutcome.NOTHING
            summary = {
                "needs": result.needs,
                "dispatched": [d.need.pk for d in result.dispatched],
                "offers": result.offers,
                "unfilled": len(result.unfilled),
            }
    row.last_run_at = now
    row.last_outcome = outcome
    row.last_summary = summary
    row.save(update_fields=["enabled", "last_run_at", "last_outcome", "last_summary"])
    return str(outcome)
