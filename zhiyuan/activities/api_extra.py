"""API beside the main activities router (mounted under /api/v1/activities as well): the teams
a person may sign up together (with their members, for ``POST
/activities/shifts/{id}/group-signups``), and late cancellations and no-shows per person."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema

from zhiyuan.activities import teams
from zhiyuan.core.api import ErrorOut
from zhiyuan.core.permissions import require

router = Router(tags=["activities"])


class MemberOut(Schema):
    id: int
    name: str
    volunteer_number: str


class TeamOut(Schema):
    id: int
    name: str
    members: list[MemberOut]


@router.get("/teams", response={200: list[TeamOut], 403: ErrorOut})
def teams_mine(request: HttpRequest) -> list[TeamOut]:
    """Teams I may sign up together, each with its active members."""
    require(request.user, "activity.manage", request=request)
    out = []
    for team in teams.teams_of(request.user):
        members = []
        for m in teams.team_members(team):
            profile = getattr(m, "volunteer", None)
            number = profile.volunteer_number if profile is not None else ""
            members.append(MemberOut(id=m.pk, name=m.name, volunteer_number=number))
        out.append(TeamOut(id=team.pk, name=team.name, members=members))
    return out


class AttendanceEventOut(Schema):
    signup: int
    shift: int
    activity: str
    starts_at: dt.datetime
    kind: str  # "no_show" or "late_cancel"
    reason: str


class PersonAttendanceOut(Schema):
    volunteer: int
    name: str
    late_cancels: int
    no_shows: int
    events: list[AttendanceEventOut]


class AttendanceOut(Schema):
    since: dt.datetime
    shifts: int
    expected: int
    late_cancels: int
    no_shows: int
    no_show_rate: float
    people: list[PersonAttendanceOut]


@router.get("/attendance", response={200: AttendanceOut, 403: ErrorOut})
def attendance(request: HttpRequest, days: int = 90) -> AttendanceOut:
    """Late cancellations and no-shows in my organisations' shifts over the last ``days``."""
    require(request.user, "activity.manage", request=request)
    since = timezone.now() - dt.timedelta(days=max(1, min(days, 3650)))
    found = teams.attendance_of(teams.organised_ids(request.user), since)
    return AttendanceOut(
        since=found.since,
        shifts=found.shifts,
        expected=found.expected,
        late_cancels=found.late_cancels,
        no_shows=found.no_shows,
        no_show_rate=found.no_show_rate,
        people=[
            PersonAttendanceOut(
                volunteer=p.volunteer.pk,
                name=p.volunteer.name,
                late_cancels=p.late_cancels,
                no_shows=p.no_shows,
                events=[
                    AttendanceEventOut(
                        signup=s.pk,
                        shift=s.shift_id,
                        activity=s.shift.activity.title,
                        starts_at=s.shift.starts_at,
                        kind="no_show" if s.status == "no_show" else "late_cancel",
                        reason=s.cancel_reason,
                    )
                    for s in p.events
                ],
            )
            for p in found.people
        ],
    )
