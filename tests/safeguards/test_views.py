"""Safeguards pages: public report and follow-up, the case queue, sanctions, insurance and
agreements — and every page refusing outsiders."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.factories import make_user, make_volunteer
from tests.organizations.helpers import PNG, member, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations.models import OrganizationStatus
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import (
    AgreementAcceptance,
    Case,
    CaseStatus,
    CoverBasis,
    InsurancePolicy,
    Sanction,
)

pytestmark = pytest.mark.django_db


def report_data(org, **overrides):
    data = {
        "category": "charging",
        "subject_kind": "organization",
        "organization": org.pk,
        "description": "每次上门都要收20元，说是材料费。",
        "amount_charged": "20",
        "reporter_name": "张阿姨",
        "reporter_contact": "13733334444",
    }
    data.update(overrides)
    return data


class TestPublicReport:
    def test_anyone_reports_gets_the_code_once_and_follows(self, client, district) -> None:
        org, _ = org_with_admin(district)
        make_user(Role.REGION_ADMIN, region=district)
        data = report_data(org, evidence=SimpleUploadedFile("receipt.png", PNG, "image/png"))
        response = client.post("/safeguards/report/", data)
        assert response.status_code == 302
        received = client.get(response.url).content.decode()
        case = Case.objects.get()
        assert case.reference in received
        code = received.split('id="follow-code">')[1].split("<")[0]
        assert len(code) == 19
        # Shown once: reloading the page does not show it again.
        assert client.get("/safeguards/report/received/").status_code == 302
        follow = client.post("/safeguards/follow/", {"code": code}).content.decode()
        assert case.reference in follow
        assert case.actions.get().public_note in follow
        assert "张阿姨" not in follow and "13733334444" not in follow
        wrong = client.post("/safeguards/follow/", {"code": "AAAA-BBBB-CCCC-DDDD"})
        assert case.reference not in wrong.content.decode()

    def test_the_form_keeps_what_was_typed_on_error(self, client, district) -> None:
        org, _ = org_with_admin(district)
        response = client.post("/safeguards/report/", report_data(org, description="短"))
        page = response.content.decode()
        assert response.status_code == 200 and "13733334444" in page
        assert not Case.objects.exists()

    def test_the_public_sanctions_page_needs_no_login(self, client, district) -> None:
        org, _ = org_with_admin(district)
        admin = make_user(Role.REGION_ADMIN, region=district)
        services.sanction_impose(
            party=org,
            kind="suspension",
            reason="向服务对象收费",
            ends_at=timezone.now() + timedelta(days=30),
            actor=admin,
        )
        page = client.get("/safeguards/sanctions/").content.decode()
        assert org.name in page and "向服务对象收费" in page
        assert admin.name not in page


class TestCaseHandling:
    @pytest.fixture
    def case(self, district):
        org, _ = org_with_admin(district)
        return services.case_submit(
            category="charging",
            subject_kind="organization",
            organization=org,
            description="每次上门都要收20元，说是材料费。",
            amount_charged=Decimal("20"),
            reporter_contact="13733334444",
            evidence=[SimpleUploadedFile("r.png", PNG, "image/png")],
        ).case

    def test_the_case_page_shows_the_penalty_rule_and_masks_the_reporter(
        self, client, district, case
    ) -> None:
        admin = make_user(Role.REGION_ADMIN, region=district)
        client.force_login(admin)
        page = client.get(f"/safeguards/cases/{case.pk}/").content.decode()
        assert "100.00" in page  # five times 20 yuan
        assert "13733334444" not in page
        full = client.get(f"/safeguards/cases/{case.pk}/?contact=1").content.decode()
        assert "13733334444" in full
        assert AuditEvent.objects.filter(action="pii.unmask", actor=admin).count() == 1

    def test_decide_suspend_and_a_stale_form_is_told(self, client, district, case) -> None:
        first = make_user(Role.REGION_ADMIN, region=district)
        second = make_user(Role.REGION_ADMIN, region=district)
        client.force_login(first)
        client.post(
            f"/safeguards/cases/{case.pk}/decide/",
            {"version": 1, "outcome": "substantiated", "public_summary": "属实，已处理。"},
        )
        client.post(
            f"/safeguards/cases/{case.pk}/sanction/",
            {
                "kind": "suspension",
                "reason": "向服务对象收费",
                "ends_at": (timezone.localtime() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
            },
        )
        case.refresh_from_db()
        case.organization.refresh_from_db()
        assert case.status == CaseStatus.DECIDED
        assert case.organization.status == OrganizationStatus.SUSPENDED
        assert Sanction.objects.get().case == case
        client.force_login(second)
        response = client.post(
            f"/safeguards/cases/{case.pk}/decide/",
            {"version": 1, "outcome": "unsubstantiated", "public_summary": "不属实。"},
            follow=True,
        )
        assert first.name in response.content.decode()
        case.refresh_from_db()
        assert case.outcome == "substantiated"

    def test_evidence_downloads_as_attachment_on_record(self, client, district, case) -> None:
        admin = make_user(Role.REGION_ADMIN, region=district)
        client.force_login(admin)
        item = case.evidence.get()
        response = client.get(f"/safeguards/cases/{case.pk}/evidence/{item.pk}/")
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == "image/png"
        assert AuditEvent.objects.filter(action="case.evidence_read").exists()

    def test_the_queue_lists_cases_of_the_area(
        self, client, district, other_district, case
    ) -> None:
        client.force_login(make_user(Role.REGION_ADMIN, region=district))
        assert case.reference in client.get("/safeguards/cases/").content.decode()
        client.force_login(make_user(Role.REGION_ADMIN, region=other_district))
        assert case.reference not in client.get("/safeguards/cases/").content.decode()


class TestOrganisationAdminPages:
    def test_insurance_pages_and_the_uncovered_list(self, client, district) -> None:
        org, admin = org_with_admin(district)
        covered = member(org, district)
        uncovered = member(org, district)
        client.force_login(admin)
        response = client.post(
            f"/safeguards/organisations/{org.pk}/insurance/",
            {
                "insurer": "中国人寿",
                "policy_number": "GL-2026-1",
                "starts_on": "2026-01-01",
                "ends_on": "2026-12-31",
                "cover_death": "500000",
                "cover_disability": "300000",
                "cover_medical": "20000",
                "basis": CoverBasis.NAMED,
            },
        )
        policy = InsurancePolicy.objects.get()
        assert response.url == f"/safeguards/insurance/{policy.pk}/"
        client.post(
            f"/safeguards/insurance/{policy.pk}/named/",
            {"volunteer_number": covered.volunteer.volunteer_number},
        )
        page = client.get(
            f"/safeguards/organisations/{org.pk}/insurance/uncovered/",
            {"activity_type": "general", "first_day": "2026-03-01", "last_day": "2026-03-01"},
        ).content.decode()
        assert uncovered.name in page and covered.name not in page.split("<tbody>")[-1]

    def test_agreement_publish_and_volunteer_accepts(self, client, district) -> None:
        org, admin = org_with_admin(district)
        client.force_login(admin)
        client.post(
            f"/safeguards/organisations/{org.pk}/agreements/",
            {"title": "志愿服务协议", "body": "双方约定……"},
        )
        template = org.agreements.get()
        version = template.versions.get()
        volunteer = make_volunteer(district).user
        client.force_login(volunteer)
        page = client.get(f"/safeguards/agreements/versions/{version.pk}/?for=activity:7")
        assert "双方约定" in page.content.decode()
        client.post(
            f"/safeguards/agreements/versions/{version.pk}/",
            {"for": "activity:7"},
            REMOTE_ADDR="198.51.100.4",
        )
        acceptance = AgreementAcceptance.objects.get()
        assert (acceptance.user, acceptance.subject, acceptance.ip) == (
            volunteer,
            "activity:7",
            "198.51.100.4",
        )


@pytest.fixture
def world(district, other_district):
    org, admin = org_with_admin(district)
    region_admin = make_user(Role.REGION_ADMIN, region=district)
    policy = services.insurance_policy_create(
        organization=org,
        insurer="i",
        policy_number="p",
        starts_on=timezone.localdate() - timedelta(days=30),
        ends_on=timezone.localdate() + timedelta(days=30),
        cover_death=Decimal(1),
        cover_disability=Decimal(1),
        cover_medical=Decimal(1),
        basis=CoverBasis.MEMBERS,
        actor=admin,
    )
    incident = services.incident_record(
        policy=policy,
        occurred_at=timezone.now() - timedelta(hours=1),
        activity_type="general",
        severity="minor",
        description="擦伤",
        actor=admin,
    )
    claim = services.claim_submit(incident=incident, amount_claimed=Decimal(10), actor=admin)
    template = services.agreement_template_create(
        organization=org, title="t", body="b", actor=admin
    )
    case = services.case_submit(
        category="other",
        subject_kind="organization",
        organization=org,
        description="一段足够长的描述文字。",
        evidence=[SimpleUploadedFile("r.png", PNG, "image/png")],
    ).case
    sanction = services.sanction_impose(
        party=org, kind="warning", reason="r", case=case, actor=region_admin
    )
    return {
        "org": org,
        "policy": policy,
        "incident": incident,
        "claim": claim,
        "template": template,
        "version": template.versions.get(),
        "case": case,
        "evidence": case.evidence.get(),
        "sanction": sanction,
        "outsiders": {
            "other org admin": org_with_admin(other_district)[1],
            "other region admin": make_user(Role.REGION_ADMIN, region=other_district),
            "resident": make_user(Role.RESIDENT, region=district),
        },
    }


def restricted_pages(w):
    org = w["org"].pk
    return [
        ("get", f"/safeguards/organisations/{org}/insurance/"),
        ("get", f"/safeguards/organisations/{org}/insurance/uncovered/"),
        ("get", f"/safeguards/insurance/{w['policy'].pk}/"),
        ("post", f"/safeguards/insurance/{w['policy'].pk}/named/"),
        ("post", f"/safeguards/insurance/{w['policy'].pk}/cancel/"),
        ("post", f"/safeguards/insurance/{w['policy'].pk}/incidents/"),
        ("post", f"/safeguards/incidents/{w['incident'].pk}/claims/"),
        ("post", f"/safeguards/claims/{w['claim'].pk}/decide/"),
        ("get", f"/safeguards/organisations/{org}/agreements/"),
        ("get", f"/safeguards/agreements/{w['template'].pk}/"),
        ("get", f"/safeguards/agreements/versions/{w['version'].pk}/"),
        ("get", "/safeguards/cases/"),
        ("get", f"/safeguards/cases/{w['case'].pk}/"),
        ("post", f"/safeguards/cases/{w['case'].pk}/investigate/"),
        ("post", f"/safeguards/cases/{w['case'].pk}/decide/"),
        ("post", f"/safeguards/cases/{w['case'].pk}/note/"),
        ("post", f"/safeguards/cases/{w['case'].pk}/assign/"),
        ("post", f"/safeguards/cases/{w['case'].pk}/sanction/"),
        ("get", f"/safeguards/cases/{w['case'].pk}/evidence/{w['evidence'].pk}/"),
        ("get", f"/safeguards/organisations/{org}/sanctions/"),
        ("post", f"/safeguards/sanctions/{w['sanction'].pk}/lift/"),
        ("get", "/safeguards/risk/"),
    ]


def test_outsiders_are_refused_on_every_safeguards_page(client, world) -> None:
    before = (Case.objects.get().version, Sanction.objects.get().lifted_at)
    # A region admin elsewhere has the queue and the ranking of their own area: they open,
    # and show nothing of this one.
    own_lists = {"/safeguards/cases/", "/safeguards/risk/"}
    for who, outsider in world["outsiders"].items():
        client.force_login(outsider)
        for method, url in restricted_pages(world):
            response = getattr(client, method)(url, {"version": 1})
            if who == "other region admin" and url in own_lists:
                page = response.content.decode()
                assert response.status_code == 200
                assert world["case"].reference not in page and world["org"].name not in page
                continue
            assert response.status_code in (403, 404), (who, method, url, response.status_code)
    assert (Case.objects.get().version, Sanction.objects.get().lifted_at) == before
    assert not InsurancePolicy.objects.filter(cancelled_at__isnull=False).exists()


def test_anonymous_visitors_are_sent_to_log_in_except_on_public_pages(client, world) -> None:
    for method, url in restricted_pages(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url
    for url in ("/safeguards/report/", "/safeguards/follow/", "/safeguards/sanctions/"):
        assert client.get(url).status_code == 200, url


def test_the_reported_organisation_cannot_see_the_case(client, world) -> None:
    admin = world["org"].grants.get().user
    client.force_login(admin)
    assert client.get(f"/safeguards/cases/{world['case'].pk}/").status_code == 403
    assert client.get("/safeguards/cases/").status_code == 403
