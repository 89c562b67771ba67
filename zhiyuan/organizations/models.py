"""Volunteer service organisations and teams, and who belongs to them.

The foundation holds what every later part needs: the organisation, its kind, its region and
its verification state, and membership. Verification, insurance, agreements and sanctions build
on these (see the organisations issue).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.permissions import Scope


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
