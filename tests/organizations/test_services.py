"""Registration, verification, the operate gate, teams, members and recruitment calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from django.utils.translation import override

from tests.factories import OrganizationFactory, make_user, make_volunteer
from tests.organizations.helpers import (
    PNG,
    community,
    credit_code,
    member,
    org_with_admin,
    pdf,
    registration,
)
from zhiyuan.accounts.models import RoleGrant
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import has_perm, record_refusal
from zhiyuan.organizations import services
from zhiyuan.organizations.models import (
    MemberRole,
    Membership,
    MembershipRequest,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    RequestStatus,
)
from zhiyuan.organizations.selectors import organization_can_operate, organization_tree
from zhiyuan.safeguards.services import sanction_impose

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user read again: role grants are cached on the object for one request."""
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def resident(district):
    return make_user(Role.RESIDENT, region=community(district))


@pytest.fixture
def region_admin(district):
    return make_user(Role.REGION_ADMIN, region=district)


class TestRegistration:
    def test_a_registration_waits_and_keeps_contacts_encrypted(self, district, resident) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        assert org.status == OrganizationStatus.PENDING
        assert org.registered_by == resident
        assert org.certificate_type == "application/pdf"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT contact_phone, legal_representative FROM organizations_organization "
                "WHERE id = %s",
                [org.pk],
            )
            phone, rep = cursor.fetchone()
        assert "13911112222" not in phone and "王建国" not in rep
        org.refresh_from_db()
        assert org.contact_phone == "13911112222"
        event = AuditEvent.objects.get(action="organization.registered")
        assert "13911112222" not in str(event.detail) and "王建国" not in str(event.detail)

    def test_a_bad_code_is_refused_with_the_reason(self, district, resident) -> None:
        with override("en"), pytest.raises(ValidationError) as caught:
            services.organization_register(
                actor=resident, **registration(district, credit_code="91110000600037341L")
            )
        assert (
            "starts with 91, which is an enterprise" in caught.value.message_dict["credit_code"][0]
        )
        assert not Organization.objects.exists()

    def test_a_registered_kind_must_give_a_code(self, district, resident) -> None:
        with pytest.raises(ValidationError) as caught:
            services.organization_register(actor=resident, **registration(district, credit_code=""))
        assert "credit_code" in caught.value.message_dict

    def test_a_code_is_registered_once(self, district, resident) -> None:
        services.organization_register(actor=resident, **registration(district))
        with pytest.raises(ValidationError) as caught:
            services.organization_register(actor=resident, **registration(district, name="另一个"))
        assert "credit_code" in caught.value.message_dict

    def test_a_grassroots_team_without_code_names_a_sponsor(self, district, resident) -> None:
        base = registration(
            district, kind=OrganizationKind.COMMUNITY_TEAM, credit_code="", certificate=None
        )
        with override("en"), pytest.raises(ValidationError) as caught:
            services.organization_register(actor=resident, **base)
        assert "sponsoring verified organisation or community" in str(
            caught.value.message_dict["sponsor"]
        )
        by_community = services.organization_register(
            actor=resident, **{**base, "sponsor_region": community(district)}
        )
        assert by_community.sponsor_region == community(district)
        sponsor = OrganizationFactory(region=district)
        by_org = services.organization_register(
            actor=resident, **{**base, "name": "二队", "sponsor": sponsor}
        )
        assert by_org.sponsor == sponsor

    def test_a_sponsor_must_be_in_good_standing(self, district, resident) -> None:
        pending = OrganizationFactory(region=district, status=OrganizationStatus.PENDING)
        base = registration(
            district, kind=OrganizationKind.COMMUNITY_TEAM, credit_code="", sponsor=pending
        )
        with pytest.raises(ValidationError) as caught:
            services.organization_register(actor=resident, **base)
        assert "sponsor" in caught.value.message_dict

    def test_uploads_are_checked_by_content_not_name(self, district, resident) -> None:
        script = SimpleUploadedFile("cert.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf")
        with override("en"), pytest.raises(ValidationError) as caught:
            services.organization_register(
                actor=resident, **registration(district, certificate=script)
            )
        assert "Only PDF, JPEG and PNG" in caught.value.message_dict["certificate"][0]
        big = SimpleUploadedFile("big.png", PNG + b"\x00" * (5 * 1024 * 1024), "image/png")
        with override("en"), pytest.raises(ValidationError) as caught:
            services.organization_register(
                actor=resident, **registration(district, certificate=big)
            )
        assert "larger than 5 MB" in caught.value.message_dict["certificate"][0]

    def test_stored_names_are_random_not_the_uploaders(self, district, resident) -> None:
        org = services.organization_register(
            actor=resident, **registration(district, certificate=pdf("../../etc/passwd.pdf"))
        )
        assert "passwd" not in org.certificate.name
        assert org.certificate.name.startswith("organizations/certificates/")
        assert org.certificate.name.endswith(".pdf")

    def test_people_without_a_role_cannot_register(self, district) -> None:
        nobody = make_user()
        with pytest.raises(PermissionDenied):
            services.organization_register(actor=nobody, **registration(district))

    def test_a_rejected_registration_is_corrected_and_waits_again(
        self, district, resident, region_admin
    ) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        services.organization_reject(organization=org, reason="证书模糊", actor=region_admin)
        org.refresh_from_db()
        assert (org.status, org.status_reason) == (OrganizationStatus.REJECTED, "证书模糊")
        services.organization_update_registration(
            organization=org, actor=resident, **registration(district, name="新名字")
        )
        org.refresh_from_db()
        assert (org.status, org.name) == (OrganizationStatus.PENDING, "新名字")
        stranger = make_user(Role.RESIDENT, region=district)
        with pytest.raises(PermissionDenied):
            services.organization_update_registration(
                organization=org, actor=stranger, **registration(district)
            )


class TestVerification:
    def test_verify_makes_the_registrant_admin_and_leader(
        self, district, resident, region_admin
    ) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        assert not has_perm(resident, "organization.manage", org)
        services.organization_verify(organization=org, actor=region_admin)
        org.refresh_from_db()
        assert org.status == OrganizationStatus.VERIFIED
        assert has_perm(fresh(resident), "organization.manage", org)
        assert Membership.objects.get(organization=org, user=resident).role == MemberRole.LEADER
        event = AuditEvent.objects.get(action="organization.verified")
        assert event.actor == region_admin
        assert event.detail == {"from": "pending", "to": "verified"}

    def test_each_state_change_is_audited(self, district, resident, region_admin) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        services.organization_verify(organization=org, actor=region_admin)
        sanction = sanction_impose(
            party=org,
            kind="suspension",
            reason="收费",
            ends_at=timezone.now() + timedelta(days=10),
            actor=region_admin,
        )
        from zhiyuan.safeguards.services import sanction_lift

        sanction_lift(sanction=sanction, reason="已整改", actor=region_admin)
        sanction_impose(party=org, kind="deregistration", reason="严重违规", actor=region_admin)
        actions = list(
            AuditEvent.objects.filter(object_type="organizations.organization", object_id=org.pk)
            .order_by("id")
            .values_list("action", flat=True)
        )
        assert actions == [
            "organization.registered",
            "organization.verified",
            "organization.suspended",
            "organization.reinstated",
            "organization.deregistered",
        ]

    def test_a_reason_is_required_to_reject(self, district, resident, region_admin) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        with pytest.raises(ValidationError):
            services.organization_reject(organization=org, reason="  ", actor=region_admin)

    def test_only_waiting_registrations_are_decided(self, district, resident, region_admin) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        services.organization_verify(organization=org, actor=region_admin)
        with pytest.raises(ValidationError):
            services.organization_verify(organization=org, actor=region_admin)
        with pytest.raises(ValidationError):
            services.organization_reject(organization=org, reason="x", actor=region_admin)

    def test_a_missing_certificate_blocks_verification(
        self, district, resident, region_admin
    ) -> None:
        org = services.organization_register(
            actor=resident, **registration(district, certificate=None)
        )
        with pytest.raises(ValidationError):
            services.organization_verify(organization=org, actor=region_admin)
        services.organization_certificate_attach(
            organization=org, certificate=pdf(), actor=resident
        )
        services.organization_verify(organization=org, actor=region_admin)

    def test_region_admins_of_other_areas_cannot_verify(
        self, district, other_district, resident
    ) -> None:
        org = services.organization_register(actor=resident, **registration(district))
        outsider = make_user(Role.REGION_ADMIN, region=other_district)
        with pytest.raises(PermissionDenied) as caught:
            services.organization_verify(organization=org, actor=outsider)
        # Inside a transaction the entry rides on the refusal; the request layer writes it.
        record_refusal(caught.value)
        assert AuditEvent.objects.filter(
            action="access.denied", actor=outsider, object_type="organization.verify"
        ).exists()


class TestGate:
    def test_only_verified_organisations_operate(self, district) -> None:
        with override("en"):
            pending = OrganizationFactory(region=district, status=OrganizationStatus.PENDING)
            assert organization_can_operate(pending).code == "unverified"
            rejected = OrganizationFactory(
                region=district, status=OrganizationStatus.REJECTED, status_reason="假证书"
            )
            refusal = organization_can_operate(rejected)
            assert refusal.code == "rejected" and "假证书" in refusal.message
            assert organization_can_operate(OrganizationFactory(region=district)) is None

    def test_a_suspension_names_itself_and_its_end(self, district, region_admin) -> None:
        org = OrganizationFactory(region=district, name="阳光队")
        with time_machine.travel("2026-03-01 09:00 +0800", tick=False):
            sanction = sanction_impose(
                party=org,
                kind="suspension",
                reason="向服务对象收费",
                ends_at=timezone.now() + timedelta(days=30),
                actor=region_admin,
            )
            with override("en"):
                refusal = organization_can_operate(org)
            assert refusal.code == "suspended"
            assert refusal.sanction_id == sanction.pk
            assert refusal.message == (
                f"阳光队 is suspended until 2026-03-31 09:00 "
                f"(sanction no. {sanction.pk}: 向服务对象收费)."
            )
        with time_machine.travel("2026-03-31 08:59 +0800", tick=False):
            assert organization_can_operate(org).code == "suspended"
        with time_machine.travel("2026-03-31 09:00 +0800", tick=False):
            # The end is honoured at once, before any status sync has run.
            org.refresh_from_db()
            assert org.status == OrganizationStatus.SUSPENDED
            assert organization_can_operate(org) is None

    def test_a_suspended_parent_stops_its_teams_at_any_depth(self, district, region_admin) -> None:
        parent, admin = org_with_admin(district)
        team = services.team_create(parent=parent, name="一队", region=district, actor=admin)
        sub = services.team_create(parent=team, name="一队一组", region=district, actor=admin)
        assert organization_can_operate(sub) is None
        sanction_impose(
            party=parent,
            kind="suspension",
            reason="r",
            ends_at=timezone.now() + timedelta(days=3),
            actor=region_admin,
        )
        refusal = organization_can_operate(sub)
        assert (refusal.code, refusal.organization_id) == ("suspended", parent.pk)

    def test_a_status_set_without_a_sanction_still_refuses(self, district) -> None:
        org = OrganizationFactory(region=district, status=OrganizationStatus.SUSPENDED)
        assert organization_can_operate(org).code == "suspended"
        gone = OrganizationFactory(region=district, status=OrganizationStatus.DEREGISTERED)
        assert organization_can_operate(gone).code == "deregistered"


class TestTeams:
    def test_teams_nest_to_any_depth_and_share_standing(self, district) -> None:
        parent, admin = org_with_admin(district)
        node = parent
        for depth in range(5):
            node = services.team_create(
                parent=node, name=f"队{depth}", region=district, actor=admin
            )
        assert node.status == OrganizationStatus.VERIFIED
        assert node.kind == parent.kind
        assert [d for d, _ in organization_tree(parent)] == [1, 2, 3, 4, 5]

    def test_a_team_serves_within_its_parents_area(self, district, other_district) -> None:
        parent, admin = org_with_admin(district)
        with pytest.raises(ValidationError):
            services.team_create(parent=parent, name="x", region=other_district, actor=admin)

    def test_other_organisations_admins_cannot_add_teams(self, district) -> None:
        parent, _ = org_with_admin(district)
        _, stranger = org_with_admin(district)
        with pytest.raises(PermissionDenied):
            services.team_create(parent=parent, name="x", region=district, actor=stranger)


class TestMembers:
    def test_apply_then_approve(self, district) -> None:
        org, admin = org_with_admin(district)
        volunteer = make_volunteer(district).user
        req = services.membership_apply(organization=org, user=volunteer, message="想参加")
        membership = services.membership_request_accept(membership_request=req, actor=admin)
        assert membership.role == MemberRole.MEMBER
        req.refresh_from_db()
        assert (req.status, req.decided_by) == (RequestStatus.ACCEPTED, admin)

    def test_a_volunteer_cannot_approve_their_own_application(self, district) -> None:
        org, _ = org_with_admin(district)
        volunteer = make_volunteer(district).user
        req = services.membership_apply(organization=org, user=volunteer)
        with pytest.raises(PermissionDenied):
            services.membership_request_accept(membership_request=req, actor=volunteer)

    def test_invite_then_accept_and_only_the_invited_answers(self, district) -> None:
        org, admin = org_with_admin(district)
        invited = make_volunteer(district).user
        other = make_volunteer(district).user
        req = services.membership_invite(organization=org, user=invited, actor=admin)
        with pytest.raises(PermissionDenied):
            services.membership_request_accept(membership_request=req, actor=other)
        services.membership_request_accept(membership_request=req, actor=invited)
        assert Membership.objects.filter(organization=org, user=invited, left_at=None).exists()

    def test_decline_and_withdraw(self, district) -> None:
        org, admin = org_with_admin(district)
        volunteer = make_volunteer(district).user
        req = services.membership_invite(organization=org, user=volunteer, actor=admin)
        assert (
            services.membership_request_decline(membership_request=req, actor=volunteer).status
            == RequestStatus.DECLINED
        )
        again = services.membership_invite(organization=org, user=volunteer, actor=admin)
        assert (
            services.membership_request_decline(membership_request=again, actor=admin).status
            == RequestStatus.WITHDRAWN
        )
        app = services.membership_apply(organization=org, user=volunteer)
        assert (
            services.membership_request_decline(membership_request=app, actor=volunteer).status
            == RequestStatus.WITHDRAWN
        )

    def test_one_waiting_request_per_person(self, district) -> None:
        org, admin = org_with_admin(district)
        volunteer = make_volunteer(district).user
        services.membership_apply(organization=org, user=volunteer)
        with pytest.raises(ValidationError):
            services.membership_invite(organization=org, user=volunteer, actor=admin)
        assert MembershipRequest.objects.count() == 1

    def test_several_organisations_and_leaving_keeps_history(self, district) -> None:
        first, admin1 = org_with_admin(district)
        second, admin2 = org_with_admin(district)
        volunteer = make_volunteer(district).user
        for org, admin in ((first, admin1), (second, admin2)):
            req = services.membership_invite(organization=org, user=volunteer, actor=admin)
            services.membership_request_accept(membership_request=req, actor=volunteer)
        assert Membership.objects.filter(user=volunteer, left_at=None).count() == 2
        m = Membership.objects.get(organization=first, user=volunteer)
        services.membership_leave(membership=m, actor=volunteer)
        m.refresh_from_db()
        assert m.left_at is not None
        # Rejoining makes a new row; the old one stays as history.
        req = services.membership_apply(organization=first, user=volunteer)
        services.membership_request_accept(membership_request=req, actor=admin1)
        assert Membership.objects.filter(organization=first, user=volunteer).count() == 2

    def test_a_leader_or_admin_holds_the_org_admin_role(self, district) -> None:
        org, admin = org_with_admin(district)
        volunteer = member(org, district)
        m = Membership.objects.get(organization=org, user=volunteer)
        services.membership_set_role(membership=m, role=MemberRole.ADMIN, actor=admin)
        assert has_perm(fresh(volunteer), "organization.manage", org)
        services.membership_set_role(membership=m, role=MemberRole.MEMBER, actor=admin)
        assert not has_perm(fresh(volunteer), "organization.manage", org)
        services.membership_set_role(membership=m, role=MemberRole.LEADER, actor=admin)
        services.membership_leave(membership=m, actor=admin)
        assert not RoleGrant.objects.filter(
            user=volunteer, organization=org, revoked_at__isnull=True
        ).exists()

    def test_a_parent_admin_manages_team_members(self, district) -> None:
        parent, admin = org_with_admin(district)
        team = services.team_create(parent=parent, name="t", region=district, actor=admin)
        volunteer = make_volunteer(district).user
        services.membership_invite(organization=team, user=volunteer, actor=admin)


class TestRecruitmentRefusals:
    def _suspend(self, org, region_admin):
        return sanction_impose(
            party=org,
            kind="suspension",
            reason="利用志愿服务营利",
            ends_at=timezone.now() + timedelta(days=60),
            actor=region_admin,
        )

    def test_a_suspended_organisation_cannot_publish_and_it_is_audited(
        self, district, region_admin
    ) -> None:
        org, admin = org_with_admin(district)
        sanction = self._suspend(org, region_admin)
        with override("en"), pytest.raises(services.OperationRefused) as caught:
            services.recruitment_call_publish(
                organization=org, title="招募", body="陪伴老人", actor=admin
            )
        record_refusal(caught.value)
        assert "is suspended until" in str(caught.value)
        assert f"sanction no. {sanction.pk}" in str(caught.value)
        event = AuditEvent.objects.get(action="organization.refused")
        assert (event.actor, event.result) == (admin, "denied")
        assert event.detail["purpose"] == "publish"
        assert event.detail["sanction"] == sanction.pk
        assert not org.recruitment_calls.exists()

    def test_a_suspended_organisation_cannot_recruit(self, district, region_admin) -> None:
        org, admin = org_with_admin(district)
        volunteer = make_volunteer(district).user
        app = services.membership_apply(organization=org, user=volunteer)
        self._suspend(org, region_admin)
        attempts = [
            lambda: services.membership_invite(
                organization=org, user=make_volunteer(district).user, actor=admin
            ),
            lambda: services.membership_request_accept(membership_request=app, actor=admin),
            lambda: services.membership_apply(organization=org, user=make_volunteer(district).user),
        ]
        for attempt in attempts:
            with pytest.raises(services.OperationRefused) as caught:
                attempt()
            record_refusal(caught.value)
        refused = AuditEvent.objects.filter(action="organization.refused")
        assert refused.count() == 3
        assert {e.detail["purpose"] for e in refused} == {"recruit"}

    def test_an_unverified_organisation_cannot_publish(self, district) -> None:
        org, admin = org_with_admin(district, status=OrganizationStatus.PENDING)
        with pytest.raises(services.OperationRefused) as caught:
            services.recruitment_call_publish(organization=org, title="t", body="b", actor=admin)
        assert caught.value.refusal.code == "unverified"

    def test_a_banned_volunteer_cannot_join(self, district, region_admin) -> None:
        org, _ = org_with_admin(district)
        volunteer = make_volunteer(district).user
        sanction_impose(party=volunteer, kind="ban", reason="伪造记录", actor=region_admin)
        with pytest.raises(services.OperationRefused) as caught:
            services.membership_apply(organization=org, user=volunteer)
        record_refusal(caught.value)
        assert caught.value.refusal.code == "banned"
        assert AuditEvent.objects.filter(action="volunteer.refused").exists()

    def test_a_verified_organisation_publishes(self, district) -> None:
        org, admin = org_with_admin(district)
        call = services.recruitment_call_publish(
            organization=org, title="招募", body="陪伴老人", risks="无", actor=admin
        )
        assert call.organization == org
        assert AuditEvent.objects.filter(action="recruitment.published").exists()

    def test_code_fixture_is_valid(self) -> None:
        assert credit_code("51")[:2] == "51"
