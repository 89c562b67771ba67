"""Test data for organisations and safeguards, built through the real services."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile
from stdnum.cn import uscc

from tests.factories import OrganizationFactory, make_user, make_volunteer
from zhiyuan.accounts.roles import Role
from zhiyuan.organizations.models import (
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    OrganizationStatus,
)
from zhiyuan.regions.models import Region

LONG_AGO = datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def credit_code(prefix: str, region: str = "110101", org_code: str = "MA01ABCD3") -> str:
    """A valid code with the given two-character prefix (check character computed)."""
    body = f"{prefix}{region}{org_code}"
    return body + uscc.calc_check_digit(body)


def pdf(name: str = "certificate.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def registration(region: Region, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "东城区助老志愿者协会",
        "kind": OrganizationKind.SOCIAL_GROUP,
        "credit_code": credit_code("51"),
        "legal_representative": "王建国",
        "contact_name": "李红",
        "contact_phone": "13911112222",
        "region": region,
        "service_fields": ["elder_care"],
        "description": "",
        "certificate": pdf(),
    }
    data.update(overrides)
    return data


def org_with_admin(
    region: Region, *, status: str = OrganizationStatus.VERIFIED, **fields: Any
) -> tuple[Organization, Any]:
    org = OrganizationFactory(region=region, status=status, **fields)
    admin = make_user(Role.ORG_ADMIN, organization=org)
    Membership.objects.create(organization=org, user=admin, role=MemberRole.ADMIN)
    return org, admin


def member(org: Organization, region: Region, *, joined: datetime | None = None) -> Any:
    """A volunteer (with a profile) who is an active member of ``org`` (by default since the
    start of 2025, before any date the tests ask about)."""
    profile = make_volunteer(region)
    Membership.objects.create(organization=org, user=profile.user, joined_at=joined or LONG_AGO)
    return profile.user


def community(district: Region) -> Region:
    return Region.objects.filter(code__startswith=district.code[:6], level=5).order_by("code")[0]
