"""Service records, their corrections, star levels and certificates.

A *service record* says that a volunteer served an organisation from one time to another, and
what they did. It comes from a check-in/check-out pair, a completed need or, as a separate and
marked kind, a manual entry by the organiser. Records are truthful, accurate, complete, free and
timely (真实、准确、完整、无偿、及时): minutes are actual service time (travel excluded), the
organiser who organised the service confirms them, and a confirmed record never changes — a
correction is a new version that points at the old one, which stays (the database refuses any
change to a confirmed version other than marking it superseded).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.permissions import Scope


@audit_actions
class RecordAudit(models.TextChoices):
    """What the records app writes to the audit log (identifiers and reasons only)."""

    CREATED = "record.created", _("Service record created")
    FIRST_CONFIRMATION = "record.first_confirmation", _("Flagged record confirmed once")
    CONFIRMED = "record.confirmed", _("Service record confirmed")
    AUTO_CONFIRMED = "record.auto_confirmed", _("Service record confirmed at its deadline")
    REJECTED = "record.rejected", _("Service record rejected")
    OVERDUE = "record.overdue", _("Service record not confirmed in time")
    CORRECTION_REQUESTED = "record.correction_requested", _("Correction requested")
    CORRECTION_APPROVED = "record.correction_approved", _("Correction approved")
    CORRECTION_REJECTED = "record.correction_rejected", _("Correction rejected")
    SUPERSEDED = "record.superseded", _("Record version superseded by a correction")
    STAR_REACHED = "star.reached", _("Star level reached")
    RULE_SET = "record.rule_set", _("Recording rules changed")
    CERTIFICATE_ISSUED = "certificate.issued", _("Certificate issued")
    CERTIFICATE_REVOKED = "certificate.revoked", _("Certificate revoked")


class RecordKind(models.TextChoices):
    CHECKIN = "checkin", _("From check-in and check-out")
    NEED = "need", _("From a completed need")
    MANUAL = "manual", _("Entered by hand by the organiser")


class RecordStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    REJECTED = "rejected", _("Rejected")
    SUPERSEDED = "superseded", _("Replaced by a corrected version")


class Flag(models.TextChoices):
    """Why a record needs a second confirmer."""

    OVERLAP = "overlap", _("Overlaps another record of the same person")
    OVER_DAILY_CAP = "over_daily_cap", _("More than the daily cap on that day")
    FAR_CHECKIN = "far_checkin", _("Checked in far from the place")
    BURST = "burst", _("Many people checked in within seconds without the code")
    BEYOND_DURATION = "beyond_duration", _("Longer than the activity's own duration")
    AUTO_CLOSED = "auto_closed", _("Check-out was forgotten and closed automatically")


DEFAULT_BURST_SECONDS = 10
DEFAULT_BURST_COUNT = 5
DEFAULT_CHECKOUT_GRACE = 120


class RoundingMode(models.TextChoices):
    DOWN = "down", _("Down")
    NEAREST = "nearest", _("To the nearest")
    UP = "up", _("Up")


class RecordRule(models.Model):
    """A region's recording rules; the nearest region up the tree with a rule decides.

    Defaults (no rule anywhere): minutes counted to the minute, at most 12 hours a day,
    confirmation within 7 days, the national star thresholds of 100/300/600/1000/1500 hours.
    """

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="record_rule"
    )
    rounding_unit = models.PositiveSmallIntegerField(_("round to (minutes)"), default=1)
    rounding_mode = models.CharField(
        _("rounding"), max_length=10, choices=RoundingMode.choices, default=RoundingMode.DOWN
    )
    daily_cap_minutes = models.PositiveIntegerField(_("most minutes per day"), default=720)
    confirm_days = models.PositiveSmallIntegerField(_("days to confirm a record"), default=7)
    # At the deadline, records with strong evidence and no flag are confirmed automatically;
    # the others are marked overdue for the region to see.
    auto_confirm_clean = models.BooleanField(
        _("confirm clean QR/geofence records at the deadline"), default=True
    )
    star_hours = models.JSONField(_("hours for each star"), default=list, blank=True)
    star_min_months = models.JSONField(_("months of service for each star"), default=list)
    far_checkin_m = models.PositiveIntegerField(
        _("a check-in this far from the place is flagged (m; 0: the radius)"), default=0
    )
    burst_seconds = models.PositiveSmallIntegerField(
        _("burst window (seconds)"), default=DEFAULT_BURST_SECONDS
    )
    burst_count = models.PositiveSmallIntegerField(
        _("people in a burst"), default=DEFAULT_BURST_COUNT
    )
    # A check-out forgotten this long after the shift's end is closed at the shift's end and
    # flagged (``activities.autoclose.sessions_auto_close_by_rule``).
    checkout_grace_minutes = models.PositiveSmallIntegerField(
        _("close a forgotten check-out after (minutes)"), default=DEFAULT_CHECKOUT_GRACE
    )
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("recording rule")
        verbose_name_plural = _("recording rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(rounding_unit__gte=1, rounding_unit__lte=60),
                name="%(app_label)s_%(class)s_rounding_unit_range",
                violation_error_message=_("Round to between 1 and 60 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(daily_cap_minutes__gte=60, daily_cap_minutes__lte=1440),
                name="%(app_label)s_%(class)s_daily_cap_range",
                violation_error_message=_("The daily cap is between 1 and 24 hours."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


# Defaults of the fields a region may set (also the national defaults in ``rules.Rules``).
RULE_FIELDS = (
    "rounding_unit",
    "rounding_mode",
    "daily_cap_minutes",
    "confirm_days",
    "auto_confirm_clean",
    "checkout_grace_minutes",
    "star_hours",
    "star_min_months",
    "far_checkin_m",
    "burst_seconds",
    "burst_count",
)


class RecordRuleVersion(models.Model):
    """One version of a region's recording rules, kept for ever: who set it, when, why, every
    value as set, and what changed from the version before. Rows are only added (the current
    rule is ``RecordRule``; its ``version`` points at the latest row here)."""

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    values = models.JSONField(_("rules"))
    changes = models.JSONField(_("changed"), default=dict, blank=True)
    note = models.CharField(_("why"), max_length=200, blank=True)
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("recording rule version")
        verbose_name_plural = _("recording rule versions")
        ordering = ["region", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "version"],
                name="%(app_label)s_%(class)s_one_number",
                violation_error_message=_("This version of the region's rules exists already."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} v{self.version}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


class ServiceRecord(models.Model):
    """One version of a service record. All versions of a record share ``source``; at most
    one of them is confirmed and at most one waits for confirmation."""

    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_records"
    )
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="service_records"
    )
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=RecordKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=RecordStatus.choices, default=RecordStatus.PENDING
    )
    # What produced the record: "session:<id>", "need:<id>", "manual:<id>"; shared by versions.
    source = models.CharField(max_length=80)
    version = models.PositiveSmallIntegerField(default=1)
    root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    started_at = models.DateTimeField(_("from"))
    ended_at = models.DateTimeField(_("until"))
    raw_minutes = models.PositiveIntegerField(_("actual minutes"))
    minutes = models.PositiveIntegerField(_("minutes (rounded)"))
    credited_minutes = models.PositiveIntegerField(_("minutes credited"), null=True, blank=True)
    content = models.TextField(_("what was done"))
    activity = models.ForeignKey(
        "activities.Activity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shift = models.ForeignKey(
        "activities.Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session = models.ForeignKey(
        "activities.ServiceSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
    )
    # The needs app's need, by id (no import of the needs app from here).
    need_id = models.BigIntegerField(null=True, blank=True)
    category = models.CharField(max_length=40, blank=True)
    urgency = models.CharField(max_length=12, default="normal")
    time_bank = models.BooleanField(default=False)
    planned_minutes = models.PositiveIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    flag_notes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField(_("confirm by"))
    overdue_at = models.DateTimeField(null=True, blank=True)
    first_confirmed_at = models.DateTimeField(null=True, blank=True)
    first_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reject_reason = models.CharField(max_length=300, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    points = models.IntegerField(null=True, blank=True)
    ledger_note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("service record")
        verbose_name_plural = _("service records")
        ordering = ["-started_at", "pk"]
        indexes = [
            models.Index(fields=["volunteer", "status", "started_at"]),
            models.Index(fields=["organization", "status", "created_at"]),
            models.Index(fields=["status", "due_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "version"],
                name="%(app_label)s_%(class)s_one_version_number",
                violation_error_message=_("This version of the record exists already."),
            ),
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status="confirmed"),
                name="%(app_label)s_%(class)s_one_confirmed_version",
                violation_error_message=_("Another version of this record is confirmed."),
            ),
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status="pending"),
                name="%(app_label)s_%(class)s_one_pending_version",
                violation_error_message=_("A version of this record already waits."),
            ),
            models.CheckConstraint(
                condition=Q(ended_at__gt=F("started_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message=_("A record ends after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(status="confirmed", confirmed_at__isnull=False)
                | ~Q(status="confirmed"),
                name="%(app_label)s_%(class)s_confirmed_has_time",
                violation_error_message=_("A confirmed record says when it was confirmed."),
            ),
        ]

    def __str__(self) -> str:
        return f"record {self.series_id} v{self.version}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.organization_id)

    @property
    def series_id(self) -> int:
        return self.root_id or self.pk

    @property
    def ledger_source(self) -> str:
        return f"record:{self.series_id}:v{self.version}"

    @property
    def hours(self) -> float:
        return round((self.credited_minutes or self.minutes) / 60, 2)

    def flag_labels(self) -> list[str]:
        labels = dict(Flag.choices)
        return [str(labels.get(f, f)) for f in self.flags or []]

    def ledger_note_labels(self) -> list[str]:
        """What the ledger did differently when this record was confirmed, in the reader's
        language (``ledger_note`` keeps the stable English text written at confirmation)."""
        shown = []
        for note in filter(None, (self.ledger_note or "").split(LEDGER_NOTE_SEPARATOR)):
            if note == LEDGER_NOTE_NO_RULES:
                shown.append(
                    gettext("No points for this record: the region has no earning rules yet.")
                )
            elif found := _ITEM_UNPRICED.fullmatch(note):
                shown.append(
                    gettext(
                        "The time-bank service item %(item)s is no longer priced: the minutes "
                        "served were deposited instead."
                    )
                    % {"item": found["item"]}
                )
            else:
                shown.append(note)
        return shown


# ``ServiceRecord.ledger_note``: what the confirmation's booking did differently, as stable text.
LEDGER_NOTE_SEPARATOR = "; "
LEDGER_NOTE_NO_RULES = "no earning rules"
LEDGER_NOTE_ITEM_UNPRICED = "time-bank item {item} no longer priced: deposited minutes served"
_ITEM_UNPRICED = re.compile(
    re.escape(LEDGER_NOTE_ITEM_UNPRICED).replace(re.escape("{item}"), "(?P<item>.+)")
)


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the organiser")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class CorrectionRequest(models.Model):
    """A volunteer's request to correct a confirmed record, with the reason and what they say
    is right. The organiser verifies it; approving writes a new version of the record."""

    record = models.ForeignKey(
        ServiceRecord, on_delete=models.PROTECT, related_name="correction_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("why it is wrong"))
    started_at = models.DateTimeField(_("correct start"))
    ended_at = models.DateTimeField(_("correct end"))
    content = models.TextField(_("correct description"), blank=True)
    status = models.CharField(
        max_length=10, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.CharField(max_length=300, blank=True)
    new_record = models.OneToOneField(
        ServiceRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="correction"
    )

    class Meta:
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["record"],
                condition=Q(status="pending"),
                name="%(app_label)s_%(class)s_one_open",
                violation_error_message=_("A correction of this record is already waiting."),
            ),
            models.CheckConstraint(
                condition=Q(ended_at__gt=F("started_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message=_("The end comes after the start."),
            ),
        ]

    def __str__(self) -> str:
        return f"correction {self.pk} of {self.record_id}"

    def permission_scope(self) -> Scope:
        return self.record.permission_scope()


class StarAward(models.Model):
    """The moment a volunteer first reached a star level, with the hours and rules behind it.
    Rows are only added: the history of each level reached."""

    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="star_awards"
    )
    level = models.PositiveSmallIntegerField(_("stars"))
    reached_at = models.DateTimeField(_("reached"), default=timezone.now)
    hours = models.DecimalField(_("confirmed hours then"), max_digits=9, decimal_places=2)
    rule_region = models.CharField(max_length=12, blank=True)
    threshold_hours = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("star level reached")
        verbose_name_plural = _("star levels reached")
        ordering = ["volunteer", "level"]
        constraints = [
            models.UniqueConstraint(
                fields=["volunteer", "level"],
                name="%(app_label)s_%(class)s_once_per_level",
                violation_error_message=_("This level was reached already."),
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1, level__lte=5),
                name="%(app_label)s_%(class)s_level_range",
                violation_error_message=_("Star levels go from 1 to 5."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer_id}: {self.level}★"


class RevokeReason(models.TextChoices):
    """Why a certificate was withdrawn, as the public verification page says it: plain words
    and no personal data (the issuer's own note stays with the issuer and the volunteer)."""

    ISSUED_IN_ERROR = "issued_in_error", _("It was issued in error.")
    RECORDS_UNTRUE = (
        "records_untrue",
        _("The service it certifies was found not to have happened as recorded."),
    )
    REPLACED = "replaced", _("A new certificate was issued in its place.")
    VOLUNTEER_ASKED = "volunteer_asked", _("The volunteer asked for it to be withdrawn.")
    OTHER = "other", _("The issuing organisation withdrew it.")


class CertificateSequence(models.Model):
    """The last certificate number an organisation gave out in a year (locked when numbering)."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("certificate numbering")
        verbose_name_plural = _("certificate numbering")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "year"],
                name="%(app_label)s_%(class)s_one_per_year",
                violation_error_message=_("This organisation's numbering for the year exists."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.year}: {self.last}"


class Certificate(models.Model):
    """A numbered, registered certificate of service (志愿服务记录证明), free of charge.

    It holds what it certified at issue: the confirmed record versions it counted, the hours,
    and the issuer's details; the PDF is drawn from these, so every download is the same
    document. It *stands* while it is not revoked and every record version it counted is still
    the confirmed one; a later correction makes it stale, and the public page says so.
    """

    number = models.CharField(_("certificate number"), max_length=40, unique=True)
    short_code = models.CharField(_("verification code"), max_length=12, unique=True)
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates"
    )
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("until"))
    minutes = models.PositiveIntegerField(_("minutes certified"))
    record_count = models.PositiveIntegerField()
    records = models.ManyToManyField(ServiceRecord, related_name="certificates")
    # Names and numbers as they were at issue (the ID number only masked).
    volunteer_name = models.CharField(max_length=60)
    volunteer_number = models.CharField(max_length=12)
    document_type = models.CharField(max_length=20, blank=True)
    masked_document = models.CharField(max_length=40, blank=True)
    organization_name = models.CharField(max_length=120)
    organization_code = models.CharField(max_length=18, blank=True)
    responsible_person = EncryptedTextField(purpose="certificate_responsible", blank=True)
    handler = EncryptedTextField(purpose="certificate_handler", blank=True)
    contact = EncryptedTextField(purpose="certificate_contact", blank=True)
    content_summary = models.JSONField(default=list, blank=True)
    notes = models.CharField(_("notes"), max_length=200, blank=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the public page says (a fixed sentence); ``revoke_reason`` is the revoker's own note,
    # shown to the issuer and the volunteer only.
    revoke_category = models.CharField(
        _("why it was revoked"), max_length=20, choices=RevokeReason.choices, blank=True
    )
    revoke_reason = models.CharField(_("note"), max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="%(app_label)s_%(class)s_period_order",
                violation_error_message=_("The period ends before it starts."),
            )
        ]

    def __str__(self) -> str:
        return self.number

    def permission_scope(self) -> Scope:
        return Scope(organization_id=self.organization_id)

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
