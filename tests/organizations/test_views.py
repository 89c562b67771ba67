"""Organisation pages: registration, verification, members, calls — and outsiders refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override

from tests.factories import OrganizationFactory, make_user, make_volunteer
from tests.organizations.helpers import PDF, community, credit_code, member, org_with_admin, pdf
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations import services
from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
    OrganizationStatus,
    RecruitmentCall,
)
from zhiyuan.safeguards.services import sanction_impose

pytestmark = pytest.mark.django_db


def form_data(district, **overrides):
    data = {
        "name": "东城区阳光志愿者协会",
        "kind": "social_group",
        "credit_code": credit_code("51"),
        "legal_representative": "王建国",
        "contact_name": "李红",
        "contact_phone": "13911112222",
        "region": district.code,
        "service_fields": ["elder_care", "community"],
        "description": "",
        "certificate": pdf(),
    }
    data.update(overrides)
    return data


class TestRegistration:
    def test_register_then_land_on_the_registration(self, client, district) -> None:
        client.force_login(make_user(Role.RESIDENT, region=community(district)))
        response = client.post("/organisations/register/", form_data(district))
        org = Organization.objects.get()
        assert response.status_code == 302 and response.url == f"/organisations/{org.pk}/"
        page = client.get(response.url).content.decode()
        assert "东城区阳光志愿者协会" in page and "待审核" in page

    def test_a_bad_code_keeps_what_was_typed_and_says_why(self, client, district) -> None:
        client.force_login(make_user(Role.RESIDENT, region=district))
        with override("en"):
            response = client.post(
                "/organisations/register/",
                form_data(district, credit_code="91110000600037341L"),
                HTTP_ACCEPT_LANGUAGE="en",
            )
        page = response.content.decode()
        assert response.status_code == 200
        assert 'value="东城区阳光志愿者协会"' in page
        assert 'value="91110000600037341L"' in page
        assert "starts with 91" in page or "以 91 开头" in page
        assert not Organization.objects.exists()

    def test_the_registrant_sees_masked_contacts(self, client, district) -> None:
        resident = make_user(Role.RESIDENT, region=district)
        client.force_login(resident)
        client.post("/organisations/register/", form_data(district))
        org = Organization.objects.get()
        page = client.get(f"/organisations/{org.pk}/").content.decode()
        assert "139****2222" in page and "13911112222" not in page
        assert "王**" in page and "王建国" not in page

    def test_a_region_admin_sees_in_full_on_record(self, client, district) -> None:
        resident = make_user(Role.RESIDENT, region=district)
        org = services.organization_register(
            actor=resident,
            name="n",
            kind="social_group",
            credit_code=credit_code("51"),
            legal_representative="王建国",
            contact_name="李红",
            contact_phone="13911112222",
            region=district,
            service_fields=["elder_care"],
            certificate=pdf(),
        )
        admin = make_user(Role.REGION_ADMIN, region=district)
        client.force_login(admin)
        assert "13911112222" not in client.get(f"/organisations/{org.pk}/").content.decode()
        page = client.get(f"/organisations/{org.pk}/?full=1").content.decode()
        assert "13911112222" in page
        assert AuditEvent.objects.filter(action="pii.unmask", actor=admin).count() == 1

    def test_verification_queue_and_decisions(self, client, district, other_district) -> None:
        resident = make_user(Role.RESIDENT, region=district)
        client.force_login(resident)
        client.post("/organisations/register/", form_data(district), follow=True)
        client.post(
            "/organisations/register/",
            form_data(
                other_district, name="西城队", credit_code=credit_code("52"), kind="social_service"
            ),
            follow=True,
        )
        org = Organization.objects.get(region=district)
        admin = make_user(Role.REGION_ADMIN, region=district)
        client.force_login(admin)
        queue = client.get("/organisations/verification/").content.decode()
        assert "东城区阳光志愿者协会" in queue and "西城队" not in queue
        response = client.post(f"/organisations/{org.pk}/verify/")
        assert response.status_code == 302
        org.refresh_from_db()
        assert org.status == OrganizationStatus.VERIFIED

    def test_reject_with_reason_shown_to_the_registrant(self, client, district) -> None:
        resident = make_user(Role.RESIDENT, region=district)
        client.force_login(resident)
        client.post("/organisations/register/", form_data(district))
        org = Organization.objects.get()
        client.force_login(make_user(Role.REGION_ADMIN, region=district))
        client.post(f"/organisations/{org.pk}/reject/", {"reason": "证书与名称不符"})
        client.force_login(resident)
        assert "证书与名称不符" in client.get("/organisations/mine/").content.decode()
        page = client.get(f"/organisations/{org.pk}/edit/")
        assert page.status_code == 200 and "证书与名称不符" in page.content.decode()


class TestCertificate:
    def test_served_as_an_attachment_never_inline(self, client, district) -> None:
        resident = make_user(Role.RESIDENT, region=district)
        client.force_login(resident)
        client.post("/organisations/register/", form_data(district))
        org = Organization.objects.get()
        response = client.get(f"/organisations/{org.pk}/certificate/")
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert b"".join(response.streaming_content) == PDF
        assert AuditEvent.objects.filter(
            action="organization.certificate_read", actor=resident
        ).exists()


class TestRecruiting:
    def test_a_suspended_organisation_is_refused_on_the_page_and_it_is_audited(
        self, client, district
    ) -> None:
        org, admin = org_with_admin(district)
        region_admin = make_user(Role.REGION_ADMIN, region=district)
        sanction = sanction_impose(
            party=org,
            kind="suspension",
            reason="向服务对象收费",
            ends_at=timezone.now() + timedelta(days=30),
            actor=region_admin,
        )
        client.force_login(admin)
        end = timezone.localtime(sanction.ends_at).strftime("%Y-%m-%d %H:%M")
        page = client.get(f"/organisations/{org.pk}/calls/new/").content.decode()
        assert end in page and f"{sanction.pk}" in page
        response = client.post(
            f"/organisations/{org.pk}/calls/new/", {"title": "招募", "body": "陪伴老人"}
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert end in body and "向服务对象收费" in body
        assert not RecruitmentCall.objects.exists()
        event = AuditEvent.objects.get(action="organization.refused")
        assert event.actor == admin and event.detail["purpose"] == "publish"
        invite = client.post(
            f"/organisations/{org.pk}/members/",
            {"volunteer_number": make_volunteer(district).volunteer_number},
        )
        assert end in invite.content.decode()
        assert not MembershipRequest.objects.exists()
        assert AuditEvent.objects.filter(action="organization.refused").count() == 2

    def test_a_verified_organisation_publishes_and_volunteers_apply(self, client, district) -> None:
        org, admin = org_with_admin(district)
        client.force_login(admin)
        response = client.post(
            f"/organisations/{org.pk}/calls/new/",
            {"title": "周末助老", "body": "陪伴社区老人", "risks": "无特殊风险"},
        )
        assert response.status_code == 302
        volunteer = make_volunteer(district)
        client.force_login(volunteer.user)
        mine = client.get("/organisations/mine/").content.decode()
        assert "周末助老" in mine
        client.post(f"/organisations/{org.pk}/apply/", {"message": "我会做饭"})
        req = MembershipRequest.objects.get()
        client.force_login(admin)
        assert "我会做饭" in client.get(f"/organisations/{org.pk}/members/").content.decode()
        client.post(f"/organisations/requests/{req.pk}/accept/")
        assert Membership.objects.filter(user=volunteer.user, left_at=None).exists()

    def test_invite_accept_and_leave_from_the_pages(self, client, district) -> None:
        org, admin = org_with_admin(district)
        volunteer = make_volunteer(district)
        client.force_login(admin)
        client.post(
            f"/organisations/{org.pk}/members/",
            {"volunteer_number": volunteer.volunteer_number, "message": "欢迎"},
        )
        req = MembershipRequest.objects.get()
        client.force_login(volunteer.user)
        client.post(f"/organisations/requests/{req.pk}/accept/")
        m = Membership.objects.get(user=volunteer.user)
        client.post(f"/organisations/memberships/{m.pk}/leave/")
        m.refresh_from_db()
        assert m.left_at is not None
        page = client.get("/organisations/mine/").content.decode()
        assert org.name in page  # the history stays


@pytest.fixture
def world(district, other_district):
    org, admin = org_with_admin(district)
    volunteer = member(org, district)
    membership = Membership.objects.get(user=volunteer)
    req = MembershipRequest.objects.create(
        organization=org, user=make_volunteer(district).user, kind="application", created_by=admin
    )
    call = RecruitmentCall.objects.create(organization=org, title="t", body="b", published_by=admin)
    pending = OrganizationFactory(
        region=district, status=OrganizationStatus.PENDING, registered_by=admin
    )
    return {
        "org": org,
        "pending": pending,
        "membership": membership,
        "request": req,
        "call": call,
        "outsiders": {
            "other org admin": org_with_admin(other_district)[1],
            "volunteer": make_volunteer(district).user,
            "other region admin": make_user(Role.REGION_ADMIN, region=other_district),
        },
    }


def pages(w):
    org = w["org"].pk
    return [
        ("get", f"/organisations/{org}/"),
        ("get", f"/organisations/{org}/certificate/"),
        ("post", f"/organisations/{org}/certificate/upload/"),
        ("get", f"/organisations/{org}/members/"),
        ("get", f"/organisations/{org}/teams/new/"),
        ("get", f"/organisations/{org}/calls/new/"),
        ("post", f"/organisations/calls/{w['call'].pk}/close/"),
        ("post", f"/organisations/{w['pending'].pk}/verify/"),
        ("post", f"/organisations/{w['pending'].pk}/reject/"),
        ("post", f"/organisations/requests/{w['request'].pk}/accept/"),
        ("post", f"/organisations/requests/{w['request'].pk}/decline/"),
        ("post", f"/organisations/memberships/{w['membership'].pk}/leave/"),
        ("post", f"/organisations/memberships/{w['membership'].pk}/role/"),
    ]


def test_outsiders_are_refused_on_every_organisation_page(client, world) -> None:
    for who, outsider in world["outsiders"].items():
        client.force_login(outsider)
        for method, url in pages(world):
            status = getattr(client, method)(url).status_code
            assert status in (403, 404), (who, method, url, status)
        # Refusals are on record, even those raised inside a service's transaction.
        assert AuditEvent.objects.filter(action="access.denied", actor=outsider).exists(), who
    state = MembershipRequest.objects.get(pk=world["request"].pk)
    assert state.status == "pending"
    world["pending"].refresh_from_db()
    assert world["pending"].status == OrganizationStatus.PENDING


def test_people_without_the_role_cannot_open_the_queues_and_forms(client, world) -> None:
    client.force_login(world["outsiders"]["volunteer"])
    assert client.get("/organisations/verification/").status_code == 403
    client.force_login(world["outsiders"]["other org admin"])
    assert client.post(f"/organisations/{world['org'].pk}/apply/").status_code == 403
    assert not MembershipRequest.objects.filter(user=world["outsiders"]["other org admin"]).exists()
    client.force_login(make_user())
    assert client.get("/organisations/register/").status_code == 403
    assert client.get(f"/organisations/{world['pending'].pk}/edit/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, world) -> None:
    urls = [url for _, url in pages(world)] + [
        "/organisations/register/",
        "/organisations/mine/",
        "/organisations/verification/",
        f"/organisations/{world['pending'].pk}/edit/",
        f"/organisations/{world['org'].pk}/apply/",
    ]
    for url in urls:
        response = client.get(url) if "apply" not in url else client.post(url)
        assert response.status_code in (302, 405), url
        if response.status_code == 302:
            assert response.url.startswith("/accounts/login/"), url


def test_pages_carry_no_inline_script(client, district) -> None:
    org, admin = org_with_admin(district)
    client.force_login(admin)
    for url in (f"/organisations/{org.pk}/", f"/organisations/{org.pk}/members/"):
        page = client.get(url).content.decode()
        assert "<script>" not in page and "onclick=" not in page and "style=" not in page
