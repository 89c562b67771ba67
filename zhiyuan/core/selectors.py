"""Reads behind the role home pages."""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.db.models import Count

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditChainHead, AuditEvent
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.organizations.selectors import organization_list_visible
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.people.selectors import volunteer_counts_by_street
from zhiyuan.regions.models import Region


def grants_for(user: User, role: Role) -> list[RoleGrant]:
    return list(
        RoleGrant.objects.filter(user=user, role=role, revoked_at__isnull=True).select_related(
            "region", "organization"
        )
    )


def volunteer_overview(user: User) -> VolunteerProfile | None:
    return (
        VolunteerProfile.objects.filter(user=user)
        .select_related("region")
        .prefetch_related("skills", "user__memberships__organization")
        .first()
    )


def organizations_with_members(ids: list[int]) -> list[Organization]:
    return list(organization_list_visible([], ids))


def region_overview(codes: list[str] | None) -> dict[str, Any]:
    """What a region-scoped role sees first: its regions, organisations and volunteers."""
    regions = list(Region.objects.filter(code__in=codes)) if codes is not None else []
    by_street = volunteer_counts_by_street(codes)
    street_codes = [street.ljust(12, "0") for street, _ in by_street]
    names = dict(Region.objects.filter(code__in=street_codes).values_list("code", "name"))
    streets = [
        {"code": code, "name": names.get(code, code), "n": n}
        for code, (_, n) in zip(street_codes, by_street, strict=True)
    ]
    organizations = organization_list_visible(codes, [])
    counts = dict(
        Organization.objects.filter(pk__in=organizations.values("pk"))
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status = {OrganizationStatus(s).label: n for s, n in sorted(counts.items())}
    return {
        "scope_regions": regions,
        "streets": streets,
        "volunteer_total": sum(n for _, n in by_street),
        "organizations": list(organizations[:50]),
        "organization_status": by_status,
    }


def system_overview() -> dict[str, Any]:
    return {
        "user_count": User.objects.count(),
        "region_count": Region.objects.count(),
        "organization_count": Organization.objects.count(),
    }


def security_overview() -> dict[str, Any]:
    return {
        "grants": list(
            RoleGrant.objects.filter(revoked_at__isnull=True)
            .select_related("user", "region", "organization")
            .order_by("-granted_at")[:50]
        ),
        "locked_accounts": AccessAttempt.objects.filter(failures_since_start__gte=5).count(),
    }


def audit_overview() -> dict[str, Any]:
    # The full chain check walks every entry; it runs as `zhiyuan audit verify`, not per page.
    return {
        "events": list(AuditEvent.objects.select_related("actor").order_by("-id")[:50]),
        "entries": AuditEvent.objects.count(),
        "head": AuditChainHead.objects.filter(pk=1).first(),
    }
