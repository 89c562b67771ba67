"""Legal safeguards around organisations and volunteers.

Insurance as data (Regulations Art. 17, Charity Law Art. 69), agreements (Art. 14, Beijing
Art. 18), complaints and reports (Art. 26) and sanctions (Arts. 36–39). Nothing here takes money
from anyone (Art. 21): claims record what an insurer pays to a volunteer, and a charging
complaint records what was wrongly taken so that the authority can order it refunded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.permissions import Scope


@audit_actions
class SafeguardsAudit(models.TextChoices):
    """What the safeguards write to the audit log (identifiers and reasons only)."""

    POLICY_CREATED = "insurance.policy_created", _("Insurance policy recorded")
    POLICY_CANCELLED = "insurance.policy_cancelled", _("Insurance policy cancelled")
    INSURED_ADDED = "insurance.insured_added", _("Volunteer named on a policy")
    INCIDENT = "insurance.incident", _("Incident recorded")
    CLAIM = "insurance.claim", _("Insurance claim submitted")
    CLAIM_DECIDED = "insurance.claim_decided", _("Insurance claim decided")
    AGREEMENT_CREATED = "agreement.created", _("Agreement created")
    AGREEMENT_VERSION = "agreement.version", _("Agreement version published")
    AGREEMENT_ACCEPTED = "agreement.accepted", _("Agreement accepted")
    CASE_SUBMITTED = "case.submitted", _("Complaint or report received")
    CASE_ASSIGNED = "case.assigned", _("Case assigned")
    CASE_NOTE = "case.note", _("Case note added")
    CASE_STATUS = "case.status", _("Case status changed")
    CASE_DECIDED = "case.decided", _("Case decided")
    CASE_CONFLICT = "case.conflict", _("Case change refused: someone else changed it first")
    CASE_EVIDENCE_READ = "case.evidence_read", _("Case evidence opened")
    SANCTION_IMPOSED = "sanction.imposed", _("Sanction imposed")
    SANCTION_LIFTED = "sanction.lifted", _("Sanction lifted")
    VOLUNTEER_REFUSED = "volunteer.refused", _("Volunteer refused: under a sanction")


class ActivityType(models.TextChoices):
    """Kinds of activity, as far as insurance and agreements care.

    The activities issue uses this list as its activity types, so that a policy "for emergency
    rescue" and an activity "of emergency rescue" speak of the same thing.
    """

    GENERAL = "general", _("General community service")
    ELDER_CARE = "elder_care", _("Elder care")
    CHILDREN = "children", _("Work with children")
    MEDICAL = "medical", _("Medical and health service")
    EMERGENCY = "emergency", _("Emergency rescue and disaster relief")
    LARGE_EVENT = "large_event", _("Large-scale event")
    OUTDOOR = "outdoor", _("Outdoor and environmental work")
    TRAFFIC = "traffic", _("Traffic guidance")
    TRAVEL = "travel", _("Service outside the city")


# --- insurance --------------------------------------------------------------------------------


class CoverBasis(models.TextChoices):
    NAMED = "named", _("Named volunteers")
    MEMBERS = "members", _("All members of the organisation")
    PARTICIPANTS = "participants", _("Everyone taking part in activities of the listed types")


class InsurancePolicy(models.Model):
    """A personal-accident policy an organisation holds for its volunteers (Art. 17).

    The period is in whole days, both ends included, in the deployment's time zone. Who is
    covered: named volunteers, every member of the organisation (and of its teams), or everyone
    taking part in the organisation's activities of the listed types. ``activity_types`` empty
    means every type.
    """

    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("policyholder"),
        on_delete=models.PROTECT,
        related_name="insurance_policies",
    )
    insurer = models.CharField(_("insurer"), max_length=120)
    policy_number = models.CharField(_("policy number"), max_length=60)
    starts_on = models.DateField(_("first day of cover"))
    ends_on = models.DateField(_("last day of cover"))
    cover_death = models.DecimalField(_("cover for death (yuan)"), max_digits=12, decimal_places=2)
    cover_disability = models.DecimalField(
        _("cover for disability (yuan)"), max_digits=12, decimal_places=2
    )
    cover_medical = models.DecimalField(
        _("cover for medical costs (yuan)"), max_digits=12, decimal_places=2
    )
    basis = models.CharField(_("who is covered"), max_length=20, choices=CoverBasis.choices)
    activity_types = models.JSONField(_("activity types covered"), default=list, blank=True)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="%(app_label)s_%(class)s_period_order",
                violation_error_message=_("The last day of cover comes before the first."),
            ),
            models.CheckConstraint(
                condition=Q(cover_death__gte=0, cover_disability__gte=0, cover_medical__gte=0),
                name="%(app_label)s_%(class)s_cover_not_negative",
                violation_error_message=_("Cover amounts cannot be negative."),
            ),
            models.UniqueConstraint(
                fields=["insurer", "policy_number"],
                name="%(app_label)s_%(class)s_unique_number",
                violation_error_message=_("This insurer's policy number is already recorded."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.insurer} {self.policy_number}"

    def permission_scope(self) -> Scope:
        scope: Scope = self.organization.permission_scope()
        return scope

    def activity_type_labels(self) -> list[str]:
        labels = dict(ActivityType.choices)
        return [str(labels.get(t, t)) for t in self.activity_types or []]


class InsuredPerson(models.Model):
    """A volunteer named on a policy whose basis is "named volunteers"."""

    policy = models.ForeignKey(InsurancePolicy, on_delete=models.PROTECT, related_name="insured")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="insured_on"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("insured person")
        verbose_name_plural = _("insured people")
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "user"],
                name="%(app_label)s_%(class)s_once_per_policy",
                violation_error_message=_("This volunteer is already named on the policy."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.policy_id}"


class IncidentSeverity(models.TextChoices):
    MINOR = "minor", _("Minor injury")
    INJURY = "injury", _("Injury needing treatment")
    SERIOUS = "serious", _("Serious injury or disability")
    DEATH = "death", _("Death")


class Incident(models.Model):
    """Something that happened to a volunteer during service, recorded against a policy."""

    policy = models.ForeignKey(InsurancePolicy, on_delete=models.PROTECT, related_name="incidents")
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("volunteer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    occurred_at = models.DateTimeField(_("when it happened"))
    activity_key = models.CharField(_("activity"), max_length=100, blank=True)
    activity_type = models.CharField(
        _("activity type"), max_length=20, choices=ActivityType.choices
    )
    severity = models.CharField(_("severity"), max_length=10, choices=IncidentSeverity.choices)
    # Health details: personal data, kept encrypted.
    description = EncryptedTextField(_("what happened"), purpose="incident_description")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.occurred_at:%Y-%m-%d}"

    def permission_scope(self) -> Scope:
        return self.policy.permission_scope()


class ClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted to the insurer")
    APPROVED = "approved", _("Approved")
    PAID = "paid", _("Paid to the volunteer")
    DENIED = "denied", _("Denied")


class Claim(models.Model):
    """A claim on the policy for an incident: what was asked and what the insurer paid."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="claims")
    amount_claimed = models.DecimalField(
        _("amount claimed (yuan)"), max_digits=12, decimal_places=2
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED
    )
    amount_paid = models.DecimalField(
        _("amount paid (yuan)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    insurer_reference = models.CharField(_("insurer's claim number"), max_length=60, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_claimed__gt=0),
                name="%(app_label)s_%(class)s_amount_positive",
                violation_error_message=_("A claim is for a positive amount."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount_claimed} ({self.status})"

    def permission_scope(self) -> Scope:
        return self.incident.permission_scope()


# --- agreements -------------------------------------------------------------------------------


class AgreementTemplate(models.Model):
    """An organisation's service agreement (Art. 14); its text lives in numbered versions."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="agreements"
    )
    title = models.CharField(_("title"), max_length=120)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def permission_scope(self) -> Scope:
        scope: Scope = self.organization.permission_scope()
        return scope


class AgreementVersion(models.Model):
    """One published text of an agreement. A change is a new version; a version never changes,
    so an acceptance always points at the words the volunteer saw."""

    template = models.ForeignKey(
        AgreementTemplate, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    body = models.TextField(_("text"))
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("agreement version")
        verbose_name_plural = _("agreement versions")
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"],
                name="%(app_label)s_%(class)s_unique_number",
                violation_error_message=_("This version number exists already."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"

    def permission_scope(self) -> Scope:
        return self.template.permission_scope()


class AgreementAcceptance(models.Model):
    """The electronic record of a volunteer accepting one version: who, when, from where.

    ``subject`` names what the acceptance is for (an activity key), empty for an agreement
    with the organisation as a whole. Rows are only ever added.
    """

    version = models.ForeignKey(
        AgreementVersion, on_delete=models.PROTECT, related_name="acceptances"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agreement_acceptances"
    )
    subject = models.CharField(_("for"), max_length=100, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), default=timezone.now)
    ip = models.GenericIPAddressField(_("from where"), null=True, blank=True)
    user_agent = models.CharField(_("device"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("agreement acceptance")
        verbose_name_plural = _("agreement acceptances")
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "user", "subject"],
                name="%(app_label)s_%(class)s_once",
                violation_error_message=_("This version was accepted already."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepted {self.version_id}"


# --- complaints and reports -------------------------------------------------------------------


class CaseCategory(models.TextChoices):
    CHARGING = "charging", _("Charging the people served")
    PROFIT = "profit", _("Making a profit in the name of volunteering")
    FALSE_RECORDS = "false_records", _("False service records or certificates")
    HARASSMENT = "harassment", _("Harassment")
    UNSAFE = "unsafe", _("Unsafe practice")
    PRIVACY = "privacy", _("Leaking personal information")
    OTHER = "other", _("Something else")


class SubjectKind(models.TextChoices):
    ORGANIZATION = "organization", _("An organisation")
    ACTIVITY = "activity", _("An activity")
    PERSON = "person", _("A person")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Received")
    INVESTIGATING = "investigating", _("Being investigated")
    DECIDED = "decided", _("Decided")


class CaseOutcome(models.TextChoices):
    SUBSTANTIATED = "substantiated", _("Substantiated")
    UNSUBSTANTIATED = "unsubstantiated", _("Not substantiated")
    REFERRED = "referred", _("Referred to another authority")


class Case(models.Model):
    """A complaint or report (Art. 26), from anyone, logged in or not.

    The reporter follows it with a code only they hold (its hash is stored, never the code);
    who reported is never shown to the reported party, and the reporter's contact is kept
    encrypted. ``version`` is bumped on every decision-level change, so two region admins
    deciding at once cannot both win.
    """

    # Set right after the insert, from the primary key; NULL (not "") until then, so that the
    # unique index never sees two blanks.
    reference = models.CharField(  # noqa: DJ001
        _("case number"), max_length=20, unique=True, null=True
    )
    follow_code_hash = models.CharField(max_length=64, unique=True)
    category = models.CharField(_("what happened"), max_length=20, choices=CaseCategory.choices)
    subject_kind = models.CharField(_("about"), max_length=20, choices=SubjectKind.choices)
    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation concerned"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    subject_detail = EncryptedTextField(
        _("which activity or person"), purpose="case_subject", blank=True
    )
    reported_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person concerned"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    region = models.ForeignKey(
        "regions.Region", verbose_name=_("where"), on_delete=models.PROTECT, related_name="+"
    )
    description = EncryptedTextField(_("what happened, in your words"), purpose="case_description")
    amount_charged = models.DecimalField(
        _("amount charged (yuan)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reporter_name = EncryptedTextField(_("your name"), purpose="case_reporter_name", blank=True)
    reporter_contact = EncryptedTextField(
        _("how to reach you"), purpose="case_reporter_contact", blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=CaseOutcome.choices, blank=True)
    public_summary = models.TextField(_("what the reporter is told"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    due_at = models.DateTimeField(_("answer due"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["due_at"]
        indexes = [models.Index(fields=["region", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="decided", outcome__gt="") | ~Q(status="decided"),
                name="%(app_label)s_%(class)s_decided_has_outcome",
                violation_error_message=_("A decided case has an outcome."),
            )
        ]

    def __str__(self) -> str:
        return self.reference or f"case {self.pk}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)

    @property
    def is_overdue(self) -> bool:
        return self.status != CaseStatus.DECIDED and self.due_at < timezone.now()


class CaseEvidence(models.Model):
    """A file the reporter attached: PDF, JPEG or PNG, stored under a random name."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to="safeguards/evidence/")
    content_type = models.CharField(max_length=40)
    original_name = EncryptedTextField(purpose="evidence_name", blank=True)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")

    def __str__(self) -> str:
        return f"evidence {self.pk} of case {self.case_id}"

    def permission_scope(self) -> Scope:
        return self.case.permission_scope()


class CaseActionKind(models.TextChoices):
    RECEIVED = "received", _("Received")
    ASSIGNED = "assigned", _("Assigned")
    NOTE = "note", _("Note")
    STATUS = "status", _("Status changed")
    DECIDED = "decided", _("Decided")
    SANCTION = "sanction", _("Sanction imposed")


class CaseAction(models.Model):
    """One entry of a case's log. ``note`` is internal (encrypted); ``public_note`` is what the
    reporter reads when following the case, and never names anyone."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="actions")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=CaseActionKind.choices)
    note = EncryptedTextField(purpose="case_note", blank=True)
    # Written by a region admin, in their words; system entries leave it empty and are worded
    # at display time in the reader's language (see public_text).
    public_note = models.TextField(blank=True)
    visible_to_reporter = models.BooleanField(default=False)
    sanction = models.ForeignKey(
        "Sanction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("case action")
        verbose_name_plural = _("case actions")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.case_id}"

    @property
    def public_text(self) -> str:
        """What the reporter reads for this entry, in the language they read in."""
        if self.public_note:
            return self.public_note
        if self.kind == CaseActionKind.RECEIVED:
            return gettext("Your report was received and passed to the region's administrator.")
        if self.kind == CaseActionKind.STATUS:
            return gettext("The case is being investigated.")
        if self.kind == CaseActionKind.SANCTION and self.sanction is not None:
            return gettext("A sanction was imposed: %(kind)s.") % {
                "kind": self.sanction.get_kind_display()
            }
        return ""


# --- sanctions --------------------------------------------------------------------------------


class PartyKind(models.TextChoices):
    ORGANIZATION = "organization", _("Organisation")
    VOLUNTEER = "volunteer", _("Volunteer")


class SanctionKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    SUSPENSION = "suspension", _("Suspension")
    DEREGISTRATION = "deregistration", _("Deregistration")  # organisations only
    BAN = "ban", _("Ban")  # volunteers only


# Sanctions that stop a party from acting while they last; a warning is on record only.
RESTRICTING = (SanctionKind.SUSPENSION, SanctionKind.DEREGISTRATION, SanctionKind.BAN)


class Sanction(models.Model):
    """A sanction against an organisation or a volunteer: why, on which case, from when to when.

    Organisations: warning, suspension, deregistration. Volunteers: warning, suspension, ban.
    A suspension always names its end; deregistration and a ban have none. Lifting early keeps
    the row (``lifted_at``). The reason of a sanction against an organisation is public.
    """

    party_kind = models.CharField(_("against"), max_length=20, choices=PartyKind.choices)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sanctions",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sanctions",
    )
    kind = models.CharField(_("sanction"), max_length=20, choices=SanctionKind.choices)
    reason = models.TextField(_("reason"))
    case = models.ForeignKey(
        Case,
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sanctions",
    )
    region = models.ForeignKey(
        "regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    imposed_at = models.DateTimeField(default=timezone.now)
    imposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(_("why it was lifted"), blank=True)

    class Meta:
        verbose_name = _("sanction")
        verbose_name_plural = _("sanctions")
        ordering = ["-starts_at"]
        indexes = [
            models.Index(fields=["organization", "starts_at"]),
            models.Index(fields=["user", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(party_kind="organization", organization__isnull=False, user__isnull=True)
                    | Q(party_kind="volunteer", user__isnull=False, organization__isnull=True)
                ),
                name="%(app_label)s_%(class)s_one_party",
                violation_error_message=_("A sanction is against one organisation or one person."),
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        party_kind="organization",
                        kind__in=["warning", "suspension", "deregistration"],
                    )
                    | Q(party_kind="volunteer", kind__in=["warning", "suspension", "ban"])
                ),
                name="%(app_label)s_%(class)s_kind_fits_party",
                violation_error_message=_("This sanction does not apply to this kind of party."),
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message=_("A sanction ends after it starts."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="suspension") | Q(ends_at__isnull=False),
                name="%(app_label)s_%(class)s_suspension_has_end",
                violation_error_message=_("A suspension names its end."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.organization_id)

    def active_at(self, at: object) -> bool:
        return (
            self.starts_at <= at  # type: ignore[operator]
            and (self.ends_at is None or self.ends_at > at)  # type: ignore[operator]
            and (self.lifted_at is None or self.lifted_at > at)  # type: ignore[operator]
        )
