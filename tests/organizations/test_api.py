"""Organisations API: registration, verification, the gate, members, calls, and outsiders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.translation import override

from tests.factories import OrganizationFactory, make_user, make_volunteer
from tests.organizations.helpers import PDF, credit_code, member, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
    OrganizationStatus,
    RecruitmentCall,
)
from zhiyuan.safeguards.services import sanction_impose

pytestmark = pytest.mark.django_db
JSON = "application/json"


def registration(district, **overrides):
    data = {
        "name": "东城区志愿者协会",
        "kind": "social_group",
        "credit_code": credit_code("51"),
        "legal_representative": "王建国",
        "contact_name": "李红",
        "contact_phone": "13911112222",
        "region": district.code,
        "service_fields": ["elder_care"],
    }
    data.update(overrides)
    return data


def test_register_upload_verify_over_the_api(client, district) -> None:
    resident = make_user(Role.RESIDENT, region=district)
    client.force_login(resident)
    response = client.post("/api/v1/organizations", registration(district), content_type=JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["contact_phone"] == "139****2222" and body["legal_representative"] == "王**"
    org_id = body["id"]
    upload = client.post(
        f"/api/v1/organizations/{org_id}/certificate",
        {"file": SimpleUploadedFile("c.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 200 and upload.json()["has_certificate"]
    operate = client.get(f"/api/v1/organizations/{org_id}/operate").json()
    assert (operate["allowed"], operate["code"]) == (False, "unverified")
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    verified = client.post(f"/api/v1/organizations/{org_id}/verify")
    assert verified.json()["status"] == "verified"
    assert client.get(f"/api/v1/organizations/{org_id}/operate").json()["allowed"] is True


def test_a_bad_code_is_422_with_the_reason(client, district) -> None:
    client.force_login(make_user(Role.RESIDENT, region=district))
    with override("en"):
        response = client.post(
            "/api/v1/organizations",
            registration(district, credit_code="91110000600037341N"),
            content_type=JSON,
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert not Organization.objects.exists()


def test_a_suspended_organisation_cannot_publish_or_recruit_over_the_api(client, district) -> None:
    org, admin = org_with_admin(district)
    region_admin = make_user(Role.REGION_ADMIN, region=district)
    sanction = sanction_impose(
        party=org,
        kind="suspension",
        reason="利用志愿服务营利",
        ends_at=timezone.now() + timedelta(days=30),
        actor=region_admin,
    )
    client.force_login(admin)
    response = client.post(
        f"/api/v1/organizations/{org.pk}/calls",
        {"title": "招募", "body": "陪伴老人"},
        content_type=JSON,
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "organization_suspended"
    assert timezone.localtime(sanction.ends_at).strftime("%Y-%m-%d %H:%M") in body["message"]
    assert f"{sanction.pk}" in body["message"]
    volunteer = make_volunteer(district)
    invite = client.post(
        f"/api/v1/organizations/{org.pk}/invitations",
        {"volunteer_number": volunteer.volunteer_number},
        content_type=JSON,
    )
    assert invite.status_code == 403 and invite.json()["code"] == "organization_suspended"
    assert not RecruitmentCall.objects.exists() and not MembershipRequest.objects.exists()
    refused = AuditEvent.objects.filter(action="organization.refused", actor=admin)
    assert sorted(e.detail["purpose"] for e in refused) == ["publish", "recruit"]
    operate = client.get(f"/api/v1/organizations/{org.pk}/operate").json()
    assert operate["code"] == "suspended" and operate["sanction"] == sanction.pk


def test_members_flow_over_the_api(client, district) -> None:
    org, admin = org_with_admin(district)
    volunteer = make_volunteer(district)
    client.force_login(admin)
    published = client.post(
        f"/api/v1/organizations/{org.pk}/calls",
        {"title": "招募", "body": "陪伴老人", "risks": "无"},
        content_type=JSON,
    )
    assert published.status_code == 201
    client.force_login(volunteer.user)
    calls = client.get("/api/v1/organizations/calls").json()
    assert [c["title"] for c in calls] == ["招募"]
    applied = client.post(
        f"/api/v1/organizations/{org.pk}/applications", {"message": "hi"}, content_type=JSON
    )
    assert applied.status_code == 201
    client.force_login(admin)
    accepted = client.post(f"/api/v1/organizations/requests/{applied.json()['id']}/accept")
    assert accepted.status_code == 200
    members = client.get(f"/api/v1/organizations/{org.pk}/members").json()
    assert volunteer.user.pk in [m["user"] for m in members]
    m_id = accepted.json()["id"]
    role = client.post(
        f"/api/v1/organizations/memberships/{m_id}/role", {"role": "admin"}, content_type=JSON
    )
    assert role.json()["role"] == "admin"
    client.force_login(volunteer.user)
    left = client.post(f"/api/v1/organizations/memberships/{m_id}/leave")
    assert left.json()["left_at"] is not None
    team = None
    client.force_login(admin)
    team = client.post(
        f"/api/v1/organizations/{org.pk}/teams",
        {"name": "一队", "region": district.code},
        content_type=JSON,
    )
    assert team.status_code == 201 and team.json()["parent"] == org.pk


@pytest.fixture
def world(district, other_district):
    org, admin = org_with_admin(district)
    pending = OrganizationFactory(region=district, status=OrganizationStatus.PENDING)
    volunteer = member(org, district)
    membership = Membership.objects.get(user=volunteer)
    req = MembershipRequest.objects.create(
        organization=org, user=make_volunteer(district).user, kind="application", created_by=admin
    )
    return {
        "org": org,
        "pending": pending,
        "membership": membership,
        "request": req,
        "outsiders": {
            "other org admin": org_with_admin(other_district)[1],
            "volunteer": make_volunteer(district).user,
            "other region admin": make_user(Role.REGION_ADMIN, region=other_district),
        },
    }


def endpoints(w):
    org = w["org"].pk
    return [
        ("get", f"/api/v1/organizations/{org}", None),
        ("get", f"/api/v1/organizations/{org}/operate", None),
        ("post", f"/api/v1/organizations/{org}/certificate", None),
        ("post", f"/api/v1/organizations/{w['pending'].pk}/verify", None),
        ("post", f"/api/v1/organizations/{w['pending'].pk}/reject", {"reason": "x"}),
        ("post", f"/api/v1/organizations/{org}/teams", {"name": "x", "region": "110101000000"}),
        ("get", f"/api/v1/organizations/{org}/members", None),
        ("post", f"/api/v1/organizations/{org}/invitations", {"volunteer_number": "1"}),
        ("post", f"/api/v1/organizations/{org}/calls", {"title": "t", "body": "b"}),
        ("post", f"/api/v1/organizations/requests/{w['request'].pk}/accept", None),
        ("post", f"/api/v1/organizations/requests/{w['request'].pk}/decline", None),
        ("post", f"/api/v1/organizations/memberships/{w['membership'].pk}/leave", None),
        ("post", f"/api/v1/organizations/memberships/{w['membership'].pk}/role", {"role": "admin"}),
    ]


def test_outsiders_are_refused_on_every_endpoint(client, world) -> None:
    for who, outsider in world["outsiders"].items():
        client.force_login(outsider)
        for method, url, payload in endpoints(world):
            if url.endswith("/certificate"):
                response = client.post(
                    url, {"file": SimpleUploadedFile("c.pdf", PDF, "application/pdf")}
                )
            elif payload is None:
                response = getattr(client, method)(url)
            else:
                response = getattr(client, method)(url, payload, content_type=JSON)
            assert response.status_code in (403, 404), (who, url, response.status_code)
    assert MembershipRequest.objects.get().status == "pending"
    assert Membership.objects.get(pk=world["membership"].pk).left_at is None


def test_registering_and_applying_need_the_role(client, world, district) -> None:
    client.force_login(make_user())
    assert (
        client.post("/api/v1/organizations", registration(district), content_type=JSON).status_code
        == 403
    )
    assert client.get("/api/v1/organizations/calls").status_code == 403
    client.force_login(world["outsiders"]["other org admin"])
    response = client.post(
        f"/api/v1/organizations/{world['org'].pk}/applications", {}, content_type=JSON
    )
    assert response.status_code == 403


def test_anonymous_calls_are_401(client, world) -> None:
    for method, url, payload in endpoints(world):
        response = (
            getattr(client, method)(url)
            if payload is None
            else client.post(url, payload, content_type=JSON)
        )
        assert response.status_code == 401, url
    assert client.post("/api/v1/organizations", {}, content_type=JSON).status_code == 401
    assert client.get("/api/v1/organizations/calls").status_code == 401
