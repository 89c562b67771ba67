"""Projects, activities and their shifts, sign-ups with a waitlist, and check-in sessions.

A *project* (MZ/T 148-2023: service over a set period for specific people or a field, with
goals) holds *activities*. An activity happens at a place (a WGS-84 point and a check-in
radius) once or every week; each occurrence has one or more *shifts* with a capacity. A
volunteer's *sign-up* takes a seat in a shift, or a place on its waitlist. On the day, a
*service session* holds the check-in and check-out with the evidence of each: a scan of the
organiser's rotating code, a position inside the geofence, or the organiser marking the roster.
A session for a resident's need (the needs app) has no shift: it names the need instead.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.permissions import Scope
from zhiyuan.safeguards.models import ActivityType


@audit_actions
class ActivityAudit(models.TextChoices):
    """What the activities app writes to the audit log (identifiers and reasons only)."""

    PROJECT_CREATED = "project.created", _("Project created")
    ACTIVITY_CREATED = "activity.created", _("Activity created")
    ACTIVITY_PUBLISHED = "activity.published", _("Activity published")
    ACTIVITY_CANCELLED = "activity.cancelled", _("Activity cancelled")
    SIGNED_UP = "signup.created", _("Signed up for a shift")
    SIGNUP_REFUSED = "signup.refused", _("Sign-up refused")
    SIGNUP_APPROVED = "signup.approved", _("Sign-up approved")
    SIGNUP_REJECTED = "signup.rejected", _("Sign-up declined by the organiser")
    SIGNUP_CANCELLED = "signup.cancelled", _("Sign-up cancelled")
    SEAT_OFFERED = "signup.offered", _("Freed seat offered from the waitlist")
    OFFER_ACCEPTED = "signup.offer_accepted", _("Offered seat accepted")
    OFFER_DECLINED = "signup.offer_declined", _("Offered seat declined")
    OFFER_LAPSED = "signup.offer_lapsed", _("Offered seat not taken in time")
    NO_SHOW = "signup.no_show", _("Did not turn up")
    GROUP_SIGNUP = "signup.group", _("Team signed up")
    UNDERSTAFFED = "shift.understaffed", _("Shift flagged as under-staffed")
    ROSTER_CHECKIN = "checkin.roster", _("Checked in by the organiser")
    ROSTER_CHECKOUT = "checkout.roster", _("Checked out by the organiser")
    AUTO_CHECKOUT = "checkout.auto", _("Forgotten check-out closed automatically")
    CHECKIN_REFUSED = "checkin.refused", _("Check-in refused")


class ActivityStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CANCELLED = "cancelled", _("Cancelled")


class Recurrence(models.TextChoices):
    ONCE = "once", _("Once")
    WEEKLY = "weekly", _("Every week")


class Approval(models.TextChoices):
    AUTOMATIC = "automatic", _("Automatic")
    MANUAL = "manual", _("Approved by the organiser")


class Project(models.Model):
    """A volunteer service project: a goal, a period, the people it serves, targets, and the
    local development priorities it serves (tags, so a region sees what its service covers)."""

    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    title = models.CharField(_("title"), max_length=120)
    goal = models.TextField(_("goal"))
    starts_on = models.DateField(_("first day"))
    ends_on = models.DateField(_("last day"))
    beneficiaries = models.CharField(_("who it serves"), max_length=200)
    # Target figures, e.g. {"people_served": 300, "service_hours": 1200}.
    targets = models.JSONField(_("targets"), default=dict, blank=True)
    priority_tags = models.JSONField(_("local priorities served"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="%(app_label)s_%(class)s_period_order",
                violation_error_message=_("The last day comes before the first."),
            )
        ]

    def __str__(self) -> str:
        return self.title

    def permission_scope(self) -> Scope:
        scope: Scope = self.organization.permission_scope()
        return scope


class Activity(models.Model):
    """Something volunteers do at a place and time, run by one organisation.

    Times live on the shifts; a weekly activity has its shifts repeated for each week up to
    ``repeat_until``. The requirements are checked at sign-up by one service
    (``signup_eligibility``); the agreement triggers are evaluated by the safeguards rules when
    the activity is published.
    """

    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="activities",
    )
    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
    )
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("where (community)"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("what volunteers will do"), blank=True)
    risks = models.TextField(_("risks of the activity"), blank=True)
    activity_type = models.CharField(
        _("kind"), max_length=20, choices=ActivityType.choices, default=ActivityType.GENERAL
    )
    # The points category (the ledger's coefficient key, e.g. a skill code); empty: the kind.
    category = models.CharField(_("points category"), max_length=40, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ActivityStatus.choices, default=ActivityStatus.DRAFT
    )
    recurrence = models.CharField(
        _("repeats"), max_length=10, choices=Recurrence.choices, default=Recurrence.ONCE
    )
    repeat_until = models.DateField(_("repeat until"), null=True, blank=True)
    place_name = models.CharField(_("place"), max_length=200)
    lat = models.FloatField(_("latitude (WGS-84)"))
    lng = models.FloatField(_("longitude (WGS-84)"))
    checkin_radius_m = models.PositiveIntegerField(_("check-in radius (m)"), default=200)
    # Far check-ins: refused, or accepted and flagged for the confirmer.
    allow_far_checkin = models.BooleanField(
        _("accept check-ins outside the radius, flagged"), default=False
    )
    approval = models.CharField(
        _("approval"), max_length=10, choices=Approval.choices, default=Approval.AUTOMATIC
    )
    # --- requirements
    skills = models.ManyToManyField(
        "people.Skill", verbose_name=_("skills needed"), blank=True, related_name="+"
    )
    qualifications = models.JSONField(
        _("qualifications needed (valid on the day)"), default=list, blank=True
    )
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    no_minors = models.BooleanField(_("no minors"), default=False)
    insurance_required = models.BooleanField(_("insurance cover required"), default=True)
    emergency = models.BooleanField(_("emergency call-out"), default=False)
    time_bank = models.BooleanField(_("counts for the time bank"), default=False)
    # The time-bank service item it provides, by code (the ledger's TimeBankItem.code): where
    # the region prices items, each confirmed record deposits the price of the nearest region's
    # item of this code instead of the minutes served. A code, not a key: the price list may
    # change or drop the item, and an ancestor region's item of the same code may take over.
    timebank_item = models.SlugField(
        _("time-bank service item"), max_length=40, blank=True, default="", db_index=False
    )
    # --- agreement (Regulations Art. 14, Beijing Art. 18)
    agreement_marked = models.BooleanField(_("the organiser requires an agreement"), default=False)
    high_risk = models.BooleanField(_("high risk to safety or health"), default=False)
    large_scale = models.BooleanField(_("large-scale event"), default=False)
    outside_city = models.BooleanField(_("outside the city"), default=False)
    foreign_participants = models.BooleanField(_("foreign participants"), default=False)
    agreement = models.ForeignKey(
        "safeguards.AgreementTemplate",
        verbose_name=_("agreement"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Set when published: every trigger that held (empty: no agreement needed).
    agreement_reasons = models.JSONField(default=list, blank=True)
    # Cancelling with less notice than this is a late cancellation (Art. 22: notify promptly).
    cancel_notice_hours = models.PositiveSmallIntegerField(
        _("notice to cancel (hours)"), default=24
    )
    offer_hours = models.PositiveSmallIntegerField(
        _("time to accept a freed seat (hours)"), default=4
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "region"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90, lng__gte=-180, lng__lte=180),
                name="%(app_label)s_%(class)s_point_on_earth",
                violation_error_message=_("The place's position is not on the earth."),
            ),
            models.CheckConstraint(
                condition=Q(checkin_radius_m__gte=10, checkin_radius_m__lte=5000),
                name="%(app_label)s_%(class)s_radius_range",
                violation_error_message=_("The check-in radius is between 10 m and 5 km."),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.organization_id)

    @property
    def key(self) -> str:
        """How other apps name this activity (insurance incidents, agreements, the ledger)."""
        return f"activity:{self.pk}"

    @property
    def points_category(self) -> str:
        return self.category or self.activity_type

    @property
    def needs_agreement(self) -> bool:
        return bool(self.agreement_reasons)

    @property
    def effective_min_age(self) -> int | None:
        """No minors in emergency rescue or similar danger (Zhejiang Art. 9, Shandong Art. 10)."""
        floor = 18 if (self.no_minors or self.emergency or self.activity_type == "emergency") else 0
        value = max(self.min_age or 0, floor)
        return value or None


class Shift(models.Model):
    """One time slot of one occurrence of an activity, with a role and a number of seats.

    ``seats_taken`` counts the sign-ups holding a seat (confirmed, awaiting approval, or an
    open offer); it changes only under this row's lock and the database refuses a value above
    the capacity, so a shift cannot be over-booked even by code that forgets the lock.
    """

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="shifts")
    role = models.CharField(_("role"), max_length=80, blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    capacity = models.PositiveIntegerField(_("seats"))
    # Fewer confirmed people than this before the start flags the shift (0: the capacity).
    min_staff = models.PositiveIntegerField(_("fewest people needed"), default=0)
    seats_taken = models.PositiveIntegerField(default=0)
    understaffed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["starts_at", "pk"]
        indexes = [models.Index(fields=["starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message=_("A shift ends after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(seats_taken__lte=F("capacity")),
                name="%(app_label)s_%(class)s_not_overbooked",
                violation_error_message=_("This shift is full."),
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1),
                name="%(app_label)s_%(class)s_has_seats",
                violation_error_message=_("A shift has at least one seat."),
            ),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at)
        return f"{self.activity.title} {local:%Y-%m-%d %H:%M}"

    def permission_scope(self) -> Scope:
        return self.activity.permission_scope()

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def duration_minutes(self) -> int:
        return int(self.duration.total_seconds() // 60)

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.seats_taken)

    @property
    def staff_needed(self) -> int:
        return self.min_staff or self.capacity


class SignupStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting the organiser's approval")
    CONFIRMED = "confirmed", _("Confirmed")
    WAITLISTED = "waitlisted", _("On the waitlist")
    OFFERED = "offered", _("A seat is offered")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Declined by the organiser")
    LAPSED = "lapsed", _("Offer not taken in time")
    NO_SHOW = "no_show", _("Did not turn up")


# Sign-ups that hold a seat, and those still alive (one per person and shift).
SEAT_HOLDING = (SignupStatus.PENDING, SignupStatus.CONFIRMED, SignupStatus.OFFERED)
LIVE = (*SEAT_HOLDING, SignupStatus.WAITLISTED, SignupStatus.NO_SHOW)


class Signup(models.Model):
    """A volunteer's place in a shift: a seat, a request awaiting approval, an offer of a
    freed seat, or a place on the waitlist (in order of ``created_at``)."""

    # No index of their own: the indexes below begin with each (one index fewer to write on
    # every sign-up, the busiest insert after check-ins).
    shift = models.ForeignKey(
        Shift, on_delete=models.PROTECT, related_name="signups", db_index=False
    )
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signups", db_index=False
    )
    status = models.CharField(_("status"), max_length=12, choices=SignupStatus.choices)
    created_at = models.DateTimeField(_("signed up"), default=timezone.now)
    signed_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # A team sign-up names the team that was signed up.
    team = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("offer open until"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=200, blank=True)
    late_cancel = models.BooleanField(_("late cancellation"), default=False)

    class Meta:
        verbose_name = _("sign-up")
        verbose_name_plural = _("sign-ups")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["shift", "status", "created_at"]),
            models.Index(fields=["volunteer", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "volunteer"],
                condition=Q(status__in=[s.value for s in LIVE]),
                name="%(app_label)s_%(class)s_once_per_shift",
                violation_error_message=_("You have already signed up for this shift."),
            ),
            models.CheckConstraint(
                condition=~Q(status="offered") | Q(offer_expires_at__isnull=False),
                name="%(app_label)s_%(class)s_offer_has_deadline",
                violation_error_message=_("An offer names the time to accept it."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer_id} @ {self.shift_id}: {self.status}"

    def permission_scope(self) -> Scope:
        return self.shift.permission_scope()

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_HOLDING


class CheckMethod(models.TextChoices):
    """How presence was shown, strongest evidence first."""

    QR = "qr", _("Scanned the organiser's code")
    GEOFENCE = "geofence", _("Position inside the place's radius")
    ROSTER = "roster", _("Marked by the organiser")
    AUTO = "auto", _("Closed automatically")


class ServiceSession(models.Model):
    """One volunteer's check-in and check-out for one shift (or one need), with evidence.

    Server time rules: ``checked_in_at`` is when the server accepted the check-in; the phone's
    own clock (an offline phone sends it later) is kept in ``client_checked_in_at``. A unique
    key per shift and volunteer (and per need and volunteer) makes a retried or doubled scan
    find the first session instead of making a second one.
    """

    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_sessions"
    )
    # No index of its own: the (shift, checked_in_at) index begins with it (one index fewer to
    # write on every check-in).
    shift = models.ForeignKey(
        Shift,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sessions",
        db_index=False,
    )
    # A need's on-site service: "need:<id>" (the needs app owns the need; no import here).
    need_key = models.CharField(max_length=40, blank=True)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+"
    )
    checked_in_at = models.DateTimeField(_("checked in"))
    client_checked_in_at = models.DateTimeField(null=True, blank=True)
    checkin_method = models.CharField(max_length=10, choices=CheckMethod.choices)
    checkin_evidence = models.JSONField(default=dict, blank=True)
    checked_out_at = models.DateTimeField(_("checked out"), null=True, blank=True)
    client_checked_out_at = models.DateTimeField(null=True, blank=True)
    checkout_method = models.CharField(max_length=10, choices=CheckMethod.choices, blank=True)
    checkout_evidence = models.JSONField(default=dict, blank=True)
    # Why a confirmer should look twice: far_from_place, auto_closed.
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("service session")
        verbose_name_plural = _("service sessions")
        ordering = ["checked_in_at", "pk"]
        indexes = [
            models.Index(fields=["shift", "checked_in_at"]),
            models.Index(fields=["checked_out_at", "shift"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "volunteer"],
                condition=Q(shift__isnull=False),
                name="%(app_label)s_%(class)s_once_per_shift",
                violation_error_message=_("Already checked in for this shift."),
            ),
            models.UniqueConstraint(
                fields=["need_key", "volunteer"],
                condition=~Q(need_key=""),
                name="%(app_label)s_%(class)s_once_per_need",
                violation_error_message=_("Already checked in for this need."),
            ),
            models.CheckConstraint(
                condition=(Q(shift__isnull=False) & Q(need_key=""))
                | (Q(shift__isnull=True) & ~Q(need_key="")),
                name="%(app_label)s_%(class)s_shift_or_need",
                violation_error_message=_("A session is for one shift or one need."),
            ),
            models.CheckConstraint(
                condition=Q(checked_out_at__isnull=True)
                | Q(checked_out_at__gte=F("checked_in_at")),
                name="%(app_label)s_%(class)s_out_after_in",
                violation_error_message=_("Check-out comes after check-in."),
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.volunteer_id})"

    def permission_scope(self) -> Scope:
        if self.shift_id:
            return self.shift.permission_scope()  # type: ignore[union-attr]
        return Scope(organization_id=self.organization_id)

    @property
    def is_open(self) -> bool:
        return self.checked_out_at is None
