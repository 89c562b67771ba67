"""Reads about needs: the taxonomy, limits and policies in force, who is a party to a need,
the queues, the candidates for dispatch, and the figures behind the centre's dashboard."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.selectors import role_holders_over
from zhiyuan.core.permissions import has_perm, organization_scopes
from zhiyuan.needs.models import (
    HOLDING,
    AssignmentState,
    Need,
    NeedAssignment,
    NeedCategory,
    NeedPolicy,
    NeedRating,
    NeedTimeLimit,
    Urgency,
)
from zhiyuan.needs.ranking import RankedCandidate, SimpleRanker, need_ranker
from zhiyuan.needs.states import CONTACT_VISIBLE, OPEN, NeedState, Party
from zhiyuan.organizations.models import MemberRole, Membership, Organization, OrganizationStatus
from zhiyuan.people.models import ProfileStatus, VolunteerProfile
from zhiyuan.regions.codes import ancestor_codes, code_contains
from zhiyuan.regions.selectors import region_subtree_q

# --- regions, taxonomy, policy and limits ------------------------------------------------------


def category_tree(region_code: str | None) -> list[tuple[NeedCategory, list[NeedCategory]]]:
    """Top-level categories with their items, as residents of ``region_code`` see them:
    the national list plus what the region and the regions above it added (not retired)."""
    from zhiyuan.needs.services import category_seed

    if not NeedCategory.objects.exists():
        category_seed()  # a flushed test or demo database: the national list, as migrated
    visible = Q(region__isnull=True)
    if region_code:
        visible |= Q(region_id__in=ancestor_codes(region_code))
    rows = list(
        NeedCategory.objects.filter(visible, retired_at__isnull=True).order_by("sort", "pk")
    )
    tops = [c for c in rows if c.parent_id is None]
    children: dict[int, list[NeedCategory]] = defaultdict(list)
    for c in rows:
        if c.parent_id is not None:
            children[c.parent_id].append(c)
    return [(top, children[top.pk]) for top in tops]


def categories_of_region(region_code: str) -> QuerySet[NeedCategory]:
    """What a region admin may edit: the entries their region added."""
    return NeedCategory.objects.filter(region_id=region_code).select_related("parent")


@dataclass(frozen=True)
class Limits:
    review: timedelta
    accept: timedelta
    start: timedelta


# No national time limits exist; these defaults hold until a region sets its own.
DEFAULT_LIMITS = {
    Urgency.ROUTINE: Limits(timedelta(hours=24), timedelta(hours=24), timedelta(hours=24)),
    Urgency.URGENT: Limits(timedelta(hours=2), timedelta(hours=1), timedelta(hours=4)),
    Urgency.EMERGENCY: Limits(timedelta(minutes=15), timedelta(minutes=15), timedelta(hours=1)),
}
# A need with a time window is due to start when the window opens, with this much grace.
START_GRACE = timedelta(minutes=30)
# A need "as soon as possible" that nobody accepted within this long expires.
EXPIRE_ASAP_AFTER = timedelta(days=7)


def time_limits_for(region_code: str, urgency: str) -> Limits:
    """The nearest region up the tree with limits for this urgency decides; else the default."""
    row = (
        NeedTimeLimit.objects.filter(region_id__in=ancestor_codes(region_code), urgency=urgency)
        .order_by("-region_id")
        .first()
    )
    if row is None:
        return DEFAULT_LIMITS[Urgency(urgency)]
    return Limits(
        timedelta(minutes=row.review_minutes),
        timedelta(minutes=row.accept_minutes),
        timedelta(minutes=row.start_minutes),
    )


def soon(limit: timedelta) -> timedelta:
    """How long before a deadline it counts as "due soon": a quarter of the limit, 5 min–2 h."""
    return min(max(limit / 4, timedelta(minutes=5)), timedelta(hours=2))


def need_policy_for(region_code: str) -> NeedPolicy:
    policy = (
        NeedPolicy.objects.filter(region_id__in=ancestor_codes(region_code))
        .order_by("-region_id")
        .first()
    )
    return policy or NeedPolicy(region_id=region_code)


def record_organization_of(region_code: str) -> Organization | None:
    """The organisation standing for the civilisation-practice centre over ``region_code``: the
    one named by the nearest region up the tree that names one (it records and certifies the
    service of needs sent straight to volunteers)."""
    policy = (
        NeedPolicy.objects.filter(
            region_id__in=ancestor_codes(region_code), record_organization__isnull=False
        )
        .select_related("record_organization")
        .order_by("-region_id")
        .first()
    )
    return policy.record_organization if policy is not None else None


def record_organization_choices(region_code: str) -> list[Organization]:
    """Verified organisations whose area covers the whole region (candidates for its centre)."""
    return list(
        Organization.objects.filter(
            region_id__in=ancestor_codes(region_code), status=OrganizationStatus.VERIFIED
        )
        .exclude(kind="merchant")
        .order_by("-region_id", "name")
    )


# --- who is who for a need ---------------------------------------------------------------------


def dispatchers_for(region_code: str) -> list[int]:
    """Users holding the dispatcher role over a region that covers ``region_code``."""
    return role_holders_over(Role.DISPATCHER, region_code)


def team_admins_of(organization_id: int) -> list[int]:
    return list(
        Membership.objects.filter(
            organization_id=organization_id,
            left_at__isnull=True,
            role__in=[MemberRole.ADMIN, MemberRole.LEADER],
        ).values_list("user_id", flat=True)
    ) + list(
        RoleGrant.objects.filter(
            role=Role.ORG_ADMIN, revoked_at__isnull=True, organization_id=organization_id
        ).values_list("user_id", flat=True)
    )


def team_members_of(organization_id: int) -> list[int]:
    return list(
        Membership.objects.filter(organization_id=organization_id, left_at__isnull=True)
        .filter(user__volunteer__status=ProfileStatus.ACTIVE)
        .values_list("user_id", flat=True)
    )


def is_team_member(user: Any, organization_id: int | None) -> bool:
    if organization_id is None:
        return False
    return Membership.objects.filter(
        organization_id=organization_id, user=user, left_at__isnull=True
    ).exists()


def grabbing_organizations(user: Any, need: Need) -> list[Organization]:
    """The verified organisations this person administers whose area covers the need."""
    ids = organization_scopes(user, "need.grab")
    return [
        org
        for org in Organization.objects.filter(pk__in=ids, status=OrganizationStatus.VERIFIED)
        if code_contains(org.region_id, need.region_id)
    ]


def need_parties(user: Any, need: Need) -> set[Party]:
    """In which capacities this person stands to this need (empty: an outsider)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    parties: set[Party] = set()
    if user.pk in (need.posted_by_id, need.beneficiary_id):
        parties.add(Party.POSTER)
    if has_perm(user, "need.dispatch", need):
        parties.add(Party.DISPATCHER)
    if has_perm(user, "need.serve", None) and (
        NeedAssignment.objects.filter(need=need, volunteer=user).exists()
        or (
            need.state in (NeedState.DISPATCHED, NeedState.ACCEPTED)
            and is_team_member(user, need.organization_id)
        )
    ):
        parties.add(Party.VOLUNTEER)
    grabbing = organization_scopes(user, "need.grab")
    if (need.organization_id and need.organization_id in grabbing) or (
        need.open_to_teams
        and need.state == NeedState.DISPATCHED
        and grabbing_organizations(user, need)
    ):
        parties.add(Party.TEAM)
    return parties


def need_can_view(user: Any, need: Need) -> bool:
    return bool(need_parties(user, need)) or has_perm(user, "need.view", need)


def need_contact_visible(user: Any, need: Need) -> bool:
    """Address, phone and health details: the dispatcher and the volunteers holding a place,
    while the need is live; from completion on nobody sees them in clear."""
    if need.state not in CONTACT_VISIBLE:
        return False
    if has_perm(user, "need.dispatch", need):
        return True
    return NeedAssignment.objects.filter(
        need=need, volunteer=user, state__in=[AssignmentState.ACCEPTED, AssignmentState.STARTED]
    ).exists()


@dataclass(frozen=True)
class Contact:
    """The need's personal details as this person may see them."""

    visible: bool
    address: str
    phone: str
    name: str
    health: str


def need_contact_for(user: Any, need: Need, parties: set[Party] | None = None) -> Contact:
    """In clear for the dispatcher and the volunteers holding a place while the need is live;
    masked for the resident and the dispatcher otherwise; hidden from everyone else (a
    volunteer offered the need sees only the community and an approximate point)."""
    from zhiyuan.core.masking import mask_address, mask_name, mask_phone

    if need_contact_visible(user, need):
        return Contact(
            True, need.address, need.contact_phone, need.beneficiary_name, need.health_details
        )
    parties = need_parties(user, need) if parties is None else parties
    if parties & {Party.POSTER, Party.DISPATCHER} or has_perm(user, "need.view", need):
        return Contact(
            False,
            mask_address(need.address),
            mask_phone(need.contact_phone),
            mask_name(need.beneficiary_name),
            "",
        )
    return Contact(False, "", "", "", "")


# --- lists -------------------------------------------------------------------------------------


def _with_basics(rows: QuerySet[Need]) -> QuerySet[Need]:
    return rows.select_related("category", "category__parent", "region", "organization")


def need_list_posted_by(user: Any) -> QuerySet[Need]:
    return _with_basics(Need.objects.filter(Q(posted_by=user) | Q(beneficiary=user)))


@dataclass
class QueueFilters:
    area: str = ""  # a region code inside the dispatcher's scope
    category: int | None = None  # a top-level category
    urgency: str = ""
    older_than_hours: int | None = None
    state: str = "open"  # open | dispatched | accepted | active | closed | all
    overdue: bool = False


QUEUE_STATES: dict[str, list[NeedState]] = {
    "open": list(OPEN),
    "dispatched": [NeedState.DISPATCHED],
    "accepted": [NeedState.ACCEPTED, NeedState.IN_SERVICE],
    "active": [
        s
        for s in NeedState
        if s
        not in {
            NeedState.REJECTED,
            NeedState.RATED,
            NeedState.CANCELLED,
            NeedState.EXPIRED,
            NeedState.COMPLETED,
        }
    ],
    "closed": [
        NeedState.COMPLETED,
        NeedState.RATED,
        NeedState.REJECTED,
        NeedState.CANCELLED,
        NeedState.EXPIRED,
    ],
}


def need_queue(
    codes: list[str] | None, filters: QueueFilters, now: datetime | None = None
) -> QuerySet[Need]:
    """The dispatcher's queue: needs in scope, most urgent and oldest first."""
    now = now or timezone.now()
    rows = Need.objects.filter(region_subtree_q(codes))
    if filters.area and (codes is None or any(code_contains(c, filters.area) for c in codes)):
        rows = rows.filter(region_subtree_q([filters.area]))
    if filters.state in QUEUE_STATES:
        rows = rows.filter(state__in=QUEUE_STATES[filters.state])
    if filters.category:
        rows = rows.filter(
            Q(category_id=filters.category) | Q(category__parent_id=filters.category)
        )
    if filters.urgency in Urgency.values:
        rows = rows.filter(urgency=filters.urgency)
    if filters.older_than_hours:
        rows = rows.filter(submitted_at__lte=now - timedelta(hours=filters.older_than_hours))
    if filters.overdue:
        rows = rows.filter(overdue_q(now))
    from django.db.models import Case, IntegerField, Value, When

    rank = Case(
        When(urgency=Urgency.EMERGENCY, then=Value(0)),
        When(urgency=Urgency.URGENT, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        _with_basics(rows)
        .annotate(urgency_rank=rank)
        .order_by("urgency_rank", "submitted_at", "pk")
    )


def overdue_q(now: datetime) -> Q:
    return (
        Q(state__in=list(OPEN), review_due_at__lt=now)
        | Q(state=NeedState.DISPATCHED, accept_due_at__lt=now)
        | Q(state=NeedState.ACCEPTED, start_due_at__lt=now)
    )


@dataclass(frozen=True)
class Deadline:
    label: str
    due_at: datetime
    overdue: bool
    due_soon: bool


def need_deadline(
    need: Need, now: datetime | None = None, cache: dict[tuple[str, str], Limits] | None = None
) -> Deadline | None:
    """The deadline of the step the need is waiting for, and whether it is overdue or near."""
    from django.utils.translation import gettext as _

    now = now or timezone.now()
    key = (need.region_id, need.urgency)
    limits = cache.get(key) if cache is not None else None
    if limits is None:
        limits = time_limits_for(need.region_id, need.urgency)
        if cache is not None:
            cache[key] = limits
    if need.state in OPEN and need.review_due_at:
        label, due, limit = _("review"), need.review_due_at, limits.review
    elif need.state == NeedState.DISPATCHED and need.accept_due_at:
        label, due, limit = _("acceptance"), need.accept_due_at, limits.accept
    elif need.state == NeedState.ACCEPTED and need.start_due_at:
        label, due, limit = _("start"), need.start_due_at, limits.start
    else:
        return None
    return Deadline(str(label), due, due < now, now <= due <= now + soon(limit))


def need_deadlines(
    needs: Iterable[Need], now: datetime | None = None
) -> dict[int, Deadline | None]:
    cache: dict[tuple[str, str], Limits] = {}
    now = now or timezone.now()
    return {n.pk: need_deadline(n, now, cache) for n in needs}


def need_offers_for(user: Any) -> dict[str, list[Any]]:
    """A volunteer's phone list: offers to answer (direct, or through a team) and their places."""
    mine = (
        NeedAssignment.objects.filter(volunteer=user)
        .select_related("need", "need__category", "need__region")
        .order_by("-pk")
    )
    offered = [
        a
        for a in mine
        if a.state == AssignmentState.OFFERED
        and a.need.state in (NeedState.DISPATCHED, NeedState.ACCEPTED)
    ]
    holding = [
        a
        for a in mine
        if a.state in (AssignmentState.ACCEPTED, AssignmentState.STARTED)
        and a.need.state in (NeedState.ACCEPTED, NeedState.IN_SERVICE)
    ]
    done = [a for a in mine if a.state == AssignmentState.FINISHED][:20]
    answered = {a.need_id for a in mine}
    teams = Membership.objects.filter(user=user, left_at__isnull=True).values("organization_id")
    team_offers = list(
        _with_basics(
            Need.objects.filter(
                organization_id__in=teams,
                state__in=[NeedState.DISPATCHED, NeedState.ACCEPTED],
            ).exclude(pk__in=answered)
        )
    )
    return {"offered": offered, "team": team_offers, "holding": holding, "done": done}


def need_pool_for(user: Any) -> list[tuple[Need, list[Organization]]]:
    """Open needs a team admin may take, with the organisations that may take each."""
    ids = organization_scopes(user, "need.grab")
    orgs = list(Organization.objects.filter(pk__in=ids, status=OrganizationStatus.VERIFIED))
    if not orgs:
        return []
    rows = _with_basics(
        Need.objects.filter(
            region_subtree_q([o.region_id for o in orgs]),
            state=NeedState.DISPATCHED,
            open_to_teams=True,
        )
    ).order_by("submitted_at")
    pool = []
    for need in rows:
        if not need_policy_for(need.region_id).teams_may_grab:
            continue
        able = [o for o in orgs if code_contains(o.region_id, need.region_id)]
        if able:
            pool.append((need, able))
    return pool


def need_list_for_team(organization_ids: list[int]) -> QuerySet[Need]:
    return _with_basics(Need.objects.filter(organization_id__in=organization_ids))


# --- candidates --------------------------------------------------------------------------------

SEARCH_RADIUS_DEG = 0.15  # ≈ 15 km north–south: a box around the need before exact distances


def need_candidates(
    need: Need, *, limit: int = 20, exclude: Iterable[int] = ()
) -> list[RankedCandidate]:
    """Volunteers who could serve this need, ranked by the deployment's ranker.

    Left out: anyone not active, barred by a sanction (safeguards), lacking a required
    qualification valid on the day (Regulations Art. 16), living beyond how far they travel,
    the person helped or who posted, and anyone who already declined or holds a part.
    """
    from zhiyuan.safeguards.selectors import volunteer_can_serve

    taken = set(exclude) | set(
        NeedAssignment.objects.filter(need=need)
        .exclude(state=AssignmentState.WITHDRAWN)
        .values_list("volunteer_id", flat=True)
    )
    taken |= {need.posted_by_id} | ({need.beneficiary_id} if need.beneficiary_id else set())
    district = need.region_id[:6].ljust(12, "0")
    # Only people who hold the volunteer role may accept (ability "need.serve").
    serving = RoleGrant.objects.filter(
        user_id=OuterRef("user_id"), role=Role.VOLUNTEER, revoked_at__isnull=True
    )
    rows = VolunteerProfile.objects.filter(
        Exists(serving),
        region_subtree_q([district]),
        status=ProfileStatus.ACTIVE,
        user__is_active=True,
    ).exclude(user_id__in=taken)
    if need.lat is not None and need.lng is not None:
        rows = rows.filter(
            Q(home_lat__isnull=True)
            | Q(
                home_lat__gte=need.lat - SEARCH_RADIUS_DEG,
                home_lat__lte=need.lat + SEARCH_RADIUS_DEG,
                home_lng__gte=need.lng - SEARCH_RADIUS_DEG * 1.3,
                home_lng__lte=need.lng + SEARCH_RADIUS_DEG * 1.3,
            )
        )
    day = timezone.localdate(need.window_start) if need.window_start else timezone.localdate()
    wanted_quals = set(need.qualifications or [])
    rows = rows.select_related("user", "region").prefetch_related("skills", "qualifications")
    profiles = []
    for profile in rows:
        if wanted_quals:
            held = {q.kind for q in profile.qualifications.all() if q.valid_on(day)}
            if not wanted_quals <= held:
                continue
        profiles.append(profile)
    ranker = need_ranker()
    ranked = ranker.rank(need, profiles)
    if ranked and not isinstance(ranker, SimpleRanker) and all(c.score <= 0 for c in ranked):
        # The configured ranker could not rank this need (say, no map point for the engine to
        # measure): order the list for a dispatcher choosing by hand with the simple ranker,
        # keeping the configured ranker's explanation first.
        why = [str(r) for r in ranked[0].reasons[:1]]
        ranked = [
            RankedCandidate(c.volunteer, c.score, why + list(c.reasons), c.distance_km)
            for c in SimpleRanker().rank(need, profiles)
        ]
    out: list[RankedCandidate] = []
    for candidate in ranked:
        if (
            candidate.distance_km is not None
            and candidate.distance_km > candidate.volunteer.max_travel_km
        ):
            continue
        if volunteer_can_serve(candidate.volunteer.user) is not None:
            continue
        out.append(candidate)
        if len(out) >= limit:
            break
    return out


def volunteer_lookup(need: Need, query: str, *, limit: int = 10) -> list[RankedCandidate]:
    """Volunteers of the need's district found by volunteer number (or its start) or exact
    name, ranked with their reasons: the dispatcher may know whom to ask."""
    query = query.strip()
    if not query:
        return []
    district = need.region_id[:6].ljust(12, "0")
    rows = VolunteerProfile.objects.filter(
        region_subtree_q([district]), status=ProfileStatus.ACTIVE
    )
    rows = (
        rows.filter(volunteer_number__startswith=query)
        if query.isdigit()
        else rows.filter(user__name=query)
    )
    profiles = list(
        rows.select_related("user", "region").prefetch_related("skills", "qualifications")[:limit]
    )
    return need_ranker().rank(need, profiles)


def team_candidates(need: Need) -> list[tuple[Organization, Any]]:
    """Organisations whose area covers the need, each with None or the reason it may not
    receive a dispatch (not verified, suspended…), operable ones first."""
    from zhiyuan.organizations.selectors import OperatePurpose, organization_can_operate

    orgs = (
        Organization.objects.filter(region_id__in=ancestor_codes(need.region_id))
        .exclude(kind="merchant")
        .annotate(members=Count("memberships", filter=Q(memberships__left_at__isnull=True)))
        .order_by("-region_id", "name")
    )
    rows = [(o, organization_can_operate(o, purpose=OperatePurpose.RECEIVE_DISPATCH)) for o in orgs]
    return sorted(rows, key=lambda r: r[1] is not None)


# --- follow-ups and quality --------------------------------------------------------------------


def followups_open(codes: list[str] | None) -> QuerySet[NeedRating]:
    return (
        NeedRating.objects.filter(
            region_subtree_q(codes, field="need__region"),
            follow_up=True,
            follow_up_closed_at__isnull=True,
        )
        .select_related("need", "need__category", "need__region")
        .order_by("rated_at")
    )


@dataclass(frozen=True)
class Quality:
    served: int
    rated: int
    average: float | None


def volunteer_quality(user: Any) -> Quality:
    """How the needs a volunteer served were rated (the effect reports read this)."""
    finished = NeedAssignment.objects.filter(volunteer=user, state=AssignmentState.FINISHED)
    ratings = NeedRating.objects.filter(need__in=finished.values("need_id"))
    agg = ratings.aggregate(avg=Avg("score"), n=Count("id"))
    return Quality(finished.count(), agg["n"] or 0, round(agg["avg"], 2) if agg["avg"] else None)


def organization_quality(organization: Organization) -> Quality:
    needs = Need.objects.filter(
        organization=organization, state__in=[NeedState.COMPLETED, NeedState.RATED]
    )
    agg = NeedRating.objects.filter(need__in=needs).aggregate(avg=Avg("score"), n=Count("id"))
    return Quality(needs.count(), agg["n"] or 0, round(agg["avg"], 2) if agg["avg"] else None)


# --- the centre's dashboard --------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


@dataclass
class Durations:
    n: int
    median_hours: float | None
    p95_hours: float | None


def _durations(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> Durations:
    hours = [(end - start).total_seconds() / 3600 for start, end in pairs if start and end]
    return Durations(
        len(hours),
        round(statistics.median(hours), 2) if hours else None,
        round(p, 2) if (p := percentile(hours, 95)) is not None else None,
    )


@dataclass
class Dashboard:
    total: int
    by_state: list[tuple[str, str, int]]
    by_category: list[tuple[str, int]]
    by_community: list[tuple[str, str, int, int]] = field(default_factory=list)
    to_dispatch: Durations | None = None
    to_accept: Durations | None = None
    to_complete: Durations | None = None
    rated: int = 0
    satisfaction: float | None = None  # share of ratings 4 or 5
    average_rating: float | None = None
    repeat_needs: int = 0
    repeat_people: int = 0
    per_week: list[tuple[str, int]] = field(default_factory=list)
    overdue: int = 0


def need_dashboard(
    codes: list[str] | None, *, area: str = "", since: datetime, until: datetime
) -> Dashboard:
    """Figures for the needs posted in [since, until) under ``area`` (within the scope)."""
    rows = Need.objects.filter(
        region_subtree_q(codes), submitted_at__gte=since, submitted_at__lt=until
    )
    if area:
        rows = rows.filter(region_subtree_q([area]))
    needs = list(
        rows.select_related("category", "category__parent", "region").only(
            "pk",
            "state",
            "region",
            "region__name",
            "category",
            "category__name_zh",
            "category__name_en",
            "category__parent",
            "category__parent__name_zh",
            "category__parent__name_en",
            "submitted_at",
            "dispatched_at",
            "accepted_at",
            "completed_at",
            "beneficiary_key",
            "review_due_at",
            "accept_due_at",
            "start_due_at",
        )
    )
    states = Counter(n.state for n in needs)
    categories = Counter(str(n.category.top) for n in needs)
    communities: dict[str, list[Any]] = {}
    for n in needs:
        entry = communities.setdefault(n.region_id, [n.region.name, 0, 0])
        entry[1] += 1
        entry[2] += n.state in (NeedState.COMPLETED, NeedState.RATED)
    ratings = list(NeedRating.objects.filter(need__in=rows).values_list("score", flat=True))
    # A repeat need: the same person asking again for the same kind of help in the period.
    seen = Counter((n.beneficiary_key, n.category.top.pk) for n in needs)
    repeats = {k: v for k, v in seen.items() if v > 1}
    weeks = Counter(timezone.localtime(n.submitted_at).strftime("%G-W%V") for n in needs)
    now = timezone.now()
    overdue = rows.filter(overdue_q(now)).count()
    return Dashboard(
        total=len(needs),
        by_state=[(s.value, str(s.label), states.get(s.value, 0)) for s in NeedState],
        by_category=categories.most_common(),
        by_community=sorted(
            ((code, name, total, done) for code, (name, total, done) in communities.items()),
            key=lambda r: (-r[2], r[0]),
        ),
        to_dispatch=_durations((n.submitted_at, n.dispatched_at) for n in needs),
        to_accept=_durations((n.submitted_at, n.accepted_at) for n in needs),
        to_complete=_durations((n.submitted_at, n.completed_at) for n in needs),
        rated=len(ratings),
        satisfaction=round(sum(1 for s in ratings if s >= 4) / len(ratings), 3)
        if ratings
        else None,
        average_rating=round(sum(ratings) / len(ratings), 2) if ratings else None,
        repeat_needs=sum(v - 1 for v in repeats.values()),
        repeat_people=len({k[0] for k in repeats}),
        per_week=sorted(weeks.items()),
        overdue=overdue,
    )


def scope_areas(codes: list[str] | None) -> list[Any]:
    """Streets and communities a dispatcher may filter by (their scope's subtree, to level 5)."""
    from zhiyuan.regions.models import Region

    return list(
        Region.objects.filter(region_subtree_q(codes, field="code"), level__gte=4).order_by("code")
    )


def volunteers_by_user(ids: Iterable[int]) -> dict[int, VolunteerProfile]:
    return {
        p.user_id: p
        for p in VolunteerProfile.objects.filter(user_id__in=list(ids)).select_related("user")
    }


def need_detail(pk: int) -> Need | None:
    return (
        Need.objects.filter(pk=pk)
        .select_related(
            "category", "category__parent", "region", "organization", "posted_by", "beneficiary"
        )
        .prefetch_related(
            "skills",
            Prefetch(
                "assignments",
                queryset=NeedAssignment.objects.select_related("volunteer", "organization"),
            ),
            "events__actor",
        )
        .first()
    )


def users_named(ids: Iterable[int]) -> dict[int, User]:
    return {u.pk: u for u in User.objects.filter(pk__in=list(ids))}


def holding_count(need: Need) -> int:
    return need.assignments.filter(state__in=HOLDING).count()
