"""Volunteer service organisations and teams, and who belongs to them.

An organisation registers (name, kind, credit code, legal representative, contacts, service
area, fields of service, registration certificate), a region admin of its area verifies it, and
only then may it publish, recruit or receive dispatched needs. Teams are organisations with a
parent, to any depth. Volunteers join by application or invitation; leaving keeps the row.
Insurance, agreements, complaints and sanctions live in ``zhiyuan.safeguards``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.permissions import Scope


@audit_actions
class OrganizationAudit(models.TextChoices):
    """What the organisations app writes to the audit log (identifiers only, never contacts)."""

    REGISTERED = "organization.registered", _("Organisation registered")
    UPDATED = "organization.updated", _("Organisation registration updated")
    CERTIFICATE = "organization.certificate", _("Registration certificate uploaded")
    CERTIFICATE_READ = "organization.certificate_read", _("Registration certificate downloaded")
    VERIFIED = "organization.verified", _("Organisation verified")
    REJECTED = "organization.rejected", _("Organisation rejected")
    SUSPENDED = "organization.suspended", _("Organisation suspended")
    REINSTATED = "organization.reinstated", _("Organisation reinstated")
    DEREGISTERED = "organization.deregistered", _("Organisation deregistered")
    REFUSED = "organization.refused", _("Organisation refused: not allowed to operate")
    TEAM_CREATED = "organization.team_created", _("Team created")
    APPLIED = "membership.applied", _("Applied to join")
    INVITED = "membership.invited", _("Invited to join")
    ACCEPTED = "membership.accepted", _("Joined an organisation")
    DECLINED = "membership.declined", _("Membership request declined")
    WITHDRAWN = "membership.withdrawn", _("Membership request withdrawn")
    LEFT = "membership.left", _("Left an organisation")
    ROLE_CHANGED = "membership.role_changed", _("Member role changed")
    CALL_PUBLISHED = "recruitment.published", _("Recruitment call published")
    CALL_CLOSED = "recruitment.closed", _("Recruitment call closed")


class OrganizationKind(models.TextChoices):
    SOCIAL_GROUP = "social_group", _("Social group")
    SOCIAL_SERVICE = "social_service", _("Social-service organisation")
    FOUNDATION = "foundation", _("Foundation")
    PUBLIC_INSTITUTION = "public_institution", _("Public institution")
    ENTERPRISE_TEAM = "enterprise_team", _("Enterprise volunteer team")
    SCHOOL_TEAM = "school_team", _("School or university team")
    COMMUNITY_TEAM = "community_team", _("Community grassroots team")
    # Not a volunteer organisation: a shop or service provider that hands out rewards.
    MERCHANT = "merchant", _("Partner merchant")


class OrganizationStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting verification")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")
    SUSPENDED = "suspended", _("Suspended")
    DEREGISTERED = "deregistered", _("Deregistered")


class ServiceField(models.TextChoices):
    """Fields of service an organisation declares (what it does, not who it is)."""

    ELDER_CARE = "elder_care", _("Elder care")
    CHILDREN = "children", _("Children and youth")
    DISABILITY = "disability", _("People with disabilities")
    EDUCATION = "education", _("Education and tutoring")
    HEALTH = "health", _("Health and medical care")
    CULTURE = "culture", _("Culture and arts")
    ENVIRONMENT = "environment", _("Environment")
    EMERGENCY = "emergency", _("Emergency and disaster relief")
    COMMUNITY = "community", _("Community services")
    LEGAL = "legal", _("Legal aid")
    POVERTY = "poverty", _("Help for people in difficulty")
    EVENTS = "events", _("Large events")
    OTHER = "other", _("Other")


class Organization(models.Model):
    """A volunteer service organisation or team, serving a region subtree.

    Only a verified organisation may publish activities, recruit or receive dispatched needs.
    A sub-team points at its parent organisation.
    """

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=30, choices=OrganizationKind.choices)
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, null=True, blank=True, unique=True
    )
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("service area"),
        on_delete=models.PROTECT,
        related_name="organizations",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="teams",
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=OrganizationStatus.choices,
        default=OrganizationStatus.PENDING,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Registration details (issue 4). Contacts and the legal representative are personal data:
    # encrypted at rest, shown masked.
    legal_representative = EncryptedTextField(
        _("legal representative"), purpose="org_legal_representative", blank=True
    )
    contact_name = EncryptedTextField(_("contact person"), purpose="org_contact_name", blank=True)
    contact_phone = EncryptedTextField(
        _("contact mobile number"), purpose="org_contact_phone", blank=True
    )
    service_fields = models.JSONField(_("fields of service"), default=list, blank=True)
    description = models.TextField(_("what the organisation does"), blank=True)
    # A grassroots team without a credit code names who vouches for it: a verified
    # organisation or a community (residents' committee).
    sponsor = models.ForeignKey(
        "self",
        verbose_name=_("sponsoring organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sponsored",
    )
    sponsor_region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("sponsoring community"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Stored under a random name; served only as a download (see views.organization_certificate).
    certificate = models.FileField(
        _("registration certificate"), upload_to="organizations/certificates/", blank=True
    )
    certificate_type = models.CharField(max_length=40, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status_reason = models.TextField(_("reason for the status"), blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        indexes = [models.Index(fields=["region", "status"])]

    def __str__(self) -> str:
        return self.name

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.pk)

    @property
    def is_verified(self) -> bool:
        return self.status == OrganizationStatus.VERIFIED

    @property
    def is_team(self) -> bool:
        return self.parent_id is not None

    def service_field_labels(self) -> list[str]:
        labels = dict(ServiceField.choices)
        return [str(labels.get(f, f)) for f in self.service_fields or []]


class MemberRole(models.TextChoices):
    LEADER = "leader", _("Leader")
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")


class Membership(models.Model):
    """A volunteer's membership of an organisation. Leaving sets ``left_at``; the row stays,
    so the volunteer's past records keep their organisation."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(
        _("role"), max_length=10, choices=MemberRole.choices, default=MemberRole.MEMBER
    )
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=Q(left_at__isnull=True),
                name="%(app_label)s_%(class)s_one_active",
                violation_error_message=_("This volunteer is already a member."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.organization_id}"

    def permission_scope(self) -> Scope:
        return self.organization.permission_scope()

    @property
    def is_active(self) -> bool:
        return self.left_at is None


class RequestKind(models.TextChoices):
    APPLICATION = "application", _("Application")
    INVITATION = "invitation", _("Invitation")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for an answer")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class MembershipRequest(models.Model):
    """A volunteer's application to join, or an organisation's invitation to a volunteer.

    An application is answered by the organisation; an invitation by the volunteer. Accepting
    either creates the membership; the request stays as the record of how the person joined.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="membership_requests"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="membership_requests"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=RequestKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    message = models.CharField(_("message"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("answered"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("membership request")
        verbose_name_plural = _("membership requests")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=Q(status="pending"),
                name="%(app_label)s_%(class)s_one_pending",
                violation_error_message=_("A request for this person is already waiting."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.user_id} → {self.organization_id}"

    def permission_scope(self) -> Scope:
        return self.organization.permission_scope()


class RecruitmentCall(models.Model):
    """A published call for volunteers to join an organisation (招募公告).

    Publishing and answering it are "publish" and "recruit": only an organisation that may
    operate (verified, not sanctioned) can do either (Regulations Art. 12: the call states the
    true information and the risks).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="recruitment_calls"
    )
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("what volunteers will do"))
    risks = models.TextField(_("risks of the service"), blank=True)
    closes_on = models.DateField(_("applications close"), null=True, blank=True)
    published_at = models.DateTimeField(_("published"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("recruitment call")
        verbose_name_plural = _("recruitment calls")
        ordering = ["-published_at"]

    def __str__(self) -> str:
        return self.title

    def permission_scope(self) -> Scope:
        return self.organization.permission_scope()
