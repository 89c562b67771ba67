"""Reads behind a team's group sign-up and the organiser's attendance view (late cancellations
and no-shows). Writes stay in ``activities.services`` (``signup_group``); this module only
finds the teams a person runs, their members, the shifts open to them, and who let a shift
down."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from zhiyuan.accounts.models import User
from zhiyuan.activities.models import ActivityStatus, Shift, Signup, SignupStatus
from zhiyuan.core.permissions import organization_scopes
from zhiyuan.organizations.models import Membership, Organization
from zhiyuan.organizations.selectors import organization_descendant_ids


def organised_ids(user: Any) -> list[int]:
    """Organisations the person runs activities for: those they administer and every team
    below them."""
    ids: list[int] = []
    for org in Organization.objects.filter(pk__in=organization_scopes(user, "activity.manage")):
        ids += [org.pk, *organization_descendant_ids(org)]
    return list(dict.fromkeys(ids))


def teams_of(user: Any) -> list[Organization]:
    """Teams whose members the person may sign up together (organisations they administer,
    and the teams below them)."""
    return list(Organization.objects.filter(pk__in=organised_ids(user)).order_by("name", "pk"))


def team_members(team: Organization) -> list[User]:
    """Active members of the team and of the teams below it, by name."""
    ids = [team.pk, *organization_descendant_ids(team)]
    users = (
        Membership.objects.filter(organization_id__in=ids, left_at__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    return list(
        User.objects.filter(pk__in=users, is_active=True)
        .select_related("volunteer")
        .order_by("name", "pk")
    )


def shifts_open(now: dt.datetime | None = None, query: str = "") -> QuerySet[Shift]:
    """Shifts of published activities that have not started, soonest first, with the seats
    left (``Shift.seats_left``); ``query`` narrows by the activity's title or place."""
    now = now or timezone.now()
    rows = Shift.objects.filter(
        activity__status=ActivityStatus.PUBLISHED, starts_at__gt=now
    ).select_related("activity__organization")
    query = (query or "").strip()
    if query:
        rows = rows.filter(
            Q(activity__title__icontains=query) | Q(activity__place_name__icontains=query)
        )
    return rows.order_by("starts_at", "pk")


def team_signups(shift: Shift, people: list[User]) -> dict[int, Signup]:
    """The live sign-ups these people already hold in the shift, by person."""
    return {
        s.volunteer_id: s
        for s in Signup.objects.filter(shift=shift, volunteer__in=people).exclude(
            status__in=[
                SignupStatus.CANCELLED,
                SignupStatus.REJECTED,
                SignupStatus.LAPSED,
            ]
        )
    }


# --- attendance: late cancellations and no-shows ----------------------------------------------


@dataclass
class PersonAttendance:
    """One person's record with the organiser's shifts over the period."""

    volunteer: User
    late_cancels: int = 0
    no_shows: int = 0
    events: list[Signup] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.late_cancels + self.no_shows


@dataclass
class Attendance:
    since: dt.datetime
    people: list[PersonAttendance]
    shifts: int
    expected: int  # people with a confirmed seat when the shift started (came or not)
    late_cancels: int
    no_shows: int

    @property
    def no_show_rate(self) -> float:
        return round(self.no_shows / self.expected, 3) if self.expected else 0.0


def attendance_of(
    org_ids: list[int], since: dt.datetime, now: dt.datetime | None = None
) -> Attendance:
    """Late cancellations (Regulations Art. 22: less notice than the activity asks) and
    no-shows in the organisations' shifts that started since ``since``, per person, most
    first; with the totals they are out of. Three queries."""
    now = now or timezone.now()
    scope = Q(
        shift__activity__organization_id__in=org_ids,
        shift__starts_at__gte=since,
        shift__starts_at__lte=now,
    )
    events = list(
        Signup.objects.filter(scope)
        .filter(Q(late_cancel=True) | Q(status=SignupStatus.NO_SHOW))
        .select_related("volunteer", "volunteer__volunteer", "shift__activity")
        .order_by("-shift__starts_at", "pk")
    )
    totals = Signup.objects.filter(scope).aggregate(
        shifts=Count("shift", distinct=True),
        expected=Count("id", filter=Q(status__in=[SignupStatus.CONFIRMED, SignupStatus.NO_SHOW])),
    )
    people: dict[int, PersonAttendance] = {}
    for signup in events:
        person = people.setdefault(signup.volunteer_id, PersonAttendance(signup.volunteer))
        person.events.append(signup)
        if signup.status == SignupStatus.NO_SHOW:
            person.no_shows += 1
        else:
            person.late_cancels += 1
    ranked = sorted(people.values(), key=lambda p: (-p.total, -p.no_shows, p.volunteer.pk))
    return Attendance(
        since=since,
        people=ranked,
        shifts=totals["shifts"] or 0,
        expected=totals["expected"] or 0,
        late_cancels=sum(p.late_cancels for p in ranked),
        no_shows=sum(p.no_shows for p in ranked),
    )
