"""Reads for matching: who could go, the problems to solve, a need's ranked volunteers, the
volunteers to invite to an under-filled shift, and the numbers behind the "fill all" page.

Everything here reads; the one write (dispatching a filled region) is in services.py and goes
through the needs app's own dispatch service.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.matching import adapter
from zhiyuan.matching.adapter import Built, PairView, Solution, TaskSpec

# Degrees of latitude per kilometre; a box around the tasks before exact distances.
KM_PER_DEGREE = 111.32


def district_code(region_code: str) -> str:
    """The district (level 3) a region lies in, or the region itself above that level."""
    from zhiyuan.regions.codes import parse_code

    parsed = parse_code(region_code)
    return region_code[:6].ljust(12, "0") if parsed.level >= 3 else region_code


def volunteer_pool(
    region_code: str,
    *,
    near: Sequence[tuple[float, float]] = (),
    user_ids: Iterable[int] | None = None,
) -> list[Any]:
    """Volunteers who may be sent: an active profile with a home point, an active account
    holding the volunteer role, living in the district of ``region_code``; with ``near``, only
    those within the travel limit's box around any of those points."""
    from zhiyuan.accounts.models import RoleGrant
    from zhiyuan.accounts.roles import Role
    from zhiyuan.people.models import ProfileStatus, Qualification, VolunteerProfile
    from zhiyuan.regions.selectors import region_subtree_q

    # Only people who hold the volunteer role may accept (ability "need.serve").
    serving = RoleGrant.objects.filter(
        user_id=OuterRef("user_id"), role=Role.VOLUNTEER, revoked_at__isnull=True
    )
    rows = VolunteerProfile.objects.filter(
        Exists(serving),
        region_subtree_q([district_code(region_code)]),
        status=ProfileStatus.ACTIVE,
        user__is_active=True,
        home_lat__isnull=False,
        home_lng__isnull=False,
    )
    if user_ids is not None:
        rows = rows.filter(user_id__in=list(user_ids))
    if near:
        reach = adapter.max_km()
        lats = [p[0] for p in near]
        lngs = [p[1] for p in near]
        dlat = reach / KM_PER_DEGREE
        dlng = reach / (KM_PER_DEGREE * max(0.1, math.cos(math.radians(max(map(abs, lats))))))
        rows = rows.filter(
            home_lat__gte=min(lats) - dlat,
            home_lat__lte=max(lats) + dlat,
            home_lng__gte=min(lngs) - dlng,
            home_lng__lte=max(lngs) + dlng,
        )
    # Only the columns matching reads: a district's thousands of rows convert faster.
    profiles = list(rows.select_related("user").only(*POOL_FIELDS).order_by("user_id"))
    # Skills and qualifications in two flat queries rather than prefetch_related: for a
    # district of thousands the ORM's per-object prefetch costs more than the whole solve.
    wanted = rows.values("pk")
    skill_ids: dict[int, set[int]] = defaultdict(set)
    links = VolunteerProfile.skills.through.objects.filter(volunteerprofile_id__in=wanted)
    for profile_id, skill_id in links.values_list("volunteerprofile_id", "skill_id"):
        skill_ids[profile_id].add(skill_id)
    held: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    quals = Qualification.objects.filter(profile_id__in=wanted)
    for profile_id, kind, until in quals.values_list("profile_id", "kind", "valid_until"):
        held[profile_id].append((kind, until))
    for p in profiles:
        # Read back by adapter.volunteer_rows (plain attributes on the loaded rows).
        setattr(p, "matching_skill_ids", frozenset(skill_ids[p.pk]))  # noqa: B010
        setattr(p, "matching_qualifications", held[p.pk])  # noqa: B010
    return profiles


POOL_FIELDS = (
    "user_id",
    "volunteer_number",
    "region_id",
    "availability",
    "home_lat",
    "home_lng",
    "max_travel_km",
    "emergency_ok",
    "status",
    "user__name",
    "user__is_active",
)


# --- needs as tasks ----------------------------------------------------------------------------


def needs_open_in(region_code: str, states: Iterable[str] | None = None) -> QuerySet[Any]:
    """Needs of the region's subtree waiting for the dispatcher (submitted, under review or
    returned, or only the given ones of those ``states``), oldest first."""
    from zhiyuan.needs.models import Need
    from zhiyuan.needs.states import OPEN
    from zhiyuan.regions.selectors import region_subtree_q

    wanted = list(OPEN) if states is None else [s for s in states if s in OPEN]
    return (
        Need.objects.filter(region_subtree_q([region_code]), state__in=wanted)
        .select_related("category", "category__parent", "region")
        .prefetch_related("skills")
        .order_by("submitted_at", "pk")
    )


def needs_open_in_scope(codes: list[str] | None, *, limit: int = 100) -> list[Any]:
    """Needs waiting for dispatch under any of ``codes`` (None: everywhere), most urgent and
    oldest first, at most ``limit``."""
    from zhiyuan.needs.models import Need
    from zhiyuan.needs.states import OPEN
    from zhiyuan.regions.selectors import region_subtree_q

    urgency_order = {"emergency": 0, "urgent": 1, "routine": 2}
    rows = list(
        Need.objects.filter(region_subtree_q(codes), state__in=list(OPEN))
        .select_related("category", "category__parent", "region")
        .order_by("submitted_at", "pk")[:limit]
    )
    return sorted(rows, key=lambda n: (urgency_order.get(n.urgency, 3), n.submitted_at, n.pk))


NO_POINT = "no_point"
WINDOW_OVER = "window_over"
NOBODY_NEEDED = "nobody_needed"


def need_tasks(
    needs: Sequence[Any], now: datetime | None = None
) -> tuple[list[TaskSpec], dict[int, str]]:
    """Each need as a task, and the needs that cannot be one (need pk -> reason code).

    A need "as soon as possible", or whose window has begun, is placed now; otherwise at the
    start of its window. Three queries for any number of needs.
    """
    from zhiyuan.needs.models import HOLDING, AssignmentState, NeedAssignment

    now = now or timezone.now()
    ids = [n.pk for n in needs]
    involved: dict[int, set[int]] = defaultdict(set)
    holding: dict[int, int] = defaultdict(int)
    for need_id, user_id, state in NeedAssignment.objects.filter(need_id__in=ids).values_list(
        "need_id", "volunteer_id", "state"
    ):
        if state != AssignmentState.WITHDRAWN:
            involved[need_id].add(user_id)
        if state in HOLDING:
            holding[need_id] += 1
    preferred = previous_helpers([n.beneficiary_key for n in needs if n.beneficiary_key])
    tasks: list[TaskSpec] = []
    skipped: dict[int, str] = {}
    for need in needs:
        if need.lat is None or need.lng is None:
            skipped[need.pk] = NO_POINT
            continue
        if need.window_end is not None and need.window_end <= now:
            skipped[need.pk] = WINDOW_OVER
            continue
        people = need.people_needed - holding[need.pk]
        if people <= 0:
            skipped[need.pk] = NOBODY_NEEDED
            continue
        at = max(need.window_start, now) if need.window_start is not None else now
        excluded = dict.fromkeys(involved[need.pk], "involved")
        for user_id in (need.posted_by_id, need.beneficiary_id):
            if user_id:
                excluded[user_id] = "requester"
        tasks.append(
            TaskSpec(
                key=f"need:{need.pk}",
                obj=need,
                lat=float(need.lat),
                lng=float(need.lng),
                at=at,
                people=people,
                urgency=adapter.URGENCY_WEIGHT.get(need.urgency, 1.0),
                emergency=need.urgency == "emergency",
                skill_ids=frozenset(s.pk for s in need.skills.all()),
                qualifications=frozenset(need.qualifications or []),
                excluded=excluded,
                preferred_user=preferred.get(need.beneficiary_key),
            )
        )
    return tasks, skipped


def previous_helpers(beneficiary_keys: Iterable[str]) -> dict[str, int]:
    """For each person helped, the volunteer who most recently finished a need for them
    (continuity of care: the same face at the door)."""
    from zhiyuan.needs.models import AssignmentState, NeedAssignment

    keys = list(set(beneficiary_keys))
    if not keys:
        return {}
    found: dict[str, int] = {}
    rows = (
        NeedAssignment.objects.filter(
            need__beneficiary_key__in=keys, state=AssignmentState.FINISHED
        )
        .order_by("need__beneficiary_key", "-finished_at", "-pk")
        .values_list("need__beneficiary_key", "volunteer_id")
    )
    for key, user_id in rows:
        found.setdefault(key, user_id)
    return found


@dataclass
class Plan:
    """Solved weeks for a set of needs, and the needs that could not be placed."""

    solutions: list[Solution]
    skipped: dict[int, str]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_utility(self) -> float:
        return sum(s.total_utility for s in self.solutions)

    @property
    def violations(self) -> int:
        return sum(sum(s.violations.values()) for s in self.solutions)


def plan_needs(needs: Sequence[Any], region_code: str, now: datetime | None = None) -> Plan:
    """The exact optimum for ``needs``, one week at a time (caps and slots are weekly)."""
    started = time.perf_counter()
    tasks, skipped = need_tasks(needs, now)
    by_week: dict[Any, list[TaskSpec]] = defaultdict(list)
    for task in tasks:
        by_week[task.week].append(task)
    pool = volunteer_pool(region_code, near=[(t.lat, t.lng) for t in tasks]) if tasks else []
    seconds = {"read": time.perf_counter() - started, "build": 0.0, "solve": 0.0}
    solutions = []
    ids = [n.pk for n in needs]
    for monday in sorted(by_week):
        clock = time.perf_counter()
        rows = adapter.volunteer_rows(pool, monday, skip_needs=ids)
        built = adapter.build(by_week[monday], rows)
        seconds["build"] += time.perf_counter() - clock
        clock = time.perf_counter()
        solutions.append(adapter.solve_exact(built))
        seconds["solve"] += time.perf_counter() - clock
    return Plan(solutions, skipped, seconds)


# --- one need: the ranked list ----------------------------------------------------------------


@dataclass
class Ranking:
    """A need's volunteers, best first, and the nearest people who cannot go, with why."""

    task: TaskSpec | None
    ranked: list[PairView]
    excluded: list[PairView]
    problem: str = ""
    built: Built | None = None


def rank_profiles(
    task: TaskSpec,
    profiles: Sequence[Any],
    skip_needs: Iterable[int] = (),
    skip_shifts: Iterable[int] = (),
) -> tuple[Built, list[int], list[int]]:
    """The built one-task problem for ``profiles``, with the indices of those who can go
    (best match first) and of those who cannot (nearest first); explain them as needed."""
    rows = adapter.volunteer_rows(
        profiles, task.week, skip_needs=skip_needs, skip_shifts=skip_shifts
    )
    built = adapter.build([task], rows)
    good, rest = adapter.order_for_task(built)
    return built, good, rest


def matching_need_ranking(
    need: Any, *, limit: int = 20, excluded: int = 8, now: datetime | None = None
) -> Ranking:
    """The dispatcher's list for one need: up to ``limit`` volunteers who can go, best match
    first, and the ``excluded`` nearest who cannot, each with the reasons in plain words."""
    tasks, skipped = need_tasks([need], now)
    if not tasks:
        return Ranking(None, [], [], problem=skip_text(skipped[need.pk]))
    task = tasks[0]
    pool = volunteer_pool(need.region_id, near=[(task.lat, task.lng)])
    try:
        built, good, rest = rank_profiles(task, pool, skip_needs=[need.pk])
    except adapter.MatchingError as exc:
        return Ranking(task, [], [], problem=exc.message)
    return Ranking(
        task,
        [adapter.explain(built, v, 0) for v in good[:limit]],
        [adapter.explain(built, v, 0) for v in rest[:excluded]],
        built=built,
    )


def skip_text(code: str) -> str:
    return {
        NO_POINT: _(
            "The need has no map point, so distances cannot be measured: dispatch it by hand."
        ),
        WINDOW_OVER: _("The need's time window is over."),
        NOBODY_NEEDED: _("Every place on this need is taken."),
    }.get(code, code)


# --- shifts: staffing suggestions ------------------------------------------------------------


@dataclass
class Staffing:
    """Whom to invite to a shift: suggestions with reasons, and who cannot and why."""

    shift: Any
    confirmed: int
    holding: int
    missing: int
    suggestions: list[PairView]
    excluded: list[PairView]
    problem: str = ""
    blocked: dict[int, str] = field(default_factory=dict)


# Codes of activities.services.signup_eligibility that still let someone be invited: a full
# shift takes a waitlist, and the agreement is read and accepted when signing up.
NOT_BLOCKING = {"full", "agreement"}


def _signup_block(code: str, message: str) -> str:
    texts = {
        "age": _("Below the activity's minimum age"),
        "age_unknown": _("Age unknown (real-name registration not complete)"),
        "no_insurance": _("Not covered by insurance for this activity"),
        "clash": _("Signed up for something else at the same time"),
        "already": _("Already signed up for this shift"),
        "sanction": _("Barred from service by a sanction"),
        "not_active": _("Registration not active"),
    }
    return texts.get(code, message)


def matching_staffing_suggestions(
    *, shift: Any, limit: int = 10, excluded: int = 8, now: datetime | None = None
) -> Staffing:
    """Whom to invite to an under-filled shift: volunteers who can go, best match first, each
    checked against the activity's own sign-up rules (age, insurance, clashes), and the
    nearest who cannot, with why. Reads only."""
    from zhiyuan.activities.models import LIVE, SEAT_HOLDING, ActivityStatus, SignupStatus
    from zhiyuan.activities.services import signup_eligibility

    now = now or timezone.now()
    activity = shift.activity
    signups = list(shift.signups.values_list("volunteer_id", "status"))
    confirmed = sum(1 for _u, s in signups if s == SignupStatus.CONFIRMED)
    holding = sum(1 for _u, s in signups if s in SEAT_HOLDING)
    missing = max(0, min(shift.staff_needed - holding, shift.capacity - holding))
    base = Staffing(shift, confirmed, holding, missing, [], [])
    if activity.status != ActivityStatus.PUBLISHED or shift.starts_at <= now:
        base.problem = _("This shift is not open for sign-up, so nobody can be invited.")
        return base
    task = TaskSpec(
        key=f"shift:{shift.pk}",
        obj=shift,
        lat=float(activity.lat),
        lng=float(activity.lng),
        at=shift.starts_at,
        end=shift.ends_at,
        people=max(missing, 1),
        urgency=adapter.URGENCY_WEIGHT["emergency"] if activity.emergency else 1.0,
        emergency=bool(activity.emergency),
        skill_ids=frozenset(s.pk for s in activity.skills.all()),
        qualifications=frozenset(activity.qualifications or []),
        excluded={u: "signed_up" for u, s in signups if s in LIVE},
    )
    pool = volunteer_pool(activity.region_id, near=[(task.lat, task.lng)])
    try:
        built, good, rest = rank_profiles(task, pool, skip_shifts=[shift.pk])
    except adapter.MatchingError as exc:
        base.problem = exc.message
        return base
    suggestions: list[PairView] = []
    blocked: list[PairView] = []
    for v in good:
        if len(suggestions) >= limit:
            break
        view = adapter.explain(built, v, 0)
        reasons = [
            r
            for r in signup_eligibility(shift=shift, volunteer=view.row.profile.user, at=now)
            if r.code not in NOT_BLOCKING
        ]
        if reasons:
            texts = [_signup_block(r.code, str(r.message)) for r in reasons]
            blocked.append(
                PairView(
                    view.row,
                    False,
                    view.utility,
                    0.0,
                    view.distance_km,
                    texts,
                    [r.code for r in reasons],
                )
            )
            continue
        suggestions.append(view)
    others = sorted(
        [*blocked, *(adapter.explain(built, v, 0) for v in rest[:excluded])],
        key=lambda v: (v.distance_km, v.row.user_id),
    )
    base.suggestions = suggestions
    base.excluded = others[:excluded]
    return base


def shifts_understaffed_for(org_ids: list[int], now: datetime | None = None) -> list[Any]:
    """Upcoming published shifts of these organisations with fewer people holding a seat than
    they need, soonest first."""
    from zhiyuan.activities.models import SEAT_HOLDING, ActivityStatus, Shift

    now = now or timezone.now()
    rows = (
        Shift.objects.filter(
            activity__organization_id__in=org_ids,
            activity__status=ActivityStatus.PUBLISHED,
            starts_at__gt=now,
        )
        .select_related("activity")
        .annotate(holding=Count("signups", filter=Q(signups__status__in=list(SEAT_HOLDING))))
        .order_by("starts_at", "pk")
    )
    return [s for s in rows[:500] if s.holding < s.staff_needed]


# --- the "fill all" page ------------------------------------------------------------------------


def open_need_counts(codes: list[str] | None) -> list[tuple[Any, int]]:
    """Communities in the user's scope with the number of needs waiting for dispatch."""
    from zhiyuan.needs.models import Need
    from zhiyuan.needs.states import OPEN
    from zhiyuan.regions.models import Region
    from zhiyuan.regions.selectors import region_subtree_q

    counts = dict(
        Need.objects.filter(region_subtree_q(codes), state__in=list(OPEN))
        .values_list("region_id")
        .annotate(n=Count("id"))
        .values_list("region_id", "n")
    )
    regions = Region.objects.filter(pk__in=list(counts)).order_by("code")
    return [(r, counts[r.pk]) for r in regions]


@dataclass(frozen=True)
class AutoFillStatus:
    """A region's automatic fill as the dispatcher sees it."""

    region: Any
    enabled: bool
    interval_minutes: int
    last_run_at: datetime | None
    outcome: str
    summary: dict[str, Any]
    changed_by: Any

    @property
    def next_run_at(self) -> datetime | None:
        if not self.enabled:
            return None
        if self.last_run_at is None:
            return None  # at the scheduler's next turn (within a minute)
        return self.last_run_at + timedelta(minutes=self.interval_minutes)

    @property
    def last_run_text(self) -> str:
        """One line: what the last automatic run did."""
        from zhiyuan.matching.models import AutoFillOutcome

        s = self.summary
        if self.last_run_at is None:
            return _("Not run yet.")
        if self.outcome == AutoFillOutcome.DISPATCHED:
            return _(
                "%(dispatched)s needs dispatched, %(offers)s volunteers asked, %(short)s left "
                "short (of %(needs)s open needs looked at)."
            ) % {
                "dispatched": len(s.get("dispatched", [])),
                "offers": s.get("offers", 0),
                "short": s.get("unfilled", 0),
                "needs": s.get("needs", 0),
            }
        if self.outcome == AutoFillOutcome.NOTHING:
            return _("Nothing new to dispatch (%(needs)s open needs looked at).") % {
                "needs": s.get("needs", 0)
            }
        if self.outcome == AutoFillOutcome.PROBLEM:
            return _("Could not solve: %(message)s") % {"message": s.get("message", "")}
        return str(AutoFillOutcome(self.outcome).label) if self.outcome else ""


def _autofill_status(region: Any, row: Any) -> AutoFillStatus:
    from zhiyuan.matching.models import AUTOFILL_DEFAULT_MINUTES

    if row is None:  # never switched: off, with the default interval
        return AutoFillStatus(region, False, AUTOFILL_DEFAULT_MINUTES, None, "", {}, None)
    return AutoFillStatus(
        region,
        row.enabled,
        row.interval_minutes,
        row.last_run_at,
        row.last_outcome,
        row.last_summary,
        row.changed_by,
    )


def autofill_status(region: Any) -> AutoFillStatus:
    """The automatic fill of one region (off, every 10 minutes, when never switched)."""
    from zhiyuan.matching.models import AutoFill

    return _autofill_status(
        region, AutoFill.objects.select_related("changed_by").filter(region=region).first()
    )


def autofill_statuses(codes: list[str] | None) -> list[AutoFillStatus]:
    """The automatic fill of each region a dispatcher may switch: the regions of their grants,
    and any region below them that has its own setting (``None``: every region with one)."""
    from zhiyuan.matching.models import AutoFill
    from zhiyuan.regions.models import Region
    from zhiyuan.regions.selectors import region_subtree_q

    rows = {
        r.region_id: r
        for r in AutoFill.objects.select_related("changed_by").filter(region_subtree_q(codes))
    }
    regions = Region.objects.filter(pk__in=set(rows) | set(codes or [])).order_by("code")
    return [_autofill_status(region, rows.get(region.pk)) for region in regions]
