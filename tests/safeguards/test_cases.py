"""Complaints and reports (Art. 26): anyone reports, a region admin handles the case, the
reporter follows it by code, and two admins deciding at once do not both win."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils.translation import override

from tests.factories import make_user, make_volunteer
from tests.organizations.helpers import PDF, PNG, community, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import (
    Case,
    CaseAction,
    CaseCategory,
    CaseOutcome,
    CaseStatus,
    SubjectKind,
)
from zhiyuan.safeguards.selectors import case_find_by_code, follow_code_hash

pytestmark = pytest.mark.django_db


def report(org, **overrides):
    data = {
        "category": CaseCategory.CHARGING,
        "subject_kind": SubjectKind.ORGANIZATION,
        "organization": org,
        "description": "他们向老人每次收取20元服务费。",
        "amount_charged": Decimal("20"),
        "reporter_name": "匿名群众",
        "reporter_contact": "13722223333",
    }
    data.update(overrides)
    return services.case_submit(**data)


@pytest.fixture
def org(district):
    return org_with_admin(district)[0]


class TestSubmit:
    def test_anyone_reports_and_gets_a_code(self, org, district) -> None:
        admin = make_user(Role.REGION_ADMIN, region=district)
        submitted = report(org)
        case = submitted.case
        assert case.reference.startswith("C") and case.status == CaseStatus.OPEN
        assert case.assignee == admin
        assert (case.due_at - case.created_at).days == 15
        assert case.follow_code_hash == follow_code_hash(submitted.follow_code)
        assert case_find_by_code(submitted.follow_code.lower().replace("-", " ")) == case
        assert case.reporter is None  # not logged in

    def test_the_code_and_the_reporter_are_not_stored_in_clear(self, org) -> None:
        submitted = report(org)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT follow_code_hash, reporter_contact, reporter_name, description "
                "FROM safeguards_case"
            )
            row = " ".join(cursor.fetchone())
        assert submitted.follow_code.replace("-", "") not in row
        assert "13722223333" not in row and "匿名群众" not in row and "收取" not in row
        event = AuditEvent.objects.get(action="case.submitted")
        assert "13722223333" not in str(event.detail)

    def test_the_closest_region_admin_with_fewest_open_cases_is_assigned(
        self, org, district
    ) -> None:
        make_user(Role.REGION_ADMIN, region=district)
        street = district.children.order_by("code").first()
        busy = make_user(Role.REGION_ADMIN, region=street)
        idle = make_user(Role.REGION_ADMIN, region=street)
        here = community(district)
        first = report(None, subject_kind=SubjectKind.PERSON, subject_detail="某人", region=here)
        assert first.case.assignee in (busy, idle)
        second = report(None, subject_kind=SubjectKind.PERSON, subject_detail="某人", region=here)
        assert {first.case.assignee, second.case.assignee} == {busy, idle}

    def test_bad_input_is_refused_field_by_field(self) -> None:
        with pytest.raises(ValidationError) as caught:
            services.case_submit(
                category="bribery", subject_kind=SubjectKind.ORGANIZATION, description="short"
            )
        assert {"category", "organization", "region", "description"} <= set(
            caught.value.message_dict
        )

    def test_evidence_is_checked_and_stored_under_random_names(self, org) -> None:
        files = [
            SimpleUploadedFile("收据 照片.png", PNG, "image/png"),
            SimpleUploadedFile("a.pdf", PDF, "application/pdf"),
        ]
        case = report(org, evidence=files).case
        stored = list(case.evidence.order_by("pk"))
        assert [e.content_type for e in stored] == ["image/png", "application/pdf"]
        assert all("收据" not in e.file.name for e in stored)
        assert stored[0].original_name == "收据 照片.png"
        evil = SimpleUploadedFile("x.png", b"<script>alert(1)</script>", "image/png")
        with override("en"), pytest.raises(ValidationError) as caught:
            report(org, evidence=[evil])
        assert "Only PDF, JPEG and PNG" in caught.value.message_dict["evidence"][0]
        too_many = [SimpleUploadedFile(f"{i}.png", PNG, "image/png") for i in range(6)]
        with pytest.raises(ValidationError):
            report(org, evidence=too_many)

    def test_only_charging_keeps_an_amount(self, org) -> None:
        case = report(org, category=CaseCategory.HARASSMENT).case
        assert case.amount_charged is None


class TestHandling:
    @pytest.fixture
    def admins(self, district):
        return (
            make_user(Role.REGION_ADMIN, region=district),
            make_user(Role.REGION_ADMIN, region=district),
        )

    def test_investigate_decide_and_the_reporter_reads_it(self, org, admins) -> None:
        submitted = report(org)
        case = services.case_start_investigation(
            case=submitted.case, expected_version=1, actor=admins[0]
        )
        services.case_note_add(case=case, note="电话核实了两位老人", actor=admins[0])
        case = services.case_decide(
            case=case,
            expected_version=case.version,
            outcome=CaseOutcome.SUBSTANTIATED,
            public_summary="经核实，收费属实，已责令退还。",
            actor=admins[0],
        )
        assert (case.status, case.decided_by) == (CaseStatus.DECIDED, admins[0])
        public = list(
            case.actions.filter(visible_to_reporter=True).values_list("public_note", flat=True)
        )
        assert public[-1] == "经核实，收费属实，已责令退还。"
        # The internal note never reaches the reporter's view.
        assert not any("电话核实" in note for note in public)
        assert CaseAction.objects.get(kind="note").note == "电话核实了两位老人"

    def test_a_stale_decision_is_refused_and_says_who_decided(self, org, admins) -> None:
        case = report(org).case
        services.case_decide(
            case=case,
            expected_version=1,
            outcome=CaseOutcome.UNSUBSTANTIATED,
            public_summary="查无实据。",
            actor=admins[0],
        )
        with override("en"), pytest.raises(services.CaseConflict) as caught:
            services.case_decide(
                case=case,
                expected_version=1,
                outcome=CaseOutcome.SUBSTANTIATED,
                public_summary="属实。",
                actor=admins[1],
            )
        assert "Someone else decided this case first (Not substantiated" in caught.value.messages[0]
        case.refresh_from_db()
        assert (case.outcome, case.decided_by, case.version) == (
            CaseOutcome.UNSUBSTANTIATED,
            admins[0],
            2,
        )
        refused = AuditEvent.objects.get(action="case.conflict")
        assert (refused.actor, refused.result) == (admins[1], "denied")

    def test_admins_outside_the_area_cannot_touch_the_case(self, org, other_district) -> None:
        case = report(org).case
        outsider = make_user(Role.REGION_ADMIN, region=other_district)
        with pytest.raises(PermissionDenied) as caught:
            services.case_decide(
                case=case,
                expected_version=1,
                outcome=CaseOutcome.SUBSTANTIATED,
                public_summary="x",
                actor=outsider,
            )
        record_refusal(caught.value)
        assert AuditEvent.objects.filter(actor=outsider, action="access.denied").exists()

    def test_the_reported_organisations_admin_has_no_access(self, district) -> None:
        org, org_admin = org_with_admin(district)
        case = report(org).case
        with pytest.raises(PermissionDenied):
            services.case_note_add(case=case, note="x", actor=org_admin)

    def test_assignment_goes_to_an_admin_of_the_place_only(
        self, org, admins, other_district
    ) -> None:
        case = report(org).case
        outsider = make_user(Role.REGION_ADMIN, region=other_district)
        with pytest.raises(ValidationError):
            services.case_assign(case=case, assignee=outsider, expected_version=1, actor=admins[0])
        case = services.case_assign(
            case=case, assignee=admins[1], expected_version=1, actor=admins[0]
        )
        assert case.assignee == admins[1]

    def test_a_reported_volunteer_can_be_sanctioned_from_the_case(self, district, admins) -> None:
        volunteer = make_volunteer(district).user
        case = report(
            None,
            category=CaseCategory.HARASSMENT,
            subject_kind=SubjectKind.PERSON,
            reported_user=volunteer,
            region=community(district),
        ).case
        sanction = services.sanction_impose(
            party=volunteer, kind="ban", reason="骚扰服务对象", case=case, actor=admins[0]
        )
        assert sanction.case == case and sanction.ends_at is None
        assert case.actions.filter(kind="sanction", visible_to_reporter=True).exists()


def test_case_statuses_are_ordered_for_the_queue(org, district) -> None:
    admin = make_user(Role.REGION_ADMIN, region=district)
    first = report(org).case
    report(org)
    services.case_decide(
        case=first,
        expected_version=1,
        outcome=CaseOutcome.REFERRED,
        public_summary="已移交民政部门。",
        actor=admin,
    )
    from zhiyuan.safeguards.selectors import case_list_for_admin

    assert case_list_for_admin([district.code], "open").count() == 1
    assert case_list_for_admin([district.code], "all").count() == 2
    assert Case.objects.filter(status="decided").count() == 1
