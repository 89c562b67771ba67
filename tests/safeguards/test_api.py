"""Safeguards API: public report and follow-up, cases (with the 409 conflict), sanctions,
insurance, agreements, risk — and outsiders refused on every endpoint."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.factories import make_user, make_volunteer
from tests.organizations.helpers import member, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.organizations.models import OrganizationStatus
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import Case, CoverBasis, Sanction

pytestmark = pytest.mark.django_db
JSON = "application/json"
TZ = ZoneInfo("Asia/Shanghai")


def test_public_report_follow_and_sanctions_list(client, district) -> None:
    org, _ = org_with_admin(district)
    admin = make_user(Role.REGION_ADMIN, region=district)
    created = client.post(
        "/api/v1/safeguards/cases",
        {
            "category": "profit",
            "subject_kind": "organization",
            "organization": org.pk,
            "description": "以志愿服务名义推销保健品。",
            "reporter_contact": "13744445555",
        },
        content_type=JSON,
    )
    assert created.status_code == 201
    code = created.json()["follow_code"]
    followed = client.post("/api/v1/safeguards/cases/follow", {"code": code}, content_type=JSON)
    assert followed.status_code == 200
    assert followed.json()["status"] == "open"
    assert "13744445555" not in followed.content.decode()
    assert (
        client.post(
            "/api/v1/safeguards/cases/follow", {"code": "nope"}, content_type=JSON
        ).status_code
        == 404
    )
    client.force_login(admin)
    case = Case.objects.get()
    decided = client.post(
        f"/api/v1/safeguards/cases/{case.pk}/decide",
        {"version": 1, "outcome": "substantiated", "public_summary": "属实。"},
        content_type=JSON,
    )
    assert decided.status_code == 200 and decided.json()["version"] == 2
    again = client.post(
        f"/api/v1/safeguards/cases/{case.pk}/decide",
        {"version": 1, "outcome": "unsubstantiated", "public_summary": "不属实。"},
        content_type=JSON,
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    sanctioned = client.post(
        "/api/v1/safeguards/sanctions",
        {
            "organization": org.pk,
            "kind": "suspension",
            "reason": "以志愿服务名义营利",
            "ends_at": (timezone.now() + timedelta(days=30)).isoformat(),
            "case": case.pk,
        },
        content_type=JSON,
    )
    assert sanctioned.status_code == 201
    client.logout()
    public = client.get("/api/v1/safeguards/sanctions/public").json()
    assert [(s["organization_name"], s["kind"]) for s in public] == [(org.name, "suspension")]
    follow = client.post("/api/v1/safeguards/cases/follow", {"code": code}, content_type=JSON)
    assert follow.json()["outcome"] == "substantiated"
    assert follow.json()["public_summary"] == "属实。"
    org.refresh_from_db()
    assert org.status == OrganizationStatus.SUSPENDED


def test_insurance_over_the_api(client, district) -> None:
    org, admin = org_with_admin(district)
    insured = member(org, district)
    other = member(org, district)
    client.force_login(admin)
    policy = client.post(
        f"/api/v1/safeguards/organizations/{org.pk}/policies",
        {
            "insurer": "中国人寿",
            "policy_number": "A-1",
            "starts_on": "2026-04-01",
            "ends_on": "2026-06-30",
            "cover_death": "500000",
            "cover_disability": "300000",
            "cover_medical": "20000",
            "basis": CoverBasis.NAMED,
        },
        content_type=JSON,
    ).json()
    client.post(
        f"/api/v1/safeguards/policies/{policy['id']}/insured",
        {"volunteer_number": insured.volunteer.volunteer_number},
        content_type=JSON,
    )
    start = datetime(2026, 6, 30, 9, tzinfo=TZ)
    query = {
        "organization": org.pk,
        "activity_type": "general",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=3)).isoformat(),
    }
    assert client.get("/api/v1/safeguards/cover", {**query, "user": insured.pk}).json() == {
        "covered": True,
        "policy": policy["id"],
        "reason": None,
        "message": None,
    }
    answer = client.get("/api/v1/safeguards/cover", {**query, "user": other.pk}).json()
    assert (answer["covered"], answer["reason"]) == (False, "not_named")
    report = client.post(
        "/api/v1/safeguards/insurance/uncovered",
        [
            {
                "key": "act-1",
                "organization": org.pk,
                "activity_type": "general",
                "start": start.isoformat(),
                "end": (start + timedelta(days=1)).isoformat(),
                "participants": [insured.pk, other.pk],
            }
        ],
        content_type=JSON,
    ).json()
    assert report[0]["covered"] == 0
    assert {u["reason"] for u in report[0]["uncovered"]} == {"ends_earlier", "not_named"}
    # A volunteer may ask about themself, not about others.
    client.force_login(other)
    assert client.get("/api/v1/safeguards/cover", {**query, "user": other.pk}).status_code == 200
    assert client.get("/api/v1/safeguards/cover", {**query, "user": insured.pk}).status_code == 403


def test_agreements_over_the_api(client, district) -> None:
    org, admin = org_with_admin(district)
    client.force_login(admin)
    created = client.post(
        f"/api/v1/safeguards/organizations/{org.pk}/agreements",
        {"title": "协议", "body": "第一版"},
        content_type=JSON,
    ).json()
    v2 = client.post(
        f"/api/v1/safeguards/agreements/{created['id']}/versions",
        {"body": "第二版"},
        content_type=JSON,
    ).json()
    assert v2["number"] == 2
    volunteer = make_volunteer(district).user
    client.force_login(volunteer)
    accepted = client.post(
        f"/api/v1/safeguards/agreement-versions/{v2['id']}/accept",
        {"subject": "activity:9"},
        content_type=JSON,
    )
    assert accepted.status_code == 200 and accepted.json()["number"] == 2
    old = client.post(
        f"/api/v1/safeguards/agreement-versions/{created['current']['id']}/accept",
        {},
        content_type=JSON,
    )
    assert old.status_code == 422
    need = client.post(
        "/api/v1/safeguards/agreements/required",
        {"start": "2026-03-01", "end": "2026-04-01", "outside_city": True},
        content_type=JSON,
    ).json()
    assert need == {"required": True, "reasons": ["one_month_or_more", "outside_city"]}


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
    ).case
    sanction = services.sanction_impose(party=org, kind="warning", reason="r", actor=region_admin)
    return {
        "org": org,
        "admin": admin,
        "policy": policy,
        "incident": incident,
        "claim": claim,
        "template": template,
        "case": case,
        "sanction": sanction,
        "outsiders": {
            "other org admin": org_with_admin(other_district)[1],
            "other region admin": make_user(Role.REGION_ADMIN, region=other_district),
            "resident": make_user(Role.RESIDENT, region=district),
        },
    }


def endpoints(w):
    org = w["org"].pk
    day = date.today().isoformat()
    return [
        ("get", f"/api/v1/safeguards/organizations/{org}/policies", None),
        (
            "post",
            f"/api/v1/safeguards/organizations/{org}/policies",
            {
                "insurer": "x",
                "policy_number": "y",
                "starts_on": day,
                "ends_on": day,
                "cover_death": 1,
                "cover_disability": 1,
                "cover_medical": 1,
                "basis": "members",
            },
        ),
        (
            "post",
            f"/api/v1/safeguards/policies/{w['policy'].pk}/insured",
            {"volunteer_number": "1"},
        ),
        (
            "post",
            f"/api/v1/safeguards/policies/{w['policy'].pk}/incidents",
            {
                "occurred_at": timezone.now().isoformat(),
                "activity_type": "general",
                "severity": "minor",
                "description": "x",
            },
        ),
        ("post", f"/api/v1/safeguards/incidents/{w['incident'].pk}/claims", {"amount_claimed": 5}),
        ("post", f"/api/v1/safeguards/claims/{w['claim'].pk}/decide", {"status": "denied"}),
        (
            "get",
            f"/api/v1/safeguards/cover?user={w['admin'].pk}&organization={org}"
            f"&activity_type=general&start=2026-01-01T09:00:00%2B08:00"
            f"&end=2026-01-01T10:00:00%2B08:00",
            None,
        ),
        (
            "post",
            "/api/v1/safeguards/insurance/uncovered",
            [
                {
                    "key": "k",
                    "organization": org,
                    "activity_type": "general",
                    "start": timezone.now().isoformat(),
                    "end": timezone.now().isoformat(),
                    "participants": [w["admin"].pk],
                }
            ],
        ),
        ("get", f"/api/v1/safeguards/organizations/{org}/agreements", None),
        ("post", f"/api/v1/safeguards/organizations/{org}/agreements", {"title": "t", "body": "b"}),
        ("post", f"/api/v1/safeguards/agreements/{w['template'].pk}/versions", {"body": "new"}),
        ("get", "/api/v1/safeguards/cases", None),
        ("get", f"/api/v1/safeguards/cases/{w['case'].pk}", None),
        ("post", f"/api/v1/safeguards/cases/{w['case'].pk}/investigate", {"version": 1}),
        (
            "post",
            f"/api/v1/safeguards/cases/{w['case'].pk}/decide",
            {
                "version": 1,
                "outcome": "substantiated",
                "public_summary": "x",
            },
        ),
        ("post", f"/api/v1/safeguards/cases/{w['case'].pk}/notes", {"note": "x"}),
        (
            "post",
            "/api/v1/safeguards/sanctions",
            {
                "organization": org,
                "kind": "warning",
                "reason": "x",
            },
        ),
        ("post", f"/api/v1/safeguards/sanctions/{w['sanction'].pk}/lift", {"reason": "x"}),
        ("get", "/api/v1/safeguards/risk", None),
    ]


def test_outsiders_are_refused_on_every_endpoint(client, world) -> None:
    own_lists = {"/api/v1/safeguards/cases", "/api/v1/safeguards/risk"}
    for who, outsider in world["outsiders"].items():
        client.force_login(outsider)
        for method, url, payload in endpoints(world):
            if payload is None:
                response = getattr(client, method)(url)
            else:
                response = client.post(url, payload, content_type=JSON)
            if who == "other region admin" and url in own_lists:
                assert response.status_code == 200 and response.json() == [], url
                continue
            assert response.status_code in (403, 404), (who, url, response.status_code)
    case = Case.objects.get()
    assert (case.version, case.status) == (1, "open")
    assert Sanction.objects.get().lifted_at is None
    assert world["org"].agreements.count() == 1


def test_the_reported_organisations_admin_cannot_read_cases(client, world) -> None:
    client.force_login(world["admin"])
    assert client.get("/api/v1/safeguards/cases").status_code == 403
    assert client.get(f"/api/v1/safeguards/cases/{world['case'].pk}").status_code == 403


def test_anonymous_calls_are_401_except_the_public_ones(client, world) -> None:
    for method, url, payload in endpoints(world):
        if payload is None:
            response = getattr(client, method)(url)
        else:
            response = client.post(url, payload, content_type=JSON)
        assert response.status_code == 401, url
    accept = f"/api/v1/safeguards/agreement-versions/{world['template'].versions.get().pk}/accept"
    assert client.post(accept, {}, content_type=JSON).status_code == 401
    assert (
        client.post("/api/v1/safeguards/agreements/required", {}, content_type=JSON).status_code
        == 401
    )
    assert client.get("/api/v1/safeguards/sanctions/public").status_code == 200


def test_only_volunteers_accept_agreements(client, world) -> None:
    version = world["template"].versions.get()
    client.force_login(world["outsiders"]["resident"])
    response = client.post(
        f"/api/v1/safeguards/agreement-versions/{version.pk}/accept", {}, content_type=JSON
    )
    assert response.status_code == 403
