"""Writes of the activities app: projects, activities, sign-ups, the waitlist and check-in.

Every state change writes its audit entry in the same transaction (check-ins by the volunteer
excepted: the session row itself is the evidence, with method, positions and both clocks).
Locks, always taken in this order so that writers never deadlock: the volunteer's user row
(one person's sign-ups, so a time clash is checked against what is really there), then the
shift row (its seats); ``audit_record`` is a plain INSERT and locks nothing.

An app's check-in by code and sign-up by bearer token go a quick way first
(``checkin_scan_by_token``: one statement; ``signup_create_by_token``: two), with the same
checks and the same locks; whenever they cannot simply succeed they write nothing and the full
services below answer (docs/activities.md, "The quick paths").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhiyuan.accounts.models import User
from zhiyuan.activities import geo, qr
from zhiyuan.activities.models import (
    LIVE,
    SEAT_HOLDING,
    Activity,
    ActivityAudit,
    ActivityStatus,
    Approval,
    CheckMethod,
    Project,
    Recurrence,
    ServiceSession,
    Shift,
    Signup,
    SignupStatus,
)
from zhiyuan.core.audit import (
    AUDIT_INSERT_COLUMNS,
    audit_draft,
    audit_record,
    audit_written,
    entry_mac,
)
from zhiyuan.core.db import drop_if_broken, pg_prepared
from zhiyuan.core.models import AuditResult
from zhiyuan.core.permissions import require
from zhiyuan.organizations.models import Membership, Organization
from zhiyuan.organizations.selectors import OperatePurpose, organization_descendant_ids
from zhiyuan.organizations.services import (
    organization_may,
    organization_require,
    organization_require_operable,
)
from zhiyuan.people.identity import age_on
from zhiyuan.people.models import Identity, ProfileStatus, QualificationKind, VolunteerProfile
from zhiyuan.regions.models import Region
from zhiyuan.safeguards import rules as agreement_rules
from zhiyuan.safeguards.models import ActivityType, AgreementTemplate
from zhiyuan.safeguards.selectors import (
    NotCovered,
    agreement_acceptance_for,
    agreement_current_version,
    insurance_cover_for,
    volunteer_can_serve,
)

A = ActivityAudit
logger = logging.getLogger(__name__)
MAX_WEEKS = 52
# Check-in opens this long before a shift starts (briefing, queueing at the gate).
CHECKIN_OPENS_BEFORE = dt.timedelta(minutes=60)
# A token's last use is written at most this often (as ``accounts.services.token_authenticate``).
TOKEN_TOUCH_EVERY = dt.timedelta(minutes=5)
# Shifts starting within this time are checked for too few people.
UNDERSTAFFED_LOOKAHEAD = dt.timedelta(hours=48)


# --- refusals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One reason a sign-up or check-in is refused: a stable code and a sentence."""

    code: str
    message: str


class SignupRefused(ValidationError):
    """Every reason the person cannot sign up, each in their language; nothing was written."""

    def __init__(self, reasons: Sequence[Reason]) -> None:
        self.reasons = list(reasons)
        super().__init__([r.message for r in self.reasons], code=self.reasons[0].code)


class CheckinRefused(ValidationError):
    """A check-in or check-out that was refused, with the reason's code."""

    def __init__(self, code: str, message: str) -> None:
        self.reason = Reason(code, message)
        super().__init__(message, code=code)


def _errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _notify(
    users: Iterable[Any],
    kind: str,
    title: Any,
    body: Any,
    url: str,
    params: dict[str, Any] | None = None,
) -> None:
    """Tell people through the notifications app (rows written in this transaction, sent
    after commit), each in their own language: ``title``/``body`` are lazy with ``params``."""
    recipients = [u for u in users if u is not None]
    if not recipients or not apps.is_installed("zhiyuan.notifications"):
        return
    from importlib import import_module

    notify = import_module("zhiyuan.notifications.services").notify
    notify(users=recipients, kind=kind, title=title, body=body, url=url, params=params or {})


def _when(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def organisers_of(organization: Organization) -> list[User]:
    """The organisation's admins, who hear about under-staffed shifts and waiting requests."""
    from zhiyuan.accounts.models import RoleGrant
    from zhiyuan.accounts.roles import Role

    ids = RoleGrant.objects.filter(
        organization=organization, role=Role.ORG_ADMIN, revoked_at__isnull=True
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=ids, is_active=True))


# --- projects and activities ------------------------------------------------------------------


def project_create(
    *,
    organization: Organization,
    title: str,
    goal: str,
    starts_on: dt.date,
    ends_on: dt.date,
    beneficiaries: str,
    actor: User,
    targets: dict[str, int] | None = None,
    priority_tags: Sequence[str] = (),
    request: HttpRequest | None = None,
) -> Project:
    """A new project of the organisation, with its goal, period, people served and targets."""
    organization_require(actor, "activity.manage", organization, request=request)
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = [_("Give the project a title.")]
    if not (goal or "").strip():
        errors["goal"] = [_("Say what the project sets out to achieve.")]
    if not (beneficiaries or "").strip():
        errors["beneficiaries"] = [_("Say who the project serves.")]
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"] = [_("The last day comes before the first.")]
    clean_targets: dict[str, int] = {}
    for name, value in (targets or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.setdefault("targets", []).append(
                _("Target %(name)s must be a whole number.") % {"name": name}
            )
        else:
            clean_targets[str(name)[:40]] = value
    _errors(errors)
    tags = [t.strip()[:40] for t in priority_tags if t and t.strip()][:20]
    with transaction.atomic():
        project = Project.objects.create(
            organization=organization,
            title=title.strip(),
            goal=goal.strip(),
            starts_on=starts_on,
            ends_on=ends_on,
            beneficiaries=beneficiaries.strip(),
            targets=clean_targets,
            priority_tags=tags,
            created_by=actor,
        )
        audit_record(action=A.PROJECT_CREATED, actor=actor, target=project, request=request)
    return project


@dataclass(frozen=True)
class ShiftSpec:
    """A shift of the first occurrence; a weekly activity repeats it each week."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    role: str = ""
    min_staff: int = 0


def _occurrences(recurrence: str, first: dt.datetime, repeat_until: dt.date | None) -> list[int]:
    """Week offsets of each occurrence (0 for the first)."""
    if recurrence != Recurrence.WEEKLY or repeat_until is None:
        return [0]
    first_day = timezone.localdate(first)
    weeks = (repeat_until - first_day).days // 7
    return list(range(0, min(weeks, MAX_WEEKS - 1) + 1))


def activity_create(
    *,
    organization: Organization,
    actor: User,
    title: str,
    region: Region,
    place_name: str,
    lat: float,
    lng: float,
    shifts: Sequence[ShiftSpec],
    project: Project | None = None,
    description: str = "",
    risks: str = "",
    activity_type: str = ActivityType.GENERAL,
    category: str = "",
    recurrence: str = Recurrence.ONCE,
    repeat_until: dt.date | None = None,
    datum: str = geo.WGS84,
    checkin_radius_m: int = 200,
    allow_far_checkin: bool = False,
    approval: str = Approval.AUTOMATIC,
    skills: Iterable[Any] = (),
    qualifications: Sequence[str] = (),
    min_age: int | None = None,
    no_minors: bool = False,
    insurance_required: bool = True,
    emergency: bool = False,
    time_bank: bool = False,
    timebank_item: str = "",
    agreement_marked: bool = False,
    high_risk: bool = False,
    large_scale: bool = False,
    outside_city: bool = False,
    foreign_participants: bool = False,
    agreement: AgreementTemplate | None = None,
    cancel_notice_hours: int = 24,
    offer_hours: int = 4,
    request: HttpRequest | None = None,
) -> Activity:
    """A draft activity with its shifts (repeated weekly up to ``repeat_until`` if weekly).

    The place may be given in GCJ-02 (as map pickers in China give it); it is stored in WGS-84.
    A time-bank activity may name the service item it provides (``timebank_item``, a code
    priced for its region or above, where the region prices items): its records then deposit
    the item's price instead of the minutes served.
    """
    from zhiyuan.activities.timebank import timebank_item_errors

    organization_require(actor, "activity.manage", organization, request=request)
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = [_("Give the activity a title.")]
    if not (place_name or "").strip():
        errors["place_name"] = [_("Say where the activity takes place.")]
    if not geo.valid_point(lat, lng):
        errors["lat"] = [_("The place's position is not on the earth.")]
    if activity_type not in ActivityType.values:
        errors["activity_type"] = [_("Choose a kind of activity from the list.")]
    if not 10 <= checkin_radius_m <= 5000:
        errors["checkin_radius_m"] = [_("The check-in radius is between 10 m and 5 km.")]
    unknown = [q for q in qualifications if q not in QualificationKind.values]
    if unknown:
        errors["qualifications"] = [_("Choose qualifications from the list.")]
    if project is not None and project.organization_id != organization.pk:
        errors["project"] = [_("The project belongs to another organisation.")]
    if agreement is not None and agreement.organization_id != organization.pk:
        errors["agreement"] = [_("The agreement belongs to another organisation.")]
    if min_age is not None and not 0 < min_age < 100:
        errors["min_age"] = [_("A minimum age is between 1 and 99.")]
    if not shifts:
        errors["shifts"] = [_("Add at least one shift.")]
    for spec in shifts:
        if spec.ends_at <= spec.starts_at:
            errors.setdefault("shifts", []).append(_("A shift ends after it starts."))
        if spec.capacity < 1:
            errors.setdefault("shifts", []).append(_("A shift has at least one seat."))
    if recurrence == Recurrence.WEEKLY:
        first = min((s.starts_at for s in shifts), default=None)
        if repeat_until is None or (first and repeat_until < timezone.localdate(first)):
            errors["repeat_until"] = [_("A weekly activity says until when it repeats.")]
    timebank_item = (timebank_item or "").strip()
    item_errors = timebank_item_errors(time_bank=time_bank, item_code=timebank_item, region=region)
    if item_errors:
        errors["timebank_item"] = item_errors
    _errors(errors)
    if geo.valid_point(lat, lng):
        lat, lng = geo.to_wgs84(lat, lng, datum)
    first_start = min(s.starts_at for s in shifts)
    with transaction.atomic():
        activity = Activity.objects.create(
            organization=organization,
            project=project,
            region=region,
            title=title.strip(),
            description=(description or "").strip(),
            risks=(risks or "").strip(),
            activity_type=activity_type,
            category=(category or "").strip(),
            recurrence=recurrence,
            repeat_until=repeat_until if recurrence == Recurrence.WEEKLY else None,
            place_name=place_name.strip(),
            lat=lat,
            lng=lng,
            checkin_radius_m=checkin_radius_m,
            allow_far_checkin=allow_far_checkin,
            approval=approval,
            qualifications=list(dict.fromkeys(qualifications)),
            min_age=min_age,
            no_minors=no_minors,
            insurance_required=insurance_required,
            emergency=emergency,
            time_bank=time_bank,
            timebank_item=timebank_item,
            agreement_marked=agreement_marked,
            high_risk=high_risk,
            large_scale=large_scale,
            outside_city=outside_city,
            foreign_participants=foreign_participants,
            agreement=agreement,
            cancel_notice_hours=cancel_notice_hours,
            offer_hours=offer_hours,
            created_by=actor,
        )
        activity.skills.set(list(skills))
        rows = [
            Shift(
                activity=activity,
                role=(spec.role or "").strip()[:80],
                starts_at=spec.starts_at + dt.timedelta(weeks=week),
                ends_at=spec.ends_at + dt.timedelta(weeks=week),
                capacity=spec.capacity,
                min_staff=min(spec.min_staff, spec.capacity),
            )
            for week in _occurrences(recurrence, first_start, repeat_until)
            for spec in shifts
        ]
        Shift.objects.bulk_create(rows)
        audit_record(
            action=A.ACTIVITY_CREATED,
            actor=actor,
            target=activity,
            request=request,
            detail={"shifts": len(rows), "organization": organization.pk},
        )
    return activity


def activity_agreement_need(activity: Activity) -> agreement_rules.AgreementNeed:
    """Which agreement triggers hold for the activity (the safeguards' rule decides)."""
    bounds = activity.shifts.order_by("starts_at").values_list("starts_at", "ends_at")
    starts = [s for s, _ in bounds]
    ends = [e for _, e in bounds]
    return agreement_rules.agreement_required(
        organiser_marked=activity.agreement_marked,
        high_risk=activity.high_risk,
        start=min(starts) if starts else None,
        end=max(ends) if ends else None,
        large_scale=activity.large_scale,
        outside_city=activity.outside_city,
        foreign_participants=activity.foreign_participants,
    )


def activity_publish(
    *, activity: Activity, actor: User, request: HttpRequest | None = None
) -> Activity:
    """Open the activity for sign-up. Only a verified organisation without a sanction may
    publish; an activity that needs an agreement must name one the volunteers will accept."""
    organization_require(actor, "activity.manage", activity.organization, request=request)
    # Outside the write's transaction: a refusal stays in the audit log.
    organization_require_operable(
        activity.organization, purpose=OperatePurpose.PUBLISH, actor=actor, request=request
    )
    with transaction.atomic():
        # Row lock: two admins pressing "publish" at once publish once.
        activity = Activity.objects.select_for_update().get(pk=activity.pk)
        if activity.status == ActivityStatus.PUBLISHED:
            return activity
        if activity.status != ActivityStatus.DRAFT:
            raise ValidationError(_("A cancelled activity cannot be published."))
        now = timezone.now()
        if not activity.shifts.filter(starts_at__gt=now).exists():
            raise ValidationError(_("Every shift of this activity is in the past."))
        need = activity_agreement_need(activity)
        if need:
            template = activity.agreement or (
                AgreementTemplate.objects.filter(organization=activity.organization)
                .order_by("pk")
                .first()
            )
            if template is None or agreement_current_version(template) is None:
                raise ValidationError(
                    _(
                        "This activity needs a signed agreement (%(reasons)s): create the "
                        "organisation's agreement first."
                    )
                    % {"reasons": ", ".join(agreement_reason_labels(need.reasons))}
                )
            activity.agreement = template
        activity.agreement_reasons = list(need.reasons)
        activity.status = ActivityStatus.PUBLISHED
        activity.published_at = now
        activity.save(update_fields=["agreement", "agreement_reasons", "status", "published_at"])
        audit_record(
            action=A.ACTIVITY_PUBLISHED,
            actor=actor,
            target=activity,
            request=request,
            detail={"agreement": list(need.reasons)},
        )
    return activity


def agreement_reason_labels(reasons: Iterable[str]) -> list[str]:
    labels = {
        agreement_rules.ORGANISER_MARKED: _("the organiser requires it"),
        agreement_rules.PARTY_REQUESTED: _("a party asked for it"),
        agreement_rules.HIGH_RISK: _("high risk to safety or health"),
        agreement_rules.ONE_MONTH_OR_MORE: _("service of a month or more"),
        agreement_rules.LARGE_SCALE: _("a large-scale event"),
        agreement_rules.OUTSIDE_CITY: _("service outside the city"),
        agreement_rules.FOREIGN_PARTICIPANTS: _("foreign participants"),
    }
    return [str(labels.get(r, r)) for r in reasons]


def activity_cancel(
    *, activity: Activity, actor: User, reason: str, request: HttpRequest | None = None
) -> Activity:
    """Cancel the activity; everyone signed up is released (no late cancellation counted)."""
    organization_require(actor, "activity.manage", activity.organization, request=request)
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the activity is cancelled.")]})
    with transaction.atomic():
        activity = Activity.objects.select_for_update().get(pk=activity.pk)
        if activity.status == ActivityStatus.CANCELLED:
            return activity
        now = timezone.now()
        live = Signup.objects.filter(shift__activity=activity, status__in=LIVE)
        people = list(User.objects.filter(pk__in=live.values("volunteer_id")))
        live.update(status=SignupStatus.CANCELLED, cancelled_at=now, cancel_reason=reason[:200])
        Shift.objects.filter(activity=activity).update(seats_taken=0)
        activity.status = ActivityStatus.CANCELLED
        activity.cancelled_at = now
        activity.save(update_fields=["status", "cancelled_at"])
        audit_record(action=A.ACTIVITY_CANCELLED, actor=actor, target=activity, request=request)
        _notify(
            people,
            "activity.cancelled",
            gettext_lazy("Activity cancelled: %(title)s"),
            gettext_lazy("Reason: %(reason)s"),
            f"/activities/{activity.pk}/",
            {"title": activity.title, "reason": reason},
        )
    return activity


# --- eligibility ------------------------------------------------------------------------------


def _qualification_label(kind: str) -> str:
    return str(dict(QualificationKind.choices).get(kind, kind))


def signup_eligibility(
    *, shift: Shift, volunteer: User, at: dt.datetime | None = None
) -> list[Reason]:
    """Every reason ``volunteer`` cannot take a seat in ``shift`` now, in their language.

    An empty list means they can. ``full`` is among the reasons when no seat is left: the
    sign-up service then offers the waitlist instead of refusing.
    """
    at = at or timezone.now()
    activity = shift.activity
    reasons: list[Reason] = []
    day = timezone.localdate(shift.starts_at)
    if activity.status != ActivityStatus.PUBLISHED:
        reasons.append(Reason("closed", _("This activity is not open for sign-up.")))
    elif shift.starts_at <= at:
        reasons.append(Reason("closed", _("This shift has already started.")))
    profile = (
        VolunteerProfile.objects.filter(user=volunteer)
        .prefetch_related("skills", "qualifications")
        .first()
    )
    if profile is None:
        reasons.append(Reason("not_registered", _("Register as a volunteer before signing up.")))
    elif profile.status != ProfileStatus.ACTIVE:
        reasons.append(
            Reason(
                "not_active",
                _("Your registration is not active yet: %(status)s.")
                % {"status": profile.get_status_display()},
            )
        )
    refusal = volunteer_can_serve(volunteer, at)
    if refusal is not None:
        reasons.append(Reason("sanction", refusal.message))
    min_age = activity.effective_min_age
    if min_age:
        identity = Identity.objects.filter(user=volunteer).only("birth_date").first()
        if identity is None or identity.birth_date is None:
            reasons.append(
                Reason(
                    "age_unknown",
                    _(
                        "This activity is for volunteers aged %(age)d or over; complete your "
                        "real-name registration so that your age is known."
                    )
                    % {"age": min_age},
                )
            )
        else:
            age = age_on(identity.birth_date, day)
            if age < min_age:
                reasons.append(
                    Reason(
                        "age",
                        _(
                            "This activity is for volunteers aged %(age)d or over; on "
                            "%(day)s you will be %(yours)d."
                        )
                        % {"age": min_age, "day": day.isoformat(), "yours": age},
                    )
                )
    if profile is not None:
        needed = list(activity.skills.all())
        have = {s.pk for s in profile.skills.all()}
        missing = [s for s in needed if s.pk not in have]
        if missing:
            reasons.append(
                Reason(
                    "skill_missing",
                    _("This activity needs these skills: %(skills)s.")
                    % {"skills": "、".join(str(s) for s in missing)},
                )
            )
        held = list(profile.qualifications.all())
        for kind in activity.qualifications or []:
            mine = [q for q in held if q.kind == kind]
            if not mine:
                reasons.append(
                    Reason(
                        "qualification_missing",
                        _("This activity needs a valid qualification: %(name)s.")
                        % {"name": _qualification_label(kind)},
                    )
                )
            elif not any(q.valid_on(day) for q in mine):
                last = max(q.valid_until for q in mine if q.valid_until is not None)
                reasons.append(
                    Reason(
                        "qualification_expired",
                        _(
                            "Your qualification %(name)s is valid until %(until)s, before the "
                            "shift on %(day)s."
                        )
                        % {
                            "name": _qualification_label(kind),
                            "until": last.isoformat(),
                            "day": day.isoformat(),
                        },
                    )
                )
    if activity.insurance_required:
        cover = insurance_cover_for(
            volunteer, activity.organization, activity.activity_type, shift.starts_at, shift.ends_at
        )
        if isinstance(cover, NotCovered):
            reasons.append(
                Reason(
                    "no_insurance",
                    _("You are not insured for this activity: %(why)s") % {"why": cover.message},
                )
            )
    if activity.needs_agreement and activity.agreement is not None:
        # An acceptance for this activity, or of the organisation's agreement as a whole.
        accepted = agreement_acceptance_for(
            volunteer, activity.agreement, subject=activity.key
        ) or agreement_acceptance_for(volunteer, activity.agreement, subject="")
        if accepted is None:
            reasons.append(
                Reason(
                    "agreement",
                    _("Read and accept the agreement “%(title)s” before signing up.")
                    % {"title": activity.agreement.title},
                )
            )
    seated = Signup.objects.filter(volunteer=volunteer, status__in=SEAT_HOLDING).select_related(
        "shift__activity"
    )
    if Signup.objects.filter(volunteer=volunteer, shift=shift, status__in=LIVE).exists():
        reasons.append(Reason("already", _("You have already signed up for this shift.")))
    else:
        clash = (
            seated.filter(shift__starts_at__lt=shift.ends_at, shift__ends_at__gt=shift.starts_at)
            .exclude(shift=shift)
            .first()
        )
        if clash is not None:
            reasons.append(
                Reason(
                    "clash",
                    _("You are already signed up for “%(other)s” at the same time (%(when)s).")
                    % {"other": clash.shift.activity.title, "when": _when(clash.shift.starts_at)},
                )
            )
    if shift.seats_taken >= shift.capacity:
        reasons.append(Reason("full", _("This shift is full.")))
    return reasons


def _blocking(reasons: list[Reason]) -> list[Reason]:
    return [r for r in reasons if r.code != "full"]


def _refuse_signup(
    shift: Shift, volunteer: User, actor: Any, reasons: list[Reason], request: Any
) -> SignupRefused:
    audit_record(
        action=A.SIGNUP_REFUSED,
        actor=actor,
        target=shift,
        result=AuditResult.DENIED,
        request=request,
        detail={"volunteer": volunteer.pk, "reasons": [r.code for r in reasons]},
    )
    return SignupRefused(reasons)


# --- sign-up and the waitlist -----------------------------------------------------------------


def _activity_open_locked(shift: Shift) -> bool:
    """Whether the shift's activity is still open for sign-up and the shift not begun, the
    activity share-locked (PostgreSQL) until the caller's commit: cancelling it (which locks it
    FOR UPDATE) waits for this sign-up and then cancels it too; a cancelling in progress is
    waited for, and the activity then found closed. (SQLite runs one writer at a time.) The
    quick sign-up's function takes the same lock."""
    from django.db import connection

    lock = " FOR SHARE OF a" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM activities_shift sh JOIN activities_activity a "  # noqa: S608 — fixed
            "ON a.id = sh.activity_id WHERE sh.id = %s AND a.status = %s AND sh.starts_at > %s"
            + lock,
            [shift.pk, ActivityStatus.PUBLISHED, timezone.now()],
        )
        return cursor.fetchone() is not None


def _take_seat_or_queue(
    shift: Shift, volunteer: User, actor: User, *, waitlist: bool, team: Organization | None
) -> Signup | None:
    """Inside the caller's transaction: lock the person, share-lock the activity, lock the
    shift, and take a seat, a place on the waitlist, or nothing (full and no waitlist wanted;
    or lost a race: the account closed, the activity no longer open, a clash). A retried
    sign-up finds the first one."""
    # Row lock on the person: their sign-ups are checked for time clashes one at a time. An
    # account closed meanwhile (``person_erase`` locks it too) is found closed once locked.
    if User.objects.select_for_update().filter(pk=volunteer.pk, is_active=True).first() is None:
        return None
    if not _activity_open_locked(shift):
        return None
    existing = Signup.objects.filter(shift=shift, volunteer=volunteer, status__in=LIVE).first()
    if existing is not None:
        return existing
    clash = (
        Signup.objects.filter(
            volunteer=volunteer,
            status__in=SEAT_HOLDING,
            shift__starts_at__lt=shift.ends_at,
            shift__ends_at__gt=shift.starts_at,
        )
        .exclude(shift=shift)
        .exists()
    )
    if clash:
        return None
    # Row lock on the shift: serialises everyone taking its seats, so the count is exact.
    locked = Shift.objects.select_for_update().get(pk=shift.pk)
    if locked.seats_taken < locked.capacity:
        manual = shift.activity.approval == Approval.MANUAL
        status = SignupStatus.PENDING if manual else SignupStatus.CONFIRMED
        Shift.objects.filter(pk=shift.pk).update(seats_taken=F("seats_taken") + 1)
        shift.seats_taken = locked.seats_taken + 1
    elif waitlist:
        status = SignupStatus.WAITLISTED
    else:
        return None
    return Signup.objects.create(
        shift=shift,
        volunteer=volunteer,
        status=status,
        signed_up_by=actor,
        team=team,
        decided_at=timezone.now() if status == SignupStatus.CONFIRMED else None,
    )


def signup_create(
    *,
    shift: Shift,
    volunteer: User,
    actor: User | None = None,
    waitlist: bool = True,
    request: HttpRequest | None = None,
) -> Signup:
    """Sign a volunteer up for a shift: a seat (confirmed, or awaiting approval where the
    organiser approves by hand), else a place on the waitlist. Any other reason refuses, with
    every reason that holds. Signing up twice returns the first sign-up."""
    actor = actor or volunteer
    require(actor, "activity.join", request=request)
    if actor.pk != volunteer.pk:
        raise PermissionDenied(_("Only the volunteer can sign up for themselves here."))
    reasons = signup_eligibility(shift=shift, volunteer=volunteer)
    already = next((r for r in reasons if r.code == "already"), None)
    if already is not None:
        found = Signup.objects.filter(shift=shift, volunteer=volunteer, status__in=LIVE).first()
        if found is not None:
            return found
    blocking = _blocking(reasons)
    if blocking or (not waitlist and reasons):
        raise _refuse_signup(shift, volunteer, actor, reasons, request)
    with transaction.atomic():
        signup = _take_seat_or_queue(shift, volunteer, actor, waitlist=waitlist, team=None)
        if signup is not None:
            _signed_up(signup, shift, actor, request)
    if signup is None:
        # Lost a race while checking: a clash appeared, the last seat went, the activity was
        # cancelled or the account closed. The reasons as they stand now (the shift and its
        # activity read again).
        shift = Shift.objects.select_related("activity").get(pk=shift.pk)
        reasons = signup_eligibility(shift=shift, volunteer=volunteer) or [
            Reason("full", _("This shift is full."))
        ]
        raise _refuse_signup(shift, volunteer, actor, reasons, request)
    return signup


def _signed_up(signup: Signup, shift: Shift, actor: User, request: HttpRequest | None) -> None:
    audit_record(
        action=A.SIGNED_UP,
        actor=actor,
        target=signup,
        request=request,
        detail={"shift": shift.pk, "status": signup.status},
    )
    if signup.status == SignupStatus.PENDING:
        _notify(
            organisers_of(shift.activity.organization),
            "signup.pending",
            gettext_lazy("A sign-up waits for your approval"),
            gettext_lazy("%(title)s"),
            f"/activities/manage/shifts/{shift.pk}/",
            {"title": shift.activity.title},
        )


# --- the quick path of a sign-up by an app -----------------------------------------------------

# Everything ``signup_eligibility`` asks, for the holder of a bearer token, in one statement.
# It takes no lock: what must not change under a sign-up (the account closed, the activity no
# longer open, two sign-ups of a person for one shift, two seats that clash) is looked at again
# by the function that writes, under the locks the full service takes too (see
# ``_SIGNUP_TAKE_SQL``); the rest (sanctions, qualifications, insurance) is read unlocked by
# the full service as well. Policies of the organisation and of its parents come as rows for
# ``safeguards.coverage.decide``, the same rule the safeguards apply.
# The last column is the id the sign-up will have (drawn from its sequence here, so that the
# audit entry, which names it, can be written by the statement that makes the sign-up; an id
# drawn for a sign-up that the quick path then leaves to the full service is simply not used,
# as sequences leave gaps anyway).
_SIGNUP_FACTS_SQL = """
WITH RECURSIVE tok AS (
    SELECT t.id, t.user_id, t.last_used_at
    FROM accounts_apitoken t JOIN accounts_user u ON u.id = t.user_id
    WHERE t.key_hash = %(key_hash)s AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > %(now)s) AND u.is_active
      AND EXISTS (
          SELECT 1 FROM accounts_rolegrant g
          WHERE g.user_id = t.user_id AND g.revoked_at IS NULL AND g.role = ANY(%(roles)s)
      )
), chain(id, parent_id) AS (
    SELECT o.id, o.parent_id FROM organizations_organization o
    JOIN activities_activity a ON a.organization_id = o.id
    JOIN activities_shift sh ON sh.activity_id = a.id
    WHERE sh.id = %(shift)s
    UNION
    SELECT o.id, o.parent_id FROM organizations_organization o JOIN chain ON o.id = chain.parent_id
)
SELECT
    tok.user_id, tok.id, tok.last_used_at,
    sh.starts_at, sh.ends_at,
    a.id, a.title, a.status, a.approval, a.organization_id, a.activity_type, a.min_age,
    a.no_minors, a.emergency, a.insurance_required, a.qualifications, a.agreement_reasons,
    a.agreement_id,
    p.status,
    EXISTS (
        SELECT 1 FROM safeguards_sanction x
        WHERE x.party_kind = 'volunteer' AND x.user_id = tok.user_id
          AND x.kind = ANY(%(restricting)s) AND x.starts_at <= %(now)s
          AND (x.ends_at IS NULL OR x.ends_at > %(now)s)
          AND (x.lifted_at IS NULL OR x.lifted_at > %(now)s)
    ),
    (SELECT i.birth_date FROM people_identity i WHERE i.user_id = tok.user_id),
    EXISTS (
        SELECT 1 FROM activities_activity_skills need
        WHERE need.activity_id = a.id AND NOT EXISTS (
            SELECT 1 FROM people_volunteerprofile_skills have
            WHERE have.volunteerprofile_id = p.id AND have.skill_id = need.skill_id
        )
    ),
    (
        SELECT json_agg(json_build_array(q.kind, q.valid_until))
        FROM people_qualification q WHERE q.profile_id = p.id
    ),
    ARRAY(SELECT chain.id FROM chain),
    (
        SELECT json_agg(json_build_array(
            pol.id, pol.organization_id, pol.starts_on, pol.ends_on, pol.basis,
            pol.activity_types, pol.cover_death,
            EXISTS (
                SELECT 1 FROM safeguards_insuredperson ip
                WHERE ip.policy_id = pol.id AND ip.user_id = tok.user_id
            )
        ))
        FROM safeguards_insurancepolicy pol
        WHERE pol.organization_id IN (SELECT chain.id FROM chain) AND pol.cancelled_at IS NULL
    ),
    EXISTS (
        SELECT 1 FROM safeguards_agreementacceptance acc
        WHERE acc.user_id = tok.user_id AND acc.subject IN ('activity:' || a.id, '')
          AND acc.version_id = (
              SELECT v.id FROM safeguards_agreementversion v
              WHERE v.template_id = a.agreement_id ORDER BY v.number DESC LIMIT 1
          )
    ),
    EXISTS (
        SELECT 1 FROM activities_signup s
        WHERE s.shift_id = sh.id AND s.volunteer_id = tok.user_id AND s.status = ANY(%(live)s)
    ),
    EXISTS (
        SELECT 1 FROM activities_signup s JOIN activities_shift o ON o.id = s.shift_id
        WHERE s.volunteer_id = tok.user_id AND s.status = ANY(%(seat_holding)s)
          AND o.starts_at < sh.ends_at AND o.ends_at > sh.starts_at AND o.id <> sh.id
    ),
    nextval(pg_get_serial_sequence('activities_signup', 'id'))
FROM tok
JOIN activities_shift sh ON sh.id = %(shift)s
JOIN activities_activity a ON a.id = sh.activity_id
LEFT JOIN people_volunteerprofile p ON p.user_id = tok.user_id
"""

# Take a seat, or a place on the waitlist: the function ``activities_signup_take`` (migration
# activities 0005) locks the person (an active account), share-locks the activity (still open
# for sign-up), looks again for a live sign-up of theirs for the shift or a clashing seat (on
# what committed up to its locks: each statement of a function takes a fresh snapshot), takes
# a seat by a conditional UPDATE of the counter (PostgreSQL re-checks ``seats_taken <
# capacity`` on the newest row version when writers collide, so the shift is never
# over-booked; the check constraint backs it up), writes the sign-up, refreshes the
# token's last use at most every five minutes, as ``token_authenticate`` does, and writes the
# audit entry. Its MAC covers the status, known only there, so the entry is drafted
# (``audit_draft``) with the MAC of either status, and the function writes the one that holds.
# Nothing is written when the person already has a live sign-up or a clashing seat, or when
# the shift is full and no waitlist is wanted. Called on its own, it is one transaction.
_SIGNUP_TAKE_SQL = """
SELECT signup_id, signup_status, entry_id, entry_xid FROM activities_signup_take(
    %(shift)s, %(user)s, %(id)s, %(now)s, %(waitlist)s, %(token)s, %(touch_before)s,
    %(audit_at)s, %(audit_ip)s, %(audit_action)s, %(audit_type)s, %(audit_result)s,
    %(confirmed_mac)s, %(waitlisted_mac)s
)
"""
# The audit entry's columns, in the order the function writes them.
assert AUDIT_INSERT_COLUMNS == (
    "at, actor_id, ip, action, object_type, object_id, result, detail, mac"
), "core_auditevent's columns changed: replace activities_signup_take by a migration"


@functools.cache
def _with_fixed_lists(sql: str) -> str:
    """``sql`` with the fixed lists the quick statements compare against written in: the roles
    that may join activities, the restricting sanction kinds, the live and the seat-holding
    sign-up statuses. They come from the code and do not change while the process runs; bound
    as parameters, psycopg encoded the same arrays again on every request (a sign-up sent six).
    Each value is a lower-case code, checked before it is written into the statement."""
    from zhiyuan.core.permissions import ABILITIES
    from zhiyuan.safeguards.models import RESTRICTING

    lists = {
        "roles": sorted(str(r) for r in ABILITIES["activity.join"]),
        "restricting": [str(k) for k in RESTRICTING],
        "live": [str(s) for s in LIVE],
        "seat_holding": [str(s) for s in SEAT_HOLDING],
    }
    for name, values in lists.items():
        if not values or not all(re.fullmatch(r"[a-z_]+", v) for v in values):
            raise ValueError(f"{name}: not a list of lower-case codes: {values!r}")
        literal = "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::varchar[]"
        sql = sql.replace(f"%({name})s", literal)
    return sql


@dataclass(frozen=True)
class FastSignup:
    """What the quick path of a sign-up made: the sign-up and what its answer shows."""

    signup_id: int
    status: str
    shift_id: int
    activity_id: int
    activity_title: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class _NotQuick(Exception):
    """The quick path cannot decide: undo what it began and let the full service answer."""


def _quick_eligible(row: tuple[Any, ...], user_id: int, now: dt.datetime) -> bool:
    """``signup_eligibility`` on the facts read by ``_SIGNUP_FACTS_SQL``: True when no reason
    at all holds but possibly ``full`` (the waitlist is the write's business)."""
    from zhiyuan.safeguards import coverage

    (
        _uid, _tid, _used, starts_at, ends_at, _aid, _title, status, approval, _org,
        activity_type, min_age, no_minors, emergency, insurance_required, qualifications,
        agreement_reasons, agreement_id, profile_status, sanctioned, birth_date, skill_missing,
        held, chain, policies, agreed, already, clash,
    ) = row  # fmt: skip
    if status != ActivityStatus.PUBLISHED or starts_at <= now:
        return False
    if approval != Approval.AUTOMATIC:
        return False  # the organisers are told of a request awaiting approval: the full way
    if profile_status != ProfileStatus.ACTIVE or sanctioned or skill_missing:
        return False
    if already or clash:
        return False
    day = timezone.localdate(starts_at)
    # The model's own rule, read off the facts (no model instance: this path counts them).
    floor = Activity.effective_min_age.fget(  # type: ignore[attr-defined]
        SimpleNamespace(
            min_age=min_age, no_minors=no_minors, emergency=emergency, activity_type=activity_type
        )
    )
    if floor and (birth_date is None or age_on(birth_date, day) < floor):
        return False
    valid: dict[str, bool] = {}
    for kind, until in _json(held) or []:
        valid[kind] = valid.get(kind, False) or until is None or dt.date.fromisoformat(until) >= day
    if any(not valid.get(kind, False) for kind in _json(qualifications) or []):
        return False
    if _json(agreement_reasons) and agreement_id is not None and not agreed:
        return False
    if not insurance_required:
        return True
    facts = []
    for pid, holder, first, last, basis, types, death, named in _json(policies) or []:
        if basis == coverage.MEMBERS:
            raise _NotQuick  # membership over a family of teams: the safeguards' own reader
        facts.append(
            coverage.PolicyFacts(
                id=pid,
                organization_id=holder,
                starts_on=dt.date.fromisoformat(first),
                ends_on=dt.date.fromisoformat(last),
                basis=basis,
                activity_types=tuple(_json(types) or ()),
                named_user_ids=frozenset([user_id] if named else []),
                cover_death=float(death),
            )
        )
    question = coverage.Question(
        user_id=user_id,
        activity_type=activity_type,
        first_day=day,
        last_day=timezone.localdate(ends_at),
        organization_chain=tuple(chain),
    )
    best, _miss = coverage.decide(facts, question)
    return best is not None


def signup_create_by_token(
    *, token: str, shift_id: int, waitlist: bool = True, request: HttpRequest | None = None
) -> FastSignup | None:
    """Sign the holder of an API token up for a shift in two statements (PostgreSQL).

    The quick path of ``signup_create`` for a phone app, when nothing stands in the way: one
    statement authenticates the token and reads every fact eligibility needs; one (the
    function ``activities_signup_take``) locks the person, looks again for a sign-up in the
    way, takes a seat (or a place on the waitlist) with a conditional UPDATE of the seat
    counter and inserts the sign-up and its audit entry. ``None`` means nothing was
    done — a reason to refuse, a sign-up already there, manual approval, a members-only
    policy, another database: the caller then runs ``signup_create``, which gives every reason
    in the person's language, audits the refusal or returns the existing sign-up.
    """
    from django.db import DatabaseError, connection

    from zhiyuan.accounts.services import TOKEN_PREFIX, _hash_key

    if connection.vendor != "postgresql" or not token.startswith(TOKEN_PREFIX):
        return None
    if not connection.in_atomic_block:
        # As the quick check-in (``pg_prepared``), no round trip to ping the connection before
        # the transaction (Django's CONN_HEALTH_CHECKS, once per request): on a connection gone
        # bad the first statement fails, and it is closed below so that the full service
        # answers on a new one.
        connection.health_check_done = True  # type: ignore[attr-defined]  # Django 4.1+
    now = timezone.now()
    params: dict[str, Any] = {"key_hash": _hash_key(token), "now": now, "shift": shift_id}
    facts_sql = _with_fixed_lists(_SIGNUP_FACTS_SQL)
    drafted: dict[str, Any] = {}

    def take_seat(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        """The second statement's parameters, when the facts the first read leave no reason
        to refuse."""
        if not rows:
            raise _NotQuick
        row = rows[0]
        user_id, signup_id = row[0], row[-1]
        if not _quick_eligible(row[:-1], user_id, now):
            raise _NotQuick
        # The entry names the status, known only to the next statement: one draft, with the
        # MAC of each status it may have; the statement writes the one that holds.
        entry = audit_draft(
            action=A.SIGNED_UP,
            actor=SimpleNamespace(pk=user_id, is_authenticated=True),
            object_type=Signup._meta.label_lower,
            object_id=str(signup_id),
            request=request,
            detail={"shift": shift_id, "status": SignupStatus.CONFIRMED},
        )
        macs = {SignupStatus.CONFIRMED: entry.mac}
        entry.detail = {"shift": shift_id, "status": SignupStatus.WAITLISTED}
        macs[SignupStatus.WAITLISTED] = entry_mac(entry)
        drafted.update(row=row, entry=entry, macs=macs)
        return {
            "shift": shift_id,
            "user": user_id,
            "id": signup_id,
            "now": now,
            "waitlist": waitlist,
            "token": row[1],
            "touch_before": now - TOKEN_TOUCH_EVERY,
            "audit_at": entry.at,
            "audit_ip": entry.ip,
            "audit_action": entry.action,
            "audit_type": entry.object_type,
            "audit_result": entry.result,
            "confirmed_mac": macs[SignupStatus.CONFIRMED],
            "waitlisted_mac": macs[SignupStatus.WAITLISTED],
        }

    def written(taken: list[tuple[Any, ...]]) -> tuple[int, str]:
        """The sign-up the second statement made, its audit entry completed."""
        if not taken:
            raise _NotQuick  # nothing written: the person or the seat changed in between
        signup_id, status, entry_id, entry_xid = taken[0]
        entry, macs = drafted["entry"], drafted["macs"]
        entry.detail = {"shift": shift_id, "status": status}
        entry.mac = macs[status]
        audit_written(entry, entry_id, entry_xid)
        return signup_id, status

    # On its own (autocommit), each statement is its own transaction: the facts are read, and
    # the function writes everything or nothing. Inside a caller's transaction, both run in a
    # savepoint of it, and the person's lock is held until the caller commits.
    own_transaction = not connection.in_atomic_block and connection.get_autocommit()
    try:
        with contextlib.nullcontext() if own_transaction else transaction.atomic():
            take_params = take_seat(_execute_prepared(facts_sql, params))
            taken = _execute_prepared(_SIGNUP_TAKE_SQL, take_params)
            if not own_transaction:
                signup_id, status = written(taken)
    except _NotQuick:
        return None
    except DatabaseError:
        # A deadlock, a constraint, a connection gone bad: nothing was kept; the full service
        # decides, on a new connection if this one is unusable. Logged, so that a quick path
        # which always fails is not merely slow in silence.
        logger.warning("quick sign-up fell back to the full service", exc_info=True)
        drop_if_broken()
        return None
    if own_transaction:
        # Committed (or nothing written): the entry's bookkeeping is done after the commit,
        # outside the handler above, whose "nothing was kept" would no longer be true.
        if not taken:
            return None  # nothing written: the person or the seat changed in between
        signup_id, status = written(taken)
    row = drafted["row"]
    return FastSignup(
        signup_id=signup_id,
        status=status,
        shift_id=shift_id,
        activity_id=row[5],
        activity_title=row[6],
        starts_at=row[3],
        ends_at=row[4],
    )


@dataclass
class GroupResult:
    volunteer: User
    signup: Signup | None
    reasons: list[Reason] = field(default_factory=list)


def signup_group(
    *,
    shift: Shift,
    team: Organization,
    volunteers: Sequence[User],
    actor: User,
    request: HttpRequest | None = None,
) -> list[GroupResult]:
    """A team's admin signs members up together. Each member is checked as if signing up
    alone; those who cannot come are reported with their reasons, the rest take seats in
    order and then the waitlist."""
    organization_require(actor, "activity.manage", team, request=request)
    team_ids = [team.pk, *organization_descendant_ids(team)]
    members = set(
        Membership.objects.filter(
            organization_id__in=team_ids, left_at__isnull=True, user__in=volunteers
        ).values_list("user_id", flat=True)
    )
    results: list[GroupResult] = []
    with transaction.atomic():
        for person in volunteers:
            if person.pk not in members:
                results.append(
                    GroupResult(
                        person,
                        None,
                        [Reason("not_member", _("Not a member of %(team)s.") % {"team": team})],
                    )
                )
                continue
            reasons = signup_eligibility(shift=shift, volunteer=person)
            if _blocking(reasons):
                results.append(GroupResult(person, None, reasons))
                continue
            signup = _take_seat_or_queue(shift, person, actor, waitlist=True, team=team)
            if signup is None:
                # Lost a race while taking the seat (a clash, the activity cancelled, the
                # account closed): the reasons as they stand now.
                now_shift = Shift.objects.select_related("activity").get(pk=shift.pk)
                reasons = signup_eligibility(shift=now_shift, volunteer=person)
            results.append(GroupResult(person, signup, [] if signup else reasons))
        audit_record(
            action=A.GROUP_SIGNUP,
            actor=actor,
            target=shift,
            request=request,
            detail={
                "team": team.pk,
                "signed_up": [r.volunteer.pk for r in results if r.signup],
                "refused": {
                    str(r.volunteer.pk): [x.code for x in r.reasons]
                    for r in results
                    if not r.signup
                },
            },
        )
    return results


def _require_organiser(actor: User, shift: Shift, request: HttpRequest | None) -> None:
    organization_require(actor, "activity.manage", shift.activity.organization, request=request)


def _release_seat(shift: Shift) -> None:
    Shift.objects.filter(pk=shift.pk, seats_taken__gt=0).update(seats_taken=F("seats_taken") - 1)


def signup_offer_next(*, shift: Shift, now: dt.datetime | None = None) -> list[Signup]:
    """Offer freed seats to the first eligible people on the waitlist, each with a time to
    accept. Inside the caller's transaction, under the shift's lock."""
    now = now or timezone.now()
    # Row lock on the shift: seats are counted and handed out by one writer at a time.
    locked = (
        Shift.objects.select_for_update(of=("self",)).select_related("activity").get(pk=shift.pk)
    )
    if locked.starts_at <= now or locked.activity.status != ActivityStatus.PUBLISHED:
        return []
    offered: list[Signup] = []
    free = locked.capacity - locked.seats_taken
    if free <= 0:
        return []
    deadline = min(now + dt.timedelta(hours=locked.activity.offer_hours), locked.starts_at)
    for candidate in Signup.objects.filter(
        shift=locked, status=SignupStatus.WAITLISTED
    ).select_related("volunteer"):
        if len(offered) >= free:
            break
        # The person's lock, as every sign-up of theirs takes it, so that a seat of theirs
        # written meanwhile elsewhere (a clash) is seen below; not waited for: a person being
        # signed up somewhere right now is passed over this time and stays on the list.
        if (
            User.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk=candidate.volunteer_id)
            .first()
            is None
        ):
            continue
        reasons = _blocking(signup_eligibility(shift=locked, volunteer=candidate.volunteer))
        if [r for r in reasons if r.code != "already"]:
            continue  # not eligible now (an expired qualification, a clash): skipped, kept
        candidate.status = SignupStatus.OFFERED
        candidate.offer_expires_at = deadline
        candidate.save(update_fields=["status", "offer_expires_at"])
        offered.append(candidate)
        audit_record(
            action=A.SEAT_OFFERED,
            target=candidate,
            detail={"shift": locked.pk, "until": deadline.isoformat()},
        )
        _notify(
            [candidate.volunteer],
            "signup.offered",
            gettext_lazy("A seat is free for you: %(title)s"),
            gettext_lazy("Accept it before %(until)s."),
            "/activities/mine/",
            {"title": locked.activity.title, "until": _when(deadline)},
        )
    if offered:
        Shift.objects.filter(pk=locked.pk).update(seats_taken=F("seats_taken") + len(offered))
    return offered


def signup_cancel(
    *,
    signup: Signup,
    actor: User,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Signup:
    """The volunteer cancels (Art. 22: notify promptly), or the organiser removes someone.
    Cancelling a seat with less notice than the activity asks counts as late; the freed seat
    goes to the waitlist."""
    own = actor.pk == signup.volunteer_id
    if own:
        require(actor, "activity.join", request=request)
    else:
        _require_organiser(actor, signup.shift, request)
    with transaction.atomic():
        signup = (
            Signup.objects.select_for_update(of=("self",))
            .select_related("shift__activity")
            .get(pk=signup.pk)
        )
        if signup.status not in (*SEAT_HOLDING, SignupStatus.WAITLISTED):
            return signup
        now = timezone.now()
        shift = signup.shift
        if shift.ends_at <= now:
            raise ValidationError(_("This shift is over; it can no longer be cancelled."))
        held = signup.holds_seat
        notice = dt.timedelta(hours=shift.activity.cancel_notice_hours)
        signup.late_cancel = bool(own and held and shift.starts_at - now < notice)
        signup.status = SignupStatus.CANCELLED
        signup.cancelled_at = now
        signup.cancel_reason = (reason or "").strip()[:200]
        signup.save(update_fields=["status", "cancelled_at", "cancel_reason", "late_cancel"])
        if held:
            _release_seat(shift)
            signup_offer_next(shift=shift, now=now)
        audit_record(
            action=A.SIGNUP_CANCELLED,
            actor=actor,
            target=signup,
            request=request,
            detail={"late": signup.late_cancel, "by_volunteer": own},
        )
    return signup


def signup_approve(*, signup: Signup, actor: User, request: HttpRequest | None = None) -> Signup:
    """The organiser approves a sign-up awaiting approval (its seat was held already)."""
    _require_organiser(actor, signup.shift, request)
    with transaction.atomic():
        signup = Signup.objects.select_for_update().get(pk=signup.pk)
        if signup.status == SignupStatus.CONFIRMED:
            return signup
        if signup.status != SignupStatus.PENDING:
            raise ValidationError(_("Only a sign-up awaiting approval can be approved."))
        signup.status = SignupStatus.CONFIRMED
        signup.decided_at = timezone.now()
        signup.save(update_fields=["status", "decided_at"])
        audit_record(action=A.SIGNUP_APPROVED, actor=actor, target=signup, request=request)
        _notify(
            [signup.volunteer],
            "signup.approved",
            gettext_lazy("Your sign-up is confirmed"),
            gettext_lazy("%(title)s"),
            "/activities/mine/",
            {"title": str(signup.shift)},
        )
    return signup


def signup_reject(
    *, signup: Signup, actor: User, reason: str, request: HttpRequest | None = None
) -> Signup:
    """The organiser declines a sign-up awaiting approval, saying why; the seat is freed."""
    _require_organiser(actor, signup.shift, request)
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the sign-up is declined.")]})
    with transaction.atomic():
        signup = (
            Signup.objects.select_for_update(of=("self",)).select_related("shift").get(pk=signup.pk)
        )
        if signup.status != SignupStatus.PENDING:
            raise ValidationError(_("Only a sign-up awaiting approval can be declined."))
        signup.status = SignupStatus.REJECTED
        signup.decided_at = timezone.now()
        signup.cancel_reason = reason.strip()[:200]
        signup.save(update_fields=["status", "decided_at", "cancel_reason"])
        _release_seat(signup.shift)
        signup_offer_next(shift=signup.shift)
        audit_record(action=A.SIGNUP_REJECTED, actor=actor, target=signup, request=request)
    return signup


def signup_offer_accept(
    *, signup: Signup, actor: User, request: HttpRequest | None = None
) -> Signup:
    """The volunteer takes the seat offered to them, before the offer lapses."""
    if actor.pk != signup.volunteer_id:
        raise PermissionDenied(_("Only the volunteer can answer this offer."))
    require(actor, "activity.join", request=request)
    with transaction.atomic():
        signup = (
            Signup.objects.select_for_update(of=("self",))
            .select_related("shift__activity")
            .get(pk=signup.pk)
        )
        if signup.status == SignupStatus.CONFIRMED:
            return signup
        if signup.status != SignupStatus.OFFERED:
            raise ValidationError(_("There is no open offer for this sign-up."))
        now = timezone.now()
        if signup.offer_expires_at is not None and signup.offer_expires_at <= now:
            _lapse(signup, now)
            raise ValidationError(
                _("The offer lapsed at %(when)s.") % {"when": _when(signup.offer_expires_at)}
            )
        manual = signup.shift.activity.approval == Approval.MANUAL
        signup.status = SignupStatus.PENDING if manual else SignupStatus.CONFIRMED
        signup.decided_at = None if manual else now
        signup.save(update_fields=["status", "decided_at"])
        audit_record(action=A.OFFER_ACCEPTED, actor=actor, target=signup, request=request)
    return signup


def signup_offer_decline(
    *, signup: Signup, actor: User, request: HttpRequest | None = None
) -> Signup:
    """The volunteer says no to the offered seat; it goes to the next person waiting."""
    if actor.pk != signup.volunteer_id:
        raise PermissionDenied(_("Only the volunteer can answer this offer."))
    with transaction.atomic():
        signup = (
            Signup.objects.select_for_update(of=("self",)).select_related("shift").get(pk=signup.pk)
        )
        if signup.status != SignupStatus.OFFERED:
            raise ValidationError(_("There is no open offer for this sign-up."))
        now = timezone.now()
        signup.status = SignupStatus.CANCELLED
        signup.cancelled_at = now
        signup.cancel_reason = "offer declined"
        signup.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        _release_seat(signup.shift)
        signup_offer_next(shift=signup.shift, now=now)
        audit_record(action=A.OFFER_DECLINED, actor=actor, target=signup, request=request)
    return signup


def _lapse(signup: Signup, now: dt.datetime) -> None:
    signup.status = SignupStatus.LAPSED
    signup.save(update_fields=["status"])
    _release_seat(signup.shift)
    audit_record(action=A.OFFER_LAPSED, target=signup, detail={"shift": signup.shift_id})
    signup_offer_next(shift=signup.shift, now=now)


def offers_expire(now: dt.datetime | None = None) -> int:
    """Offers not taken in time lapse, and the seat goes to the next person waiting."""
    now = now or timezone.now()
    count = 0
    for pk in Signup.objects.filter(
        status=SignupStatus.OFFERED, offer_expires_at__lte=now
    ).values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            signup = (
                Signup.objects.select_for_update(of=("self",)).select_related("shift").get(pk=pk)
            )
            if signup.status == SignupStatus.OFFERED:
                _lapse(signup, now)
                count += 1
    return count


def shifts_flag_understaffed(now: dt.datetime | None = None) -> list[Shift]:
    """Shifts starting soon with fewer confirmed people than they need are flagged once and
    their organisers told, while there is still time to recruit."""
    now = now or timezone.now()
    flagged: list[Shift] = []
    candidates = Shift.objects.filter(
        activity__status=ActivityStatus.PUBLISHED,
        starts_at__gt=now,
        starts_at__lte=now + UNDERSTAFFED_LOOKAHEAD,
        understaffed_at__isnull=True,
    ).select_related("activity__organization")
    for shift in candidates[:1000]:
        confirmed = shift.signups.filter(status=SignupStatus.CONFIRMED).count()
        if confirmed >= shift.staff_needed:
            continue
        with transaction.atomic():
            updated = Shift.objects.filter(pk=shift.pk, understaffed_at__isnull=True).update(
                understaffed_at=now
            )
            if not updated:
                continue
            shift.understaffed_at = now
            audit_record(
                action=A.UNDERSTAFFED,
                target=shift,
                detail={"confirmed": confirmed, "needed": shift.staff_needed},
            )
            _notify(
                organisers_of(shift.activity.organization),
                "shift.understaffed",
                gettext_lazy("Too few people for %(shift)s"),
                gettext_lazy("%(confirmed)s of %(needed)s confirmed."),
                f"/activities/manage/shifts/{shift.pk}/",
                {"shift": str(shift), "confirmed": confirmed, "needed": shift.staff_needed},
            )
        flagged.append(shift)
    return flagged


# --- check-in and check-out -------------------------------------------------------------------


def qr_key() -> bytes:
    """The check-in codes' key, derived from the deployment's secret (never shown)."""
    return _qr_key_of(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _qr_key_of(secret: str) -> bytes:
    # Keyed by the secret itself, so a changed secret (or a test's override) is seen at once.
    return hashlib.sha256(f"zhiyuan.checkin.qr\n{secret}".encode()).digest()


def checkin_code(shift: Shift, at: dt.datetime | None = None) -> str:
    """The code the organiser's phone shows now for this shift."""
    return qr.make_code(qr_key(), shift.pk, (at or timezone.now()).timestamp())


QR_MESSAGES = {
    qr.EXPIRED: lambda: _("This code has expired: scan the code on the organiser's phone now."),
    qr.FORGED: lambda: _("This is not a genuine check-in code."),
    qr.OTHER_SHIFT: lambda: _("This code is for another activity or shift."),
    qr.MALFORMED: lambda: _("This is not a check-in code."),
}


@dataclass(frozen=True)
class CheckResult:
    session: ServiceSession
    created: bool  # False: a retried or doubled request found the first one


def _refuse_check(
    code: str, message: str, *, volunteer: User, shift_id: int | None, request: Any
) -> CheckinRefused:
    with transaction.atomic():
        audit_record(
            action=A.CHECKIN_REFUSED,
            actor=volunteer,
            object_type="activities.shift",
            object_id=str(shift_id or ""),
            result=AuditResult.DENIED,
            request=request,
            detail={"reason": code},
        )
    return CheckinRefused(code, message)


def _verify_code(code: str, volunteer: User, request: Any, shift: Shift | None = None) -> Shift:
    verdict = qr.check_code(qr_key(), code, timezone.now().timestamp(), shift.pk if shift else None)
    if not verdict.ok:
        raise _refuse_check(
            verdict.outcome,
            QR_MESSAGES[verdict.outcome](),
            volunteer=volunteer,
            shift_id=verdict.shift_id,
            request=request,
        )
    found = shift
    if found is None and verdict.shift_id is not None:
        found = Shift.objects.select_related("activity").filter(pk=verdict.shift_id).first()
    if found is None:
        raise CheckinRefused(qr.FORGED, QR_MESSAGES[qr.FORGED]())
    return found


def _check_open(shift: Shift, now: dt.datetime) -> None:
    if shift.activity.status != ActivityStatus.PUBLISHED:
        raise CheckinRefused("closed", _("This activity is not running."))
    if now < shift.starts_at - CHECKIN_OPENS_BEFORE:
        raise CheckinRefused(
            "too_early",
            _("Check-in opens at %(when)s.")
            % {"when": _when(shift.starts_at - CHECKIN_OPENS_BEFORE)},
        )
    if now >= shift.ends_at:
        raise CheckinRefused("over", _("This shift is over; check-in is closed."))


def _open_session(
    *,
    shift: Shift,
    volunteer: User,
    method: str,
    evidence: dict[str, Any],
    client_at: dt.datetime | None,
    flags: list[str] | None = None,
) -> CheckResult:
    """Check in once. The sign-up row's lock serialises one person's concurrent requests for
    the shift, so a doubled scan finds the session the first one made; the unique key on
    (shift, volunteer) backs this up on any database."""
    now = timezone.now()
    _check_open(shift, now)
    with transaction.atomic():
        # Row lock on this person's sign-up: their scans for this shift go one at a time.
        signup = (
            Signup.objects.select_for_update()
            .filter(shift=shift, volunteer=volunteer, status=SignupStatus.CONFIRMED)
            .only("pk")
            .first()
        )
        if signup is None:
            raise CheckinRefused(
                "not_signed_up", _("You do not have a confirmed place in this shift.")
            )
        session, created = ServiceSession.objects.get_or_create(
            shift=shift,
            volunteer=volunteer,
            defaults={
                "organization_id": shift.activity.organization_id,
                "checked_in_at": now,
                "client_checked_in_at": client_at,
                "checkin_method": method,
                "checkin_evidence": evidence,
                "flags": flags or [],
            },
        )
    return CheckResult(session, created)


def checkin_scan(
    *,
    volunteer: User,
    code: str,
    client_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> CheckResult:
    """Check in by scanning the organiser's rotating code. Idempotent."""
    require(volunteer, "activity.join", request=request)
    shift = _verify_code(code, volunteer, request)
    window = qr.parse(code)
    return _open_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.QR,
        evidence={"window": window[1] if window else None},
        client_at=client_at,
    )


# The common case of a check-in, in one statement: the bearer token is usable (not revoked,
# not expired, its user active) and its user holds a role that may join activities; the
# person has a confirmed seat in the code's shift; the activity is published and check-in
# is open; then the session is inserted unless one exists. The token's ``last_used_at`` is
# refreshed as ``token_authenticate`` does (at most every five minutes). Nothing here is
# cached: a revoked token, a cancelled seat or an edited shift count at once. The unique index
# on (shift, volunteer) makes a repeated or doubled scan insert nothing (``ON CONFLICT DO
# NOTHING``, which waits for a twin's insert to commit or roll back); the statement then says
# ``exists`` and the session is read by ``_SESSION_OF_SQL``, a statement of its own: a new
# snapshot sees the twin's row, and that lookup is planned afresh each time. (Found inside this
# prepared statement, the lookup followed the plan cached on the connection's sixth run: made
# while the sessions table was nearly empty — the first minutes of the first big event, before
# autovacuum's ANALYZE — that plan read the whole table on every check-in: 76 million rows
# read for the benchmark's 13,024 check-in requests.) No row comes back when anything does not
# hold: the full service then answers.
_CHECKIN_FAST_SQL = """
WITH tok AS (
    SELECT t.id, t.user_id, t.last_used_at
    FROM accounts_apitoken t JOIN accounts_user u ON u.id = t.user_id
    WHERE t.key_hash = %(key_hash)s AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > %(now)s) AND u.is_active
      AND EXISTS (
          SELECT 1 FROM accounts_rolegrant g
          WHERE g.user_id = t.user_id AND g.revoked_at IS NULL AND g.role = ANY(%(roles)s)
      )
), touch AS (
    UPDATE accounts_apitoken SET last_used_at = %(now)s FROM tok
    WHERE accounts_apitoken.id = tok.id
      AND (tok.last_used_at IS NULL OR tok.last_used_at < %(touch_before)s)
), seat AS (
    SELECT s.volunteer_id, a.organization_id
    FROM activities_signup s
    JOIN activities_shift sh ON sh.id = s.shift_id
    JOIN activities_activity a ON a.id = sh.activity_id
    WHERE s.shift_id = %(shift)s AND s.volunteer_id = (SELECT user_id FROM tok)
      AND s.status = 'confirmed' AND a.status = 'published'
      AND sh.starts_at - %(opens)s <= %(now)s AND %(now)s < sh.ends_at
    LIMIT 1
), ins AS (
    INSERT INTO activities_servicesession (
        volunteer_id, shift_id, need_key, organization_id, checked_in_at,
        client_checked_in_at, checkin_method, checkin_evidence, checkout_method,
        checkout_evidence, flags
    )
    SELECT volunteer_id, %(shift)s, '', organization_id, %(now)s, %(client_at)s::timestamptz,
           'qr', %(evidence)s::jsonb, '', '{}'::jsonb, '[]'::jsonb
    FROM seat
    ON CONFLICT (shift_id, volunteer_id) WHERE shift_id IS NOT NULL DO NOTHING
    RETURNING id, checked_in_at, checked_out_at, checkin_method, checkout_method, flags
)
SELECT 'created', id, checked_in_at, checked_out_at, checkin_method, checkout_method, flags
FROM ins
UNION ALL
SELECT 'exists', volunteer_id, NULL, NULL, NULL, NULL, NULL
FROM seat
WHERE NOT EXISTS (SELECT 1 FROM ins)
"""

# The session a repeated or doubled scan found, by the unique key. Not prepared, on purpose:
# planned with the table's size as it is now, it takes the index once the table has grown.
_SESSION_OF_SQL = """
SELECT 'found', id, checked_in_at, checked_out_at, checkin_method, checkout_method, flags
FROM activities_servicesession
WHERE shift_id = %(shift)s AND volunteer_id = %(volunteer)s
"""


@dataclass(frozen=True)
class FastCheckin:
    """What the quick path of a check-in found or made: the session's public fields."""

    session_id: int
    shift_id: int
    created: bool
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    checkin_method: str
    checkout_method: str
    flags: list[str]


def checkin_scan_by_token(
    *, token: str, code: str, client_at: dt.datetime | None = None
) -> FastCheckin | None:
    """Check in by code for the holder of an API token in one statement (PostgreSQL); a
    repeated scan takes a second, to read the session it finds.

    The quick path of ``checkin_scan`` for a phone app: the same checks (a usable token of a
    person who may join activities, a genuine current code, a confirmed seat, check-in open)
    and the same idempotent session, without loading any model. ``None`` means it did not
    check in — a refusal, a session gone in between, or another database: the caller then
    runs the full ``checkin_scan``, which names the reason in the person's language and
    audits refusals. Nothing is written unless the check-in succeeds.
    """
    from django.db import connection

    from zhiyuan.accounts.services import TOKEN_PREFIX, _hash_key

    if connection.vendor != "postgresql" or not token.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    verdict = qr.check_code(qr_key(), code, now.timestamp())
    if not verdict.ok or verdict.shift_id is None:
        return None
    params = {
        "key_hash": _hash_key(token),
        "now": now,
        "touch_before": now - TOKEN_TOUCH_EVERY,
        "shift": verdict.shift_id,
        "opens": CHECKIN_OPENS_BEFORE,
        "client_at": client_at,
        "evidence": json.dumps({"window": verdict.window}),
    }
    rows = _execute_prepared(_with_fixed_lists(_CHECKIN_FAST_SQL), params)
    if rows and rows[0][0] == "exists":
        # A repeated scan, or a doubled one whose twin's insert this statement waited for.
        rows = _execute_once(_SESSION_OF_SQL, {"shift": verdict.shift_id, "volunteer": rows[0][1]})
    if not rows:
        return None
    state, pk, checked_in_at, checked_out_at, method, out_method, flags = rows[0]
    return FastCheckin(
        session_id=pk,
        shift_id=verdict.shift_id,
        created=state == "created",
        checked_in_at=checked_in_at,
        checked_out_at=checked_out_at,
        checkin_method=method,
        checkout_method=out_method,
        flags=list(_json(flags) or []),
    )


def _json(value: Any) -> Any:
    # Django has psycopg hand jsonb over as text (its JSONField decodes); json comes decoded.
    return json.loads(value) if isinstance(value, str) else value


def _execute_prepared(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one hot statement, prepared once per connection (PostgreSQL only)."""
    return pg_prepared(sql, params)


def _execute_once(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the same raw connection as ``pg_prepared``, planned afresh with
    its parameters (PostgreSQL only; not prepared, so no plan outlives the table's size), with
    Django's error wrapping and query log."""
    import time

    import psycopg
    from django.db import DEFAULT_DB_ALIAS, connections

    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    db.validate_no_broken_transaction()
    started = time.perf_counter()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=False)
        rows = cursor.fetchall()
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    return rows


def _geo_evidence(
    shift: Shift, lat: float, lng: float, datum: str, accuracy_m: float | None
) -> tuple[dict[str, Any], bool]:
    if datum not in geo.DATUMS or not geo.valid_point(lat, lng):
        raise CheckinRefused("bad_position", _("The position sent is not a valid one."))
    w_lat, w_lng = geo.to_wgs84(lat, lng, datum)
    activity = shift.activity
    distance = geo.haversine_m(w_lat, w_lng, activity.lat, activity.lng)
    far = distance > activity.checkin_radius_m
    if far and not activity.allow_far_checkin:
        raise CheckinRefused(
            "too_far",
            _(
                "You are %(distance)d m from %(place)s; check in within %(radius)d m of it, "
                "or ask the organiser to mark you present."
            )
            % {
                "distance": round(distance),
                "place": activity.place_name,
                "radius": activity.checkin_radius_m,
            },
        )
    evidence = {
        "lat": round(w_lat, 6),
        "lng": round(w_lng, 6),
        "datum": datum,
        "distance_m": round(distance, 1),
        "accuracy_m": accuracy_m,
    }
    return evidence, far


def checkin_geo(
    *,
    volunteer: User,
    shift: Shift,
    lat: float,
    lng: float,
    datum: str = geo.WGS84,
    accuracy_m: float | None = None,
    client_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> CheckResult:
    """Check in from inside the place's radius (WGS-84, or GCJ-02 converted). Far outside it
    is refused, or accepted and flagged where the organiser allows it. Idempotent."""
    require(volunteer, "activity.join", request=request)
    try:
        evidence, far = _geo_evidence(shift, lat, lng, datum, accuracy_m)
    except CheckinRefused as exc:
        raise _refuse_check(
            exc.reason.code,
            exc.reason.message,
            volunteer=volunteer,
            shift_id=shift.pk,
            request=request,
        ) from exc
    return _open_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.GEOFENCE,
        evidence=evidence,
        client_at=client_at,
        flags=["far_from_place"] if far else [],
    )


def checkin_roster(
    *,
    shift: Shift,
    volunteer: User,
    actor: User,
    request: HttpRequest | None = None,
) -> CheckResult:
    """The organiser marks a person present (for people without a phone). Audited."""
    _require_organiser(actor, shift, request)
    result = _open_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.ROSTER,
        evidence={"marked_by": actor.pk},
        client_at=None,
    )
    if result.created:
        with transaction.atomic():
            audit_record(
                action=A.ROSTER_CHECKIN,
                actor=actor,
                target=result.session,
                request=request,
                detail={"shift": shift.pk, "volunteer": volunteer.pk},
            )
    return result


def _close_session(
    *,
    shift: Shift,
    volunteer: User,
    method: str,
    evidence: dict[str, Any],
    client_at: dt.datetime | None,
    actor: User | None,
    flags: Sequence[str] = (),
    at: dt.datetime | None = None,
) -> CheckResult:
    """Check out once and make the service record from the pair, in one transaction."""
    from zhiyuan.records.services import record_from_session

    now = timezone.now()
    with transaction.atomic():
        # Row lock on the session: a doubled check-out closes it once.
        session = (
            ServiceSession.objects.select_for_update()
            .filter(shift=shift, volunteer=volunteer)
            .first()
        )
        if session is None:
            raise CheckinRefused("not_checked_in", _("You have not checked in for this shift."))
        if session.checked_out_at is not None:
            return CheckResult(session, False)
        session.checked_out_at = max(at or now, session.checked_in_at)
        session.client_checked_out_at = client_at
        session.checkout_method = method
        session.checkout_evidence = evidence
        session.flags = list(dict.fromkeys([*session.flags, *flags]))
        session.save(
            update_fields=[
                "checked_out_at",
                "client_checked_out_at",
                "checkout_method",
                "checkout_evidence",
                "flags",
            ]
        )
        session.shift = shift
        record_from_session(session=session, actor=actor)
    return CheckResult(session, True)


def checkout_scan(
    *,
    volunteer: User,
    code: str,
    client_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> CheckResult:
    """Check out by scanning the organiser's code again. Idempotent."""
    require(volunteer, "activity.join", request=request)
    shift = _verify_code(code, volunteer, request)
    window = qr.parse(code)
    return _close_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.QR,
        evidence={"window": window[1] if window else None},
        client_at=client_at,
        actor=volunteer,
    )


def checkout_geo(
    *,
    volunteer: User,
    shift: Shift,
    lat: float,
    lng: float,
    datum: str = geo.WGS84,
    accuracy_m: float | None = None,
    client_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> CheckResult:
    """Check out from inside the place's radius. Idempotent."""
    require(volunteer, "activity.join", request=request)
    evidence, far = _geo_evidence(shift, lat, lng, datum, accuracy_m)
    return _close_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.GEOFENCE,
        evidence=evidence,
        client_at=client_at,
        actor=volunteer,
        flags=["far_from_place"] if far else [],
    )


def checkout_roster(
    *,
    shift: Shift,
    volunteer: User,
    actor: User,
    request: HttpRequest | None = None,
) -> CheckResult:
    """The organiser marks a person as leaving now. Audited."""
    _require_organiser(actor, shift, request)
    result = _close_session(
        shift=shift,
        volunteer=volunteer,
        method=CheckMethod.ROSTER,
        evidence={"marked_by": actor.pk},
        client_at=None,
        actor=actor,
    )
    if result.created:
        with transaction.atomic():
            audit_record(
                action=A.ROSTER_CHECKOUT,
                actor=actor,
                target=result.session,
                request=request,
                detail={"shift": shift.pk, "volunteer": volunteer.pk},
            )
    return result


# --- sessions for a resident's need (called by the needs app) ---------------------------------


def checkin_need(
    *,
    volunteer: User,
    need_key: str,
    organization: Organization,
    method: str = CheckMethod.GEOFENCE,
    evidence: dict[str, Any] | None = None,
    client_at: dt.datetime | None = None,
) -> CheckResult:
    """Start the on-site session of a need ("need:<id>"); the needs app checks who may.
    Idempotent: a retried check-in finds the first session."""
    if not need_key.startswith("need:"):
        raise ValueError("a need key looks like need:<id>")
    with transaction.atomic():
        # Row lock on the person: their check-ins for the need go one at a time.
        User.objects.select_for_update().filter(pk=volunteer.pk).first()
        session, created = ServiceSession.objects.get_or_create(
            need_key=need_key,
            volunteer=volunteer,
            defaults={
                "organization": organization,
                "checked_in_at": timezone.now(),
                "client_checked_in_at": client_at,
                "checkin_method": method,
                "checkin_evidence": evidence or {},
            },
        )
    return CheckResult(session, created)


def checkout_need(
    *,
    volunteer: User,
    need_key: str,
    method: str = CheckMethod.GEOFENCE,
    evidence: dict[str, Any] | None = None,
    client_at: dt.datetime | None = None,
) -> CheckResult:
    """End the on-site session of a need. The needs app then calls ``record_create`` with
    ``kind=NEED`` and ``evidence=session`` when the need is completed."""
    with transaction.atomic():
        # Row lock on the session: a doubled check-out closes it once.
        session = (
            ServiceSession.objects.select_for_update()
            .filter(need_key=need_key, volunteer=volunteer)
            .first()
        )
        if session is None:
            raise CheckinRefused("not_checked_in", _("You have not checked in for this need."))
        if session.checked_out_at is not None:
            return CheckResult(session, False)
        session.checked_out_at = timezone.now()
        session.client_checked_out_at = client_at
        session.checkout_method = method
        session.checkout_evidence = evidence or {}
        session.save(
            update_fields=[
                "checked_out_at",
                "client_checked_out_at",
                "checkout_method",
                "checkout_evidence",
            ]
        )
    return CheckResult(session, True)


def organiser_may(user: Any, activity: Activity) -> bool:
    return organization_may(user, "activity.manage", activity.organization)
