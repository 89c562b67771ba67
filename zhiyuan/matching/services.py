"""Matching's writes, and the engine's ranker for the needs app.

* :class:`EngineRanker` implements the needs app's ``Ranker`` protocol
  (``zhiyuan/needs/ranking.py``); select it with
  ``ZHIYUAN_NEED_RANKER = "zhiyuan.matching.services.EngineRanker"``.
* :func:`matching_fill_region` is the dispatcher's "fill all open needs" button: one exact
  solve over a region's open needs, each resulting assignment dispatched through
  ``needs.services.need_dispatch`` (offers the volunteers accept or decline; this app never
  writes a need's rows itself).
* :func:`matching_staffing_suggestions` (a read, kept in selectors.py) says whom to invite to
  an under-filled shift.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_record
from zhiyuan.core.permissions import has_perm, record_refusal, require
from zhiyuan.matching import adapter, selectors
from zhiyuan.matching.models import MatchingAudit
from zhiyuan.matching.selectors import matching_staffing_suggestions

__all__ = [
    "EngineRanker",
    "FillResult",
    "matching_fill_region",
    "matching_staffing_suggestions",
]


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
    from zhiyuan.needs.models import Need
    from zhiyuan.needs.services import need_dispatch
    from zhiyuan.needs.states import OPEN, IllegalTransition
    from zhiyuan.organizations.services import OperationRefused
    from zhiyuan.regions.models import Region

    started = time.perf_counter()
    # Row lock on the district: serialises two "fill all" runs over the same volunteers, so
    # the second sees the first's offers in every volunteer's load and busy slots.
    Region.objects.select_for_update().filter(pk=selectors.district_code(region.code)).first()
    ids = list(selectors.needs_open_in(region.code).values_list("pk", flat=True))
    # Row locks on the open needs, in pk order: a dispatcher dispatching one of them by hand
    # meanwhile waits, and a need dispatched before we got the lock is no longer open below,
    # so nobody's hand-made offers are silently replaced.
    locked = list(
        Need.objects.filter(pk__in=ids, state__in=list(OPEN))
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    needs = [
        n
        for n in selectors.needs_open_in(region.code).filter(pk__in=locked)
        if has_perm(actor, "need.dispatch", n)
    ]
    plan = selectors.plan_needs(needs, region.code)
    result = FillResult(
        region=region,
        total_utility=plan.total_utility,
        violations=plan.violations,
        solutions=plan.solutions,
    )
    by_pk = {n.pk: n for n in needs}
    for pk, code in plan.skipped.items():
        need = by_pk[pk]
        result.unfilled.append(
            Unfilled(need, need.people_needed, 0, code, selectors.skip_text(code))
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
                            note=_("Filled by the matching engine"),
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
    audit_record(
        action=MatchingAudit.REGION_FILLED,
        actor=actor,
        target=region,
        request=request,
        detail={
            "needs": len(needs),
            "dispatched": [d.need.pk for d in result.dispatched],
            "offers": result.offers,
            "unfilled": {str(u.need.pk): u.reason for u in result.unfilled},
        },
    )
    return result
