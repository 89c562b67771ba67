"""Reads of the activities app: finding activities, rosters, waitlists and live check-ins."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.utils import timezone

from zhiyuan.activities import geo
from zhiyuan.activities.models import (
    SEAT_HOLDING,
    Activity,
    ActivityStatus,
    ServiceSession,
    Shift,
    Signup,
    SignupStatus,
)
from zhiyuan.organizations.models import Membership


@dataclass
class ActivityRow:
    activity: Activity
    distance_km: float | None
    next_shift: Shift | None
    seats_left: int


def _upcoming_shifts(now: dt.datetime) -> Prefetch[Any]:
    return Prefetch(
        "shifts",
        queryset=Shift.objects.filter(starts_at__gt=now).order_by("starts_at"),
        to_attr="upcoming",
    )


def member_organization_ids(user: Any) -> list[int]:
    return list(
        Membership.objects.filter(user=user, left_at__isnull=True).values_list(
            "organization_id", flat=True
        )
    )


def activity_browse(
    *,
    near: tuple[float, float] | None = None,
    max_km: float | None = None,
    organization_ids: list[int] | None = None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    skill: str = "",
    kind: str = "",
    now: dt.datetime | None = None,
    limit: int = 50,
) -> list[ActivityRow]:
    """Published activities with a shift still to come, filtered; nearest first when a point
    is given (a bounding box narrows the query, the exact distance sorts and cuts)."""
    now = now or timezone.now()
    rows = Activity.objects.filter(
        status=ActivityStatus.PUBLISHED, shifts__starts_at__gt=now
    ).select_related("organization", "region")
    if organization_ids is not None:
        rows = rows.filter(organization_id__in=organization_ids)
    if day_from:
        start = timezone.make_aware(dt.datetime.combine(day_from, dt.time.min))
        rows = rows.filter(shifts__starts_at__gte=start)
    if day_to:
        end = timezone.make_aware(dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time.min))
        rows = rows.filter(shifts__starts_at__lt=end)
    if skill:
        rows = rows.filter(skills__code=skill)
    if kind:
        rows = rows.filter(activity_type=kind)
    if near is not None and max_km:
        lat, lng = near
        d_lat = max_km / 111.0
        d_lng = max_km / (111.0 * max(0.01, math.cos(math.radians(lat))))
        rows = rows.filter(
            lat__gte=lat - d_lat, lat__lte=lat + d_lat, lng__gte=lng - d_lng, lng__lte=lng + d_lng
        )
    rows = (
        rows.annotate(first=Min("shifts__starts_at"))
        .order_by("first", "pk")
        .distinct()
        .prefetch_related(_upcoming_shifts(now))
    )
    found: list[ActivityRow] = []
    for activity in rows[: limit * 4]:
        distance = None
        if near is not None:
            distance = geo.haversine_m(near[0], near[1], activity.lat, activity.lng) / 1000
            if max_km and distance > max_km:
                continue
        upcoming: list[Shift] = getattr(activity, "upcoming", [])
        found.append(
            ActivityRow(
                activity,
                round(distance, 2) if distance is not None else None,
                upcoming[0] if upcoming else None,
                sum(s.seats_left for s in upcoming),
            )
        )
    if near is not None:
        found.sort(key=lambda r: (r.distance_km or 0, r.activity.pk))
    return found[:limit]


def activity_detail(pk: int) -> Activity | None:
    return (
        Activity.objects.select_related("organization", "region", "project", "agreement")
        .prefetch_related("skills", "shifts")
        .filter(pk=pk)
        .first()
    )


def activities_of_organizations(org_ids: list[int]) -> QuerySet[Activity]:
    return (
        Activity.objects.filter(organization_id__in=org_ids)
        .select_related("organization", "project")
        .annotate(shift_count=Count("shifts", distinct=True), first=Min("shifts__starts_at"))
        .order_by("-first", "-pk")
    )


def signups_of(user: Any) -> QuerySet[Signup]:
    return (
        Signup.objects.filter(volunteer=user)
        .select_related("shift__activity__organization")
        .order_by("-shift__starts_at")
    )


def session_of(shift: Shift, user: Any) -> ServiceSession | None:
    return ServiceSession.objects.filter(shift=shift, volunteer=user).first()


@dataclass
class Reliability:
    late_cancels: int = 0
    no_shows: int = 0


def reliability_of(user_ids: list[int]) -> dict[int, Reliability]:
    """Late cancellations and no-shows per person, across all activities (shown to organisers
    next to each name; the volunteer sees their own)."""
    rows = (
        Signup.objects.filter(volunteer_id__in=user_ids)
        .values("volunteer_id")
        .annotate(
            late=Count("id", filter=Q(late_cancel=True)),
            missed=Count("id", filter=Q(status=SignupStatus.NO_SHOW)),
        )
    )
    found = {uid: Reliability() for uid in user_ids}
    for row in rows:
        found[row["volunteer_id"]] = Reliability(row["late"], row["missed"])
    return found


@dataclass
class Roster:
    shift: Shift
    coming: list[Signup] = field(default_factory=list)
    pending: list[Signup] = field(default_factory=list)
    offered: list[Signup] = field(default_factory=list)
    waiting: list[Signup] = field(default_factory=list)
    gone: list[Signup] = field(default_factory=list)
    sessions: dict[int, ServiceSession] = field(default_factory=dict)
    reliability: dict[int, Reliability] = field(default_factory=dict)

    @property
    def checked_in(self) -> int:
        return sum(1 for s in self.sessions.values() if s.checked_out_at is None)

    @property
    def understaffed(self) -> bool:
        return len(self.coming) < self.shift.staff_needed


def shift_roster(shift: Shift) -> Roster:
    """Who is coming, who waits for approval or an answer to an offer, who is on the
    waitlist (in order), who cancelled; with each person's check-in and reliability."""
    roster = Roster(shift)
    signups = list(
        Signup.objects.filter(shift=shift)
        .select_related("volunteer", "volunteer__volunteer", "team")
        .order_by("created_at", "pk")
    )
    for s in signups:
        {
            SignupStatus.CONFIRMED: roster.coming,
            SignupStatus.PENDING: roster.pending,
            SignupStatus.OFFERED: roster.offered,
            SignupStatus.WAITLISTED: roster.waiting,
        }.get(SignupStatus(s.status), roster.gone).append(s)
    roster.sessions = {
        s.volunteer_id: s for s in ServiceSession.objects.filter(shift=shift).order_by("pk")
    }
    roster.reliability = reliability_of([s.volunteer_id for s in signups])
    return roster


def shift_live(shift: Shift, limit: int = 50) -> list[ServiceSession]:
    """The latest check-ins of the shift, newest first (the organiser's live view)."""
    return list(
        ServiceSession.objects.filter(shift=shift)
        .select_related("volunteer")
        .order_by("-checked_in_at", "-pk")[:limit]
    )


def shifts_understaffed(org_ids: list[int], now: dt.datetime | None = None) -> list[Shift]:
    now = now or timezone.now()
    return list(
        Shift.objects.filter(
            activity__organization_id__in=org_ids,
            understaffed_at__isnull=False,
            starts_at__gt=now,
        )
        .select_related("activity")
        .annotate(confirmed=Count("signups", filter=Q(signups__status=SignupStatus.CONFIRMED)))
        .order_by("starts_at")
    )


def upcoming_for_insurance(org_ids: list[int], now: dt.datetime | None = None) -> list[Any]:
    """The organisations' upcoming shifts with the people holding seats, in the shape the
    safeguards' insurance report reads (``insurance_uncovered``)."""
    from zhiyuan.safeguards.selectors import UpcomingActivity

    now = now or timezone.now()
    shifts = (
        Shift.objects.filter(
            activity__organization_id__in=org_ids,
            activity__status=ActivityStatus.PUBLISHED,
            starts_at__gt=now,
        )
        .select_related("activity__organization")
        .prefetch_related(
            Prefetch(
                "signups",
                queryset=Signup.objects.filter(status__in=SEAT_HOLDING).select_related("volunteer"),
                to_attr="seated",
            )
        )
        .order_by("starts_at")[:200]
    )
    return [
        UpcomingActivity(
            key=f"{s.activity.key}:shift:{s.pk}",
            organization=s.activity.organization,
            activity_type=s.activity.activity_type,
            start=s.starts_at,
            end=s.ends_at,
            participants=[x.volunteer for x in getattr(s, "seated", [])],
        )
        for s in shifts
    ]
