"""Database rows to engine arrays and back: the only place the matching engine meets Django.

The engine (``zhiyuan.matching.engine``) knows volunteers and tasks as arrays. This module
builds those arrays for one week of work from the people, needs and activities apps, solves
them exactly, and turns the engine's indices and reason codes back into volunteers, needs and
plain sentences a dispatcher reads.

What each array is made of (docs/matching.md, "Integration"):

* positions: WGS-84 projected to kilometres on a plane through the centre of the points of
  the solve (equirectangular; under 0.1% off across a city district);
* skills: one bit per skill some task of this solve requires (people.Skill), one per
  qualification kind *and day* that a task requires (valid on the task's day, Regulations
  Art. 16; lapsed ones go to ``volunteer_expired_skills`` to explain an exclusion), and one bit
  "on call for emergencies" for emergency tasks; 32 bits at most, refused beyond;
* availability: the volunteer's 21 weekly slots minus the slots of the tasks they already
  hold or were offered this week;
* cap and load: a weekly cap (setting ``ZHIYUAN_MATCHING_WEEKLY_CAP``, by region, default 3)
  and the needs and shifts held or offered this week;
* rating: the mean of residents' ratings of needs the volunteer finished, else 4.0;
* sanctioned: a restricting sanction in force (safeguards).

The engine has one travel limit for everyone; each volunteer also says how far they travel
(``max_travel_km``), and some pairs are ruled out for reasons that belong to the pair (the
person helped cannot serve their own need; someone who declined is not asked again; a shift
needs the volunteer free for its whole length). So :func:`solve_exact` takes the engine's
full eligible graph, removes those pairs, and hands the rest to the engine's own network
builder and min-cost-flow solver: the result is the exact optimum of the real problem, and
every pair it returns is also feasible for the engine's checker.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Avg, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from numpy.typing import NDArray

from zhiyuan.matching.engine import (
    Candidates,
    Exclusion,
    Instance,
    UnfilledReason,
    Weights,
    check_assignment,
    explain_pair,
    find_candidates,
)
from zhiyuan.matching.engine.explain import unfilled_tasks
from zhiyuan.matching.engine.objective import MASK_BITS, NUM_SLOTS
from zhiyuan.matching.engine.solver import build_network, solve_network

EARTH_RADIUS_KM = 6371.0088
DEFAULT_RATING = 4.0
DEFAULT_WEEKLY_CAP = 3
DEFAULT_MAX_KM = 10.0
DEFAULT_CONTINUITY_BONUS = 5.0
URGENCY_WEIGHT = {"routine": 1.0, "urgent": 2.0, "emergency": 3.0}
# Parts of the day as the people app counts them: morning until noon, afternoon until six.
PART_BOUNDS = (0, 12, 18, 24)


class MatchingError(Exception):
    """A solve that cannot be set up; ``code`` is stable, ``message`` is for people."""

    code = "matching_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class TooManySkills(MatchingError):
    code = "too_many_skills"


# --- settings ----------------------------------------------------------------------------------


def weekly_cap_for(region_code: str) -> int:
    """The weekly cap of a volunteer living in ``region_code``.

    ``ZHIYUAN_MATCHING_WEEKLY_CAP`` is a number, or a dict from region code prefixes to numbers
    (the longest matching prefix wins; ``""`` is the default).
    """
    value = getattr(settings, "ZHIYUAN_MATCHING_WEEKLY_CAP", DEFAULT_WEEKLY_CAP)
    if isinstance(value, dict):
        best = max((p for p in value if region_code.startswith(p)), key=len, default=None)
        return int(value[best]) if best is not None else DEFAULT_WEEKLY_CAP
    return int(value)


def max_km() -> float:
    """The longest trip anyone is sent on, whatever they said they would travel."""
    return float(getattr(settings, "ZHIYUAN_MATCHING_MAX_KM", DEFAULT_MAX_KM))


def weights() -> Weights:
    """The optional terms of the objective in force (continuity of care on, fairness off)."""
    return Weights(
        continuity_bonus=float(
            getattr(settings, "ZHIYUAN_MATCHING_CONTINUITY_BONUS", DEFAULT_CONTINUITY_BONUS)
        ),
        fairness_weight=float(getattr(settings, "ZHIYUAN_MATCHING_FAIRNESS_WEIGHT", 0.0)),
    )


# --- time: weeks and slots ---------------------------------------------------------------------


def week_of(moment: datetime) -> date:
    """The Monday (local date) of the week ``moment`` falls in."""
    local = timezone.localtime(moment).date()
    return local - timedelta(days=local.weekday())


def week_bounds(monday: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(monday, dtime.min), tz)
    return start, start + timedelta(days=7)


def slot_of(moment: datetime) -> int:
    """Weekly slot ``day * 3 + part`` of a moment, in local time (people.VolunteerProfile)."""
    local = timezone.localtime(moment)
    part = 0 if local.hour < 12 else 1 if local.hour < 18 else 2
    return local.weekday() * 3 + part


def slots_spanned(start: datetime, end: datetime | None, monday: date) -> int:
    """Mask of the slots of the week of ``monday`` that ``[start, end)`` overlaps.

    Without an end, just the slot the start falls in (if in that week).
    """
    week_start, week_end = week_bounds(monday)
    if end is None:
        return 1 << slot_of(start) if week_start <= start < week_end else 0
    mask = 0
    tz = timezone.get_current_timezone()
    for day in range(7):
        d = monday + timedelta(days=day)
        for part in range(3):
            lo = timezone.make_aware(datetime.combine(d, dtime(PART_BOUNDS[part])), tz)
            hi = (
                timezone.make_aware(datetime.combine(d, dtime(PART_BOUNDS[part + 1])), tz)
                if part < 2
                else timezone.make_aware(datetime.combine(d + timedelta(days=1), dtime.min), tz)
            )
            if start < hi and end > lo:
                mask |= 1 << (day * 3 + part)
    return mask


def slot_label(slot: int) -> str:
    """A weekly slot in words, in the current language: "Tuesday afternoon"."""
    from zhiyuan.people.models import SLOT_PARTS

    days = [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ]
    return f"{days[slot // 3]} {SLOT_PARTS[slot % 3]}"


# --- positions ---------------------------------------------------------------------------------


def project(
    lat: NDArray[np.float64], lng: NDArray[np.float64], centre: tuple[float, float]
) -> NDArray[np.float64]:
    """WGS-84 degrees to kilometres east and north of ``centre`` (equirectangular)."""
    lat0, lng0 = centre
    x = EARTH_RADIUS_KM * np.radians(lng - lng0) * math.cos(math.radians(lat0))
    y = EARTH_RADIUS_KM * np.radians(lat - lat0)
    return np.column_stack([x, y]).astype(np.float64)


# --- what the engine is asked -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One piece of work as the adapter sees it: a need or a shift, in plain values.

    ``at`` is when the work starts; ``end`` is set for work that occupies the volunteer for a
    stretch (a shift: free for every slot it spans). ``excluded`` maps users who may not be
    sent to a reason code (``requester``, ``involved``, ``signed_up``).
    """

    key: str
    obj: Any
    lat: float
    lng: float
    at: datetime
    people: int
    urgency: float
    emergency: bool = False
    end: datetime | None = None
    skill_ids: frozenset[int] = frozenset()
    qualifications: frozenset[str] = frozenset()
    excluded: dict[int, str] = field(default_factory=dict)
    preferred_user: int | None = None

    @property
    def slot(self) -> int:
        return slot_of(self.at)

    @property
    def week(self) -> date:
        return week_of(self.at)

    @property
    def day(self) -> date:
        return timezone.localtime(self.at).date()


@dataclass
class VolunteerRow:
    """One volunteer's facts for one week, read from the database."""

    profile: Any
    user_id: int
    skill_ids: frozenset[int]
    qualifications: list[tuple[str, date | None]]
    availability: int
    lat: float
    lng: float
    reach_km: float
    emergency_ok: bool
    rating: float
    rated: bool
    cap: int
    load: int
    busy: int
    sanctioned: bool

    @property
    def name(self) -> str:
        user = self.profile.user
        return str(user.name or self.profile.volunteer_number)

    def holds(self, kind: str, day: date) -> bool:
        return any(
            k == kind and (until is None or until >= day) for k, until in self.qualifications
        )

    def lapsed(self, kind: str, day: date) -> bool:
        return any(k == kind for k, _until in self.qualifications) and not self.holds(kind, day)


def volunteer_rows(
    profiles: Sequence[Any],
    monday: date,
    *,
    skip_needs: Iterable[int] = (),
    skip_shifts: Iterable[int] = (),
) -> list[VolunteerRow]:
    """Facts of ``profiles`` (prefetched skills and qualifications) for the week of ``monday``.

    Load and busy slots count needs held or offered, and shift seats held or offered, in that
    week; ``skip_needs`` and ``skip_shifts`` are the work being solved, whose parts must not
    count against anyone. Four queries, whatever the number of people.
    """
    from zhiyuan.activities.models import SEAT_HOLDING, Signup
    from zhiyuan.needs.models import HOLDING, AssignmentState, NeedAssignment

    users = [p.user_id for p in profiles]
    start, end = week_bounds(monday)
    load: dict[int, int] = defaultdict(int)
    busy: dict[int, int] = defaultdict(int)
    # An open offer counts like a held task: the engine must not offer one person two tasks
    # in one slot, nor more than the cap, while the first offer waits for an answer.
    parts = (
        NeedAssignment.objects.filter(
            volunteer_id__in=users, state__in=[AssignmentState.OFFERED, *HOLDING]
        )
        .exclude(need_id__in=list(skip_needs))
        .annotate(at=Coalesce("need__window_start", "offered_at", "need__submitted_at"))
        .filter(at__gte=start, at__lt=end)
        .values_list("volunteer_id", "at")
    )
    for user_id, at in parts:
        load[user_id] += 1
        busy[user_id] |= 1 << slot_of(at)
    seats = (
        Signup.objects.filter(
            volunteer_id__in=users,
            status__in=list(SEAT_HOLDING),
            shift__starts_at__lt=end,
            shift__ends_at__gt=start,
        )
        .exclude(shift_id__in=list(skip_shifts))
        .values_list("volunteer_id", "shift__starts_at", "shift__ends_at")
    )
    for user_id, s_start, s_end in seats:
        load[user_id] += 1
        busy[user_id] |= slots_spanned(s_start, s_end, monday)
    ratings = volunteer_ratings(users)
    barred = volunteers_sanctioned(users)
    limit = max_km()
    rows = []
    for p in profiles:
        rating = ratings.get(p.user_id)
        rows.append(
            VolunteerRow(
                profile=p,
                user_id=p.user_id,
                skill_ids=_skill_ids(p),
                qualifications=_qualifications(p),
                availability=int(p.availability) & ((1 << NUM_SLOTS) - 1),
                lat=float(p.home_lat),
                lng=float(p.home_lng),
                reach_km=min(float(p.max_travel_km), limit),
                emergency_ok=bool(p.emergency_ok),
                rating=rating if rating is not None else DEFAULT_RATING,
                rated=rating is not None,
                cap=weekly_cap_for(p.region_id),
                load=load[p.user_id],
                busy=busy[p.user_id],
                sanctioned=p.user_id in barred,
            )
        )
    return rows


def _skill_ids(profile: Any) -> frozenset[int]:
    # selectors.volunteer_pool attaches them flat; other callers prefetch the relation.
    if hasattr(profile, "matching_skill_ids"):
        return frozenset(profile.matching_skill_ids)
    return frozenset(s.pk for s in profile.skills.all())


def _qualifications(profile: Any) -> list[tuple[str, date | None]]:
    if hasattr(profile, "matching_qualifications"):
        return list(profile.matching_qualifications)
    return [(q.kind, q.valid_until) for q in profile.qualifications.all()]


def volunteer_ratings(users: Sequence[int]) -> dict[int, float]:
    """Mean rating residents gave the needs each volunteer finished (1-5), where any."""
    from zhiyuan.needs.models import AssignmentState, NeedAssignment

    rows = (
        NeedAssignment.objects.filter(
            volunteer_id__in=list(users),
            state=AssignmentState.FINISHED,
            need__rating__isnull=False,
        )
        .values("volunteer_id")
        .annotate(mean=Avg("need__rating__score"))
    )
    return {r["volunteer_id"]: min(5.0, max(1.0, float(r["mean"]))) for r in rows}


def volunteers_sanctioned(users: Sequence[int], at: datetime | None = None) -> set[int]:
    """Who among ``users`` has a restricting sanction in force at ``at`` — in one query.

    The same rule as ``safeguards.selectors.volunteer_can_serve`` (which asks one person at a
    time); tests/matching/test_adapter.py holds the two to the same answers.
    """
    from zhiyuan.safeguards.models import RESTRICTING, PartyKind, Sanction

    at = at or timezone.now()
    return set(
        Sanction.objects.filter(
            Q(starts_at__lte=at)
            & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))
            & (Q(lifted_at__isnull=True) | Q(lifted_at__gt=at)),
            party_kind=PartyKind.VOLUNTEER,
            user_id__in=list(users),
            kind__in=list(RESTRICTING),
        ).values_list("user_id", flat=True)
    )


# --- the built problem ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bit:
    """What one bit of the skill masks stands for."""

    kind: str  # "skill", "qualification" or "emergency"
    ref: Any  # Skill pk, (qualification kind, day), or None
    thing: Any = None  # the Skill, for its name

    @property
    def label(self) -> str:
        """The bit's name in the current language."""
        from zhiyuan.people.models import QualificationKind

        if self.kind == "skill":
            return str(self.thing)
        if self.kind == "qualification":
            kind = self.ref[0]
            return str(dict(QualificationKind.choices).get(kind, kind))
        return _("on call for emergencies")


@dataclass(frozen=True, eq=False)
class Built:
    """One week's instance with the way back to the rows it came from."""

    instance: Instance
    tasks: list[TaskSpec]
    volunteers: list[VolunteerRow]
    week: date
    centre: tuple[float, float]
    bits: list[Bit]
    weights: Weights
    real_free: NDArray[np.uint32]  # availability minus busy slots
    task_mask: NDArray[np.uint32]  # slots a task needs the volunteer free in
    task_emergency: NDArray[np.bool_]
    reach_km: NDArray[np.float64]
    excluded: dict[tuple[int, int], str]  # (volunteer index, task index) -> reason code

    def pair_allowed(
        self, volunteer: NDArray[Any], task: NDArray[Any], distance_km: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """The adapter's own rules on top of the engine's eligibility, pair by pair."""
        v = np.asarray(volunteer, np.int64)
        t = np.asarray(task, np.int64)
        ok = distance_km <= self.reach_km[v]
        mask = self.task_mask[t]
        ok &= self.task_emergency[t] | ((self.real_free[v] & mask) == mask)
        if self.excluded:
            bad = np.array(
                [(a, b) in self.excluded for a, b in zip(v.tolist(), t.tolist(), strict=True)],
                dtype=np.bool_,
            )
            ok &= ~bad
        return np.asarray(ok, np.bool_)


def _bits_for(
    tasks: Sequence[TaskSpec], rows: Sequence[VolunteerRow]
) -> tuple[list[Bit], dict[tuple[str, date], int]]:
    """The bits of this solve, and which bit each (qualification kind, day) uses."""
    from zhiyuan.people.models import Skill

    skill_ids = sorted({s for t in tasks for s in t.skill_ids})
    found = Skill.objects.in_bulk(skill_ids)
    bits = [Bit("skill", pk, found.get(pk, pk)) for pk in skill_ids]
    # A qualification is a bit per (kind, day): valid on Tuesday may have lapsed by Friday.
    # Days on which exactly the same people hold it share one bit.
    seen: dict[tuple[str, tuple[int, ...]], int] = {}
    qual_index: dict[tuple[str, date], int] = {}
    for kind, day in sorted({(k, t.day) for t in tasks for k in t.qualifications}):
        holders = tuple(i for i, r in enumerate(rows) if r.holds(kind, day))
        key = (kind, holders)
        if key not in seen:
            seen[key] = len(bits)
            bits.append(Bit("qualification", (kind, day)))
        qual_index[(kind, day)] = seen[key]
    if any(t.emergency for t in tasks):
        bits.append(Bit("emergency", None))
    if len(bits) > MASK_BITS:
        raise TooManySkills(
            _(
                "These tasks ask for %(n)d different skills and qualifications; the matching "
                "engine takes %(max)d at most in one solve. Fill a smaller area at a time."
            )
            % {"n": len(bits), "max": MASK_BITS}
        )
    return bits, qual_index


def build(
    tasks: Sequence[TaskSpec], rows: Sequence[VolunteerRow], *, w: Weights | None = None
) -> Built:
    """The engine instance for ``tasks`` (all in one week) and ``rows`` (facts of that week)."""
    w = w or weights()
    weeks = {t.week for t in tasks}
    if len(weeks) > 1:
        raise ValueError("build: every task of one instance must fall in the same week")
    monday = weeks.pop() if weeks else week_of(timezone.now())
    bits, qual_index = _bits_for(tasks, rows)
    skill_bit = {b.ref: i for i, b in enumerate(bits) if b.kind == "skill"}
    emergency_bit = next((i for i, b in enumerate(bits) if b.kind == "emergency"), None)

    n, m = len(rows), len(tasks)
    points_lat = np.array([r.lat for r in rows] + [t.lat for t in tasks], np.float64)
    points_lng = np.array([r.lng for r in rows] + [t.lng for t in tasks], np.float64)
    centre = (float(points_lat.mean()), float(points_lng.mean())) if points_lat.size else (0.0, 0.0)
    xy = project(points_lat, points_lng, centre)

    v_skills = np.zeros(n, np.uint32)
    v_expired = np.zeros(n, np.uint32)
    for i, r in enumerate(rows):
        mask = expired = 0
        for pk in r.skill_ids:
            if pk in skill_bit:
                mask |= 1 << skill_bit[pk]
        for (kind, day), bit in qual_index.items():
            if r.holds(kind, day):
                mask |= 1 << bit
            elif r.lapsed(kind, day):
                expired |= 1 << bit
        if emergency_bit is not None and r.emergency_ok:
            mask |= 1 << emergency_bit
        v_skills[i] = mask
        v_expired[i] = expired & ~mask

    t_skills = np.zeros(m, np.uint32)
    t_mask = np.zeros(m, np.uint32)
    t_emergency = np.zeros(m, np.bool_)
    emergency_slots = 0
    for j, t in enumerate(tasks):
        mask = 0
        for pk in t.skill_ids:
            mask |= 1 << skill_bit[pk]
        for kind in t.qualifications:
            mask |= 1 << qual_index[(kind, t.day)]
        if t.emergency:
            assert emergency_bit is not None
            mask |= 1 << emergency_bit
            emergency_slots |= 1 << t.slot
            t_emergency[j] = True
        t_skills[j] = mask
        t_mask[j] = slots_spanned(t.at, t.end, monday) or (1 << t.slot)

    real_free = np.array([r.availability & ~r.busy for r in rows], np.uint32).reshape(n)
    # Someone on call for emergencies can go to an emergency in any slot they are not busy
    # in; the pair rule keeps them from ordinary tasks in slots they are not free in.
    slots = np.array(
        [(r.availability | (emergency_slots if r.emergency_ok else 0)) & ~r.busy for r in rows],
        np.uint32,
    ).reshape(n)
    user_index = {r.user_id: i for i, r in enumerate(rows)}
    preferred = np.array(
        [user_index.get(t.preferred_user, -1) if t.preferred_user else -1 for t in tasks], np.int64
    ).reshape(m)
    excluded = {
        (user_index[u], j): why
        for j, t in enumerate(tasks)
        for u, why in t.excluded.items()
        if u in user_index
    }
    instance = Instance(
        volunteer_xy_km=xy[:n],
        volunteer_skills=v_skills,
        volunteer_slots=slots,
        volunteer_cap=np.array([r.cap for r in rows], np.int64).reshape(n),
        volunteer_rating=np.array([r.rating for r in rows], np.float64).reshape(n),
        task_xy_km=xy[n:],
        task_skills=t_skills,
        task_slot=np.array([t.slot for t in tasks], np.int64).reshape(m),
        task_need=np.array([t.people for t in tasks], np.int64).reshape(m),
        task_urgency=np.array([t.urgency for t in tasks], np.float64).reshape(m),
        max_km=max_km(),
        volunteer_load=np.array([r.load for r in rows], np.int64).reshape(n),
        volunteer_sanctioned=np.array([r.sanctioned for r in rows], np.bool_).reshape(n),
        volunteer_expired_skills=v_expired,
        task_preferred_volunteer=preferred,
    )
    return Built(
        instance=instance,
        tasks=list(tasks),
        volunteers=list(rows),
        week=monday,
        centre=centre,
        bits=bits,
        weights=w,
        real_free=real_free,
        task_mask=t_mask,
        task_emergency=t_emergency,
        reach_km=np.array([r.reach_km for r in rows], np.float64).reshape(n),
        excluded=excluded,
    )


# --- solving -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Short:
    """A task that got fewer people than it needs, with the reason code and the funnel."""

    task: int
    need: int
    assigned: int
    reason: str
    funnel: dict[str, int]


@dataclass(frozen=True, eq=False)
class Solution:
    """The exact optimum of one built week."""

    built: Built
    volunteer: NDArray[np.int64]
    task: NDArray[np.int64]
    utility: NDArray[np.float64]
    total_utility: float
    short: list[Short]
    violations: dict[str, int]
    seconds: dict[str, float]

    def pairs_of(self, task: int) -> list[int]:
        return [int(v) for v, t in zip(self.volunteer, self.task, strict=True) if t == task]


# Reasons the adapter adds to the engine's (UnfilledReason) for pairs it rules out itself.
TOO_FAR_FOR_THEM = "too_far_for_them"
NOT_FREE_FOR_ALL_OF_IT = "not_free_for_all_of_it"
ALREADY_INVOLVED = "already_involved"


def solve_exact(built: Built) -> Solution:
    """The optimal assignment of ``built`` on the full eligible graph (no pruning)."""
    inst = built.instance
    clock = time.perf_counter()
    raw = find_candidates(inst, weights=built.weights, pruning=None, positive_only=False)
    allowed = built.pair_allowed(raw.volunteer, raw.task, raw.distance_km)
    m = inst.n_tasks
    worth = allowed & (raw.utility > 0)
    # The engine's candidates with the adapter's pair rules applied; the counts explain the
    # tasks left short exactly as the engine would have.
    cands = Candidates(
        task=raw.task[worth],
        volunteer=raw.volunteer[worth],
        distance_km=raw.distance_km[worth],
        utility=raw.utility[worth],
        n_eligible=np.bincount(raw.task[allowed], minlength=m).astype(np.int64),
        n_positive=np.bincount(raw.task[worth], minlength=m).astype(np.int64),
        pruned=False,
    )
    seconds = {"candidates": time.perf_counter() - clock}
    clock = time.perf_counter()
    net = build_network(inst, cands, built.weights)
    sol = solve_network(net)
    chosen = np.flatnonzero(sol.chosen)
    volunteer = cands.volunteer[chosen].astype(np.int64)
    task = cands.task[chosen].astype(np.int64)
    utility = cands.utility[chosen]
    order = np.lexsort((volunteer, task))
    volunteer, task, utility = volunteer[order], task[order], utility[order]
    seconds["solve"] = time.perf_counter() - clock
    assigned = np.bincount(task, minlength=m).astype(np.int64)

    short: list[Short] = []
    engine_reasons = {u.task: u for u in unfilled_tasks(inst, cands, assigned)}
    for j in np.flatnonzero(assigned < inst.task_need).tolist():
        need, got = int(inst.task_need[j]), int(assigned[j])
        if cands.n_eligible[j] == 0 and int(raw.n_eligible[j]) > 0:
            # The engine found people; the adapter's own rules ruled every one of them out.
            ruled = np.flatnonzero(raw.task == j)
            v = raw.volunteer[ruled].astype(np.int64)
            far = raw.distance_km[ruled] > built.reach_km[v]
            mask = built.task_mask[j]
            unfree = ~built.task_emergency[j] & ((built.real_free[v] & mask) != mask)
            if (~far & ~unfree).any():
                reason = ALREADY_INVOLVED
            elif (~far).any():
                reason = NOT_FREE_FOR_ALL_OF_IT
            else:
                reason = TOO_FAR_FOR_THEM
            short.append(Short(j, need, got, reason, {"eligible": int(raw.n_eligible[j])}))
            continue
        u = engine_reasons[j]
        short.append(Short(j, need, got, str(u.reason), dict(u.funnel)))
    total = float(utility.sum())
    if built.weights.continuity_bonus:
        total -= built.weights.continuity_bonus * float((inst.preferred[task] == volunteer).sum())
    return Solution(
        built=built,
        volunteer=volunteer,
        task=task,
        utility=utility,
        total_utility=total,
        short=short,
        violations=check_assignment(inst, volunteer, task),
        seconds=seconds,
    )


def order_for_task(built: Built, t: int = 0) -> tuple[list[int], list[int]]:
    """Volunteers who can take task ``t`` (best utility first, then nearer, then lower user
    id) and those who cannot (nearest first), as indices — decided by the engine's candidate
    rule plus the adapter's pair rules, without explaining anyone yet."""
    inst = built.instance
    raw = find_candidates(inst, weights=built.weights, pruning=None, positive_only=False)
    mine = raw.task == t
    v = raw.volunteer[mine].astype(np.int64)
    allowed = built.pair_allowed(v, raw.task[mine], raw.distance_km[mine])
    v, util, dist = v[allowed], raw.utility[mine][allowed], raw.distance_km[mine][allowed]
    users = np.array([r.user_id for r in built.volunteers], np.int64)
    good = v[np.lexsort((users[v], dist, -util))] if v.size else v
    delta = inst.volunteer_xy_km - inst.task_xy_km[t]
    everyone = np.hypot(delta[:, 0], delta[:, 1])
    rest = np.setdiff1d(np.arange(inst.n_volunteers), good)
    rest = rest[np.lexsort((users[rest], everyone[rest]))] if rest.size else rest
    return good.tolist(), rest.tolist()


# --- explanations in plain words -----------------------------------------------------------------


@dataclass(frozen=True)
class PairView:
    """One volunteer for one task, as a dispatcher reads it."""

    row: VolunteerRow
    eligible: bool
    utility: float
    score: float
    distance_km: float
    reasons: list[str]
    codes: list[str]


def _names(built: Built, bit_numbers: Iterable[int]) -> str:
    comma = ", " if (get_language() or "").startswith("en") else "、"
    return comma.join(built.bits[b].label for b in bit_numbers if built.bits[b].kind != "emergency")


def explain(built: Built, v: int, t: int) -> PairView:
    """Why ``v`` suits task ``t`` (distance, skills, free then, rating, load, the arithmetic),
    or why not (qualification expired, already busy, too far...)."""
    e = explain_pair(built.instance, v, t, built.weights)
    row = built.volunteers[v]
    task = built.tasks[t]
    dist = e.distance_km
    codes: list[str] = []
    reasons: list[str] = []
    emergency_bit = next((i for i, b in enumerate(built.bits) if b.kind == "emergency"), None)
    missing = [b for b in e.skills_missing if b != emergency_bit]
    if Exclusion.QUALIFICATION_EXPIRED in e.exclusions:
        codes.append("qualification_expired")
        reasons.append(
            _("Qualification expired before the day: %(names)s")
            % {"names": _names(built, e.skills_expired)}
        )
    if missing:
        codes.append("missing_skill")
        reasons.append(_("Lacks what is asked for: %(names)s") % {"names": _names(built, missing)})
    if emergency_bit is not None and emergency_bit in e.skills_missing:
        codes.append("not_on_call")
        reasons.append(_("Not on call for emergencies"))
    mask = int(built.task_mask[t])
    if not task.emergency and (int(built.real_free[v]) & mask) != mask:
        if (row.availability & mask) == mask:
            codes.append("busy_then")
            reasons.append(
                _("Already busy then: holds another task on %(slot)s")
                % {"slot": slot_label(task.slot)}
            )
        else:
            codes.append("not_free")
            reasons.append(_("Not usually free on %(slot)s") % {"slot": slot_label(task.slot)})
    if dist > row.reach_km:
        codes.append("too_far")
        reasons.append(
            _("%(km).1f km away: further than they travel (%(max)g km)")
            % {"km": dist, "max": row.reach_km}
        )
    if Exclusion.CAP_ZERO in e.exclusions:
        codes.append("cap_zero")
        reasons.append(_("Takes no tasks at present"))
    elif Exclusion.AT_CAP in e.exclusions:
        codes.append("at_cap")
        reasons.append(
            _("Already busy: %(n)d of %(cap)d tasks this week")
            % {"n": e.current_load, "cap": e.cap}
        )
    if e.sanctioned:
        codes.append("sanctioned")
        reasons.append(_("Barred from service by a sanction"))
    why = built.excluded.get((v, t))
    if why:
        codes.append(why)
        reasons.append(_excluded_text().get(why, why))
    if codes:
        return PairView(row, False, e.utility, 0.0, dist, reasons, codes)

    reasons.append(
        _("%(km).1f km away (travels up to %(max)g km)") % {"km": dist, "max": row.reach_km}
    )
    if e.skills_required and [b for b in e.skills_matched if b != emergency_bit]:
        reasons.append(
            _("Has what is asked for: %(names)s")
            % {"names": _names(built, [b for b in e.skills_matched if b != emergency_bit])}
        )
    elif not task.skill_ids and not task.qualifications:
        reasons.append(_("No special skill needed"))
    if task.emergency:
        reasons.append(_("On call for emergencies"))
    else:
        reasons.append(_("Free on %(slot)s") % {"slot": slot_label(task.slot)})
    reasons.append(
        _("Rated %(r).1f by residents") % {"r": e.rating}
        if row.rated
        else _("No ratings yet (counted as %(r).1f)") % {"r": e.rating}
    )
    reasons.append(_("%(n)d of %(cap)d tasks this week") % {"n": e.current_load, "cap": e.cap})
    if e.preferred:
        reasons.append(_("Helped this resident before"))
    reasons.append(
        _("Match value %(u).1f = urgency %(g)g × (10 + 2 × %(r).1f) − %(km).1f km")
        % {"u": e.utility, "g": e.urgency, "r": e.rating, "km": dist}
        + (_(" + %(b)g for continuity") % {"b": e.continuity_bonus} if e.continuity_bonus else "")
    )
    best = e.urgency * 20.0 + built.weights.continuity_bonus
    score = round(min(1.0, max(0.0, e.utility / best)), 4) if best > 0 else 0.0
    return PairView(row, True, e.utility, score, dist, reasons, [])


def _excluded_text() -> dict[str, str]:
    return {
        "requester": _("Asked for this help, so cannot serve it"),
        "involved": _("Already declined this need or has a part in it"),
        "signed_up": _("Already signed up for this shift"),
    }


def unfilled_text(reason: str) -> str:
    """Why a task stayed short, in the current language."""
    texts = {
        UnfilledReason.NOBODY_IN_REACH.value: _("No volunteer lives within reach."),
        UnfilledReason.NOBODY_QUALIFIED.value: _(
            "No volunteer within reach has the skills or qualifications asked for."
        ),
        UnfilledReason.QUALIFICATIONS_EXPIRED.value: _(
            "The volunteers within reach who had the qualification let it expire."
        ),
        UnfilledReason.NOBODY_FREE_IN_SLOT.value: _(
            "No qualified volunteer within reach is free at that time."
        ),
        UnfilledReason.NOBODY_WITH_ROOM.value: _(
            "Every qualified volunteer free then already has all the tasks they take this week."
        ),
        UnfilledReason.ALL_SANCTIONED.value: _(
            "The only volunteers who could go are barred by a sanction."
        ),
        UnfilledReason.NOT_WORTH_THE_TRIP.value: _(
            "Every volunteer who could go lives too far for the task's value."
        ),
        UnfilledReason.TOO_FEW_ELIGIBLE.value: _(
            "Fewer volunteers can go than are needed; all of them were asked."
        ),
        UnfilledReason.NEEDED_ELSEWHERE.value: _(
            "The volunteers who could go are needed more on other tasks."
        ),
        TOO_FAR_FOR_THEM: _(
            "The volunteers who could go live further away than they are willing to travel."
        ),
        NOT_FREE_FOR_ALL_OF_IT: _("Nobody who could go is free for all of the time it takes."),
        ALREADY_INVOLVED: _(
            "Everyone who could go already declined it, has a part in it, or asked for it."
        ),
    }
    return texts.get(reason, reason)
