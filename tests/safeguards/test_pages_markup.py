"""Every page of organisations and safeguards: no inline script or style (the CSP forbids
them), no duplicate element ids (labels must point at one field), one h1."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.factories import make_user, make_volunteer
from tests.organizations.helpers import PNG, member, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.organizations.models import Membership, MembershipRequest, RecruitmentCall
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import CoverBasis

pytestmark = pytest.mark.django_db


def check(html: str, url: str) -> None:
    assert "<script>" not in html and " on" + "click=" not in html, url
    assert 'style="' not in html, url
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == [], url
    assert html.count("<h1") == 1, url
    for target in re.findall(r'<label[^>]*\sfor="([^"]+)"', html):
        assert ids[target] == 1, (url, target)


def test_pages_are_well_formed(client, district) -> None:
    org, admin = org_with_admin(district)
    region_admin = make_user(Role.REGION_ADMIN, region=district)
    volunteer = member(org, district)
    policy = services.insurance_policy_create(
        organization=org,
        insurer="i",
        policy_number="p",
        starts_on=timezone.localdate() - timedelta(days=3),
        ends_on=timezone.localdate() + timedelta(days=3),
        cover_death=Decimal(1),
        cover_disability=Decimal(1),
        cover_medical=Decimal(1),
        basis=CoverBasis.NAMED,
        actor=admin,
    )
    for _ in range(2):
        incident = services.incident_record(
            policy=policy,
            occurred_at=timezone.now() - timedelta(hours=1),
            activity_type="general",
            severity="minor",
            description="x",
            actor=admin,
        )
        services.claim_submit(incident=incident, amount_claimed=Decimal(3), actor=admin)
    template = services.agreement_template_create(
        organization=org, title="t", body="b", actor=admin
    )
    case = services.case_submit(
        category="charging",
        subject_kind="organization",
        organization=org,
        description="一段足够长的描述文字。",
        amount_charged=Decimal(5),
        evidence=[SimpleUploadedFile("r.png", PNG, "image/png")],
    ).case
    for _ in range(2):
        services.sanction_impose(
            party=org, kind="warning", reason="r", case=case, actor=region_admin
        )
    for title in ("a", "b"):
        RecruitmentCall.objects.create(organization=org, title=title, body="b", published_by=admin)
    for _ in range(2):
        MembershipRequest.objects.create(
            organization=org,
            user=make_volunteer(district).user,
            kind="application",
            created_by=admin,
        )
    pages = {
        admin: [
            f"/organisations/{org.pk}/",
            f"/organisations/{org.pk}/members/",
            f"/organisations/{org.pk}/teams/new/",
            f"/organisations/{org.pk}/calls/new/",
            "/organisations/register/",
            "/organisations/mine/",
            f"/safeguards/organisations/{org.pk}/insurance/",
            f"/safeguards/organisations/{org.pk}/insurance/uncovered/"
            "?activity_type=general&first_day=2026-01-01&last_day=2026-01-02",
            f"/safeguards/insurance/{policy.pk}/",
            f"/safeguards/organisations/{org.pk}/agreements/",
            f"/safeguards/agreements/{template.pk}/",
        ],
        region_admin: [
            "/organisations/verification/",
            f"/organisations/{org.pk}/",
            "/safeguards/cases/",
            f"/safeguards/cases/{case.pk}/",
            f"/safeguards/organisations/{org.pk}/sanctions/",
            "/safeguards/risk/",
        ],
        volunteer: [
            "/organisations/mine/",
            f"/safeguards/agreements/versions/{template.versions.get().pk}/",
        ],
        None: ["/safeguards/report/", "/safeguards/follow/", "/safeguards/sanctions/"],
    }
    assert Membership.objects.filter(organization=org).count() == 2
    for user, urls in pages.items():
        if user is None:
            client.logout()
        else:
            client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            check(response.content.decode(), url)
