"""Insurance as data: the cover question at the policy's edges, the uncovered report, incidents
and claims."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.translation import override

from tests.factories import make_user, make_volunteer
from tests.organizations.helpers import member, org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.organizations.models import Membership
from zhiyuan.organizations.services import membership_leave, team_create
from zhiyuan.safeguards import coverage, services
from zhiyuan.safeguards.models import ClaimStatus, CoverBasis, IncidentSeverity
from zhiyuan.safeguards.selectors import (
    Cover,
    NotCovered,
    UpcomingActivity,
    insurance_cover_for,
    insurance_members_uncovered,
    insurance_uncovered,
)

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


FIRST, LAST = date(2026, 4, 1), date(2026, 6, 30)


@pytest.fixture
def org(district):
    return org_with_admin(district)


def policy(org_admin, basis=CoverBasis.MEMBERS, types=(), number="P-1"):
    org, admin = org_admin
    return services.insurance_policy_create(
        organization=org,
        insurer="中国人寿",
        policy_number=number,
        starts_on=FIRST,
        ends_on=LAST,
        cover_death=Decimal("500000"),
        cover_disability=Decimal("300000"),
        cover_medical=Decimal("20000"),
        basis=basis,
        activity_types=types,
        actor=admin,
    )


class TestPolicyEdges:
    """An activity is covered when its first and last local days fall inside the period."""

    @pytest.fixture
    def covered(self, org, district):
        p = policy(org)
        volunteer = member(org[0], district, joined=at(date(2026, 1, 1), 9))
        return p, volunteer

    def ask(self, org, volunteer, start, end):
        with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
            return insurance_cover_for(volunteer, org[0], "general", start, end)

    def test_day_before_start_is_not_covered(self, org, covered) -> None:
        _, volunteer = covered
        day = FIRST - timedelta(days=1)
        with override("en"):
            answer = self.ask(org, volunteer, at(day, 9), at(day, 17))
        assert isinstance(answer, NotCovered)
        assert answer.reason == coverage.STARTS_LATER
        assert answer.message == (
            "Policy 中国人寿 P-1 starts on 2026-04-01, after the activity begins."
        )

    def test_first_day_is_covered(self, org, covered) -> None:
        p, volunteer = covered
        answer = self.ask(org, volunteer, at(FIRST, 0), at(FIRST, 23))
        assert answer == Cover(p)

    def test_last_day_is_covered(self, org, covered) -> None:
        p, volunteer = covered
        answer = self.ask(org, volunteer, at(LAST, 8), at(LAST, 23))
        assert isinstance(answer, Cover) and answer.policy == p

    def test_day_after_end_is_not_covered(self, org, covered) -> None:
        _, volunteer = covered
        day = LAST + timedelta(days=1)
        answer = self.ask(org, volunteer, at(day, 9), at(day, 12))
        assert (answer.reason, bool(answer)) == (coverage.ENDS_EARLIER, False)

    def test_an_activity_running_past_the_last_day_is_not_covered(self, org, covered) -> None:
        _, volunteer = covered
        answer = self.ask(org, volunteer, at(LAST, 20), at(LAST + timedelta(days=1), 2))
        assert answer.reason == coverage.ENDS_EARLIER

    def test_days_are_local_not_utc(self, org, covered) -> None:
        """07:30 in Beijing on the first day is still the previous day in UTC."""
        _, volunteer = covered
        answer = self.ask(org, volunteer, at(FIRST, 7), at(FIRST, 9))
        assert isinstance(answer, Cover)

    def test_a_cancelled_policy_covers_nobody(self, org, covered) -> None:
        p, volunteer = covered
        services.insurance_policy_cancel(policy=p, actor=org[1])
        answer = self.ask(org, volunteer, at(FIRST, 9), at(FIRST, 12))
        assert answer.reason == coverage.NO_POLICY


class TestWhoIsCovered:
    def test_named_person_versus_whole_organisation(self, org, district) -> None:
        named_policy = policy(org, basis=CoverBasis.NAMED, number="N-1")
        named = member(org[0], district)
        other = member(org[0], district)
        services.insured_person_add(policy=named_policy, user=named, actor=org[1])
        start, end = at(FIRST, 9), at(FIRST, 12)
        assert insurance_cover_for(named, org[0], "general", start, end) == Cover(named_policy)
        answer = insurance_cover_for(other, org[0], "general", start, end)
        assert answer.reason == coverage.NOT_NAMED
        whole = policy(org, basis=CoverBasis.MEMBERS, number="M-1")
        assert insurance_cover_for(other, org[0], "general", start, end) == Cover(whole)

    def test_a_non_member_is_not_covered_by_a_members_policy(self, org, district) -> None:
        policy(org)
        outsider = make_volunteer(district).user
        answer = insurance_cover_for(outsider, org[0], "general", at(FIRST, 9), at(FIRST, 10))
        assert answer.reason == coverage.NOT_MEMBER

    def test_a_member_who_left_before_the_activity_is_not_covered(self, org, district) -> None:
        policy(org)
        volunteer = member(org[0], district, joined=at(date(2026, 1, 1), 9))
        with time_machine.travel(at(date(2026, 4, 10), 9)):
            membership_leave(membership=Membership.objects.get(user=volunteer), actor=volunteer)
        with time_machine.travel(at(date(2026, 4, 20), 9)):
            before = insurance_cover_for(
                volunteer, org[0], "general", at(date(2026, 4, 5), 9), at(date(2026, 4, 5), 12)
            )
            after = insurance_cover_for(
                volunteer, org[0], "general", at(date(2026, 4, 25), 9), at(date(2026, 4, 25), 12)
            )
        assert isinstance(before, Cover)
        assert after.reason == coverage.NOT_MEMBER

    def test_activity_type_policies_cover_all_participants_of_those_types(
        self, org, district
    ) -> None:
        p = policy(org, basis=CoverBasis.PARTICIPANTS, types=["emergency"], number="T-1")
        anyone = make_volunteer(district).user
        start, end = at(FIRST, 9), at(FIRST, 18)
        assert insurance_cover_for(anyone, org[0], "emergency", start, end) == Cover(p)
        with override("en"):
            answer = insurance_cover_for(anyone, org[0], "elder_care", start, end)
        assert answer.reason == coverage.TYPE_NOT_COVERED
        assert "does not cover Elder care" in answer.message

    def test_a_parents_policy_covers_its_teams(self, org, district) -> None:
        parent, admin = org
        p = policy(org)
        team = team_create(parent=parent, name="一队", region=district, actor=admin)
        volunteer = member(team, district)
        assert insurance_cover_for(volunteer, team, "general", at(FIRST, 9), at(FIRST, 10)) == (
            Cover(p)
        )
        # A team's own policy does not cover the parent's activities.
        other = member(parent, district)
        team_policy = services.insurance_policy_create(
            organization=team,
            insurer="平安",
            policy_number="TEAM",
            starts_on=FIRST,
            ends_on=LAST,
            cover_death=Decimal(1),
            cover_disability=Decimal(1),
            cover_medical=Decimal(1),
            basis=CoverBasis.PARTICIPANTS,
            activity_types=["general"],
            actor=admin,
        )
        answer = insurance_cover_for(other, parent, "general", at(FIRST, 9), at(FIRST, 10))
        assert answer == Cover(p) and answer.policy != team_policy

    def test_the_highest_death_cover_wins_and_the_most_telling_miss_is_given(
        self, org, district
    ) -> None:
        volunteer = member(org[0], district)
        assert (
            insurance_cover_for(volunteer, org[0], "general", at(FIRST, 9), at(FIRST, 10)).reason
            == coverage.NO_POLICY
        )
        policy(org, basis=CoverBasis.NAMED, number="N")
        policy(org, basis=CoverBasis.MEMBERS, types=["medical"], number="M")
        answer = insurance_cover_for(volunteer, org[0], "general", at(FIRST, 9), at(FIRST, 10))
        assert answer.reason == coverage.TYPE_NOT_COVERED


class TestUncoveredReport:
    def test_each_activity_lists_who_is_not_covered(self, org, district) -> None:
        named_policy = policy(org, basis=CoverBasis.NAMED)
        ok = member(org[0], district)
        services.insured_person_add(policy=named_policy, user=ok, actor=org[1])
        missing = [member(org[0], district) for _ in range(3)]
        activities = [
            UpcomingActivity("a1", org[0], "general", at(FIRST, 9), at(FIRST, 12), [ok, *missing]),
            UpcomingActivity(
                "a2", org[0], "general", at(LAST, 9), at(LAST + timedelta(1), 9), [ok]
            ),
        ]
        first, second = insurance_uncovered(activities)
        assert first.covered == 1
        assert {u.pk for u, _ in first.uncovered} == {u.pk for u in missing}
        assert {why.reason for _, why in first.uncovered} == {coverage.NOT_NAMED}
        assert second.covered == 0 and second.uncovered[0][1].reason == coverage.ENDS_EARLIER

    def test_the_report_reads_a_fixed_number_of_queries(self, org, district) -> None:
        policy(org)

        def run(n: int) -> int:
            people = [member(org[0], district) for _ in range(n)]
            activity = UpcomingActivity("x", org[0], "general", at(FIRST, 9), at(FIRST, 10), people)
            with CaptureQueriesContext(connection) as queries:
                insurance_uncovered([activity])
            return len(queries)

        assert run(2) == run(20)

    def test_members_uncovered_for_a_period(self, org, district) -> None:
        named_policy = policy(org, basis=CoverBasis.NAMED)
        covered = member(org[0], district)
        services.insured_person_add(policy=named_policy, user=covered, actor=org[1])
        uncovered = member(org[0], district)
        checked, rows = insurance_members_uncovered(org[0], "general", FIRST, FIRST)
        assert checked == 3  # the admin is a member too
        assert {m.user_id for m, _ in rows} == {uncovered.pk, org[1].pk}


class TestPoliciesIncidentsClaims:
    def test_outsiders_cannot_record_policies(self, org, district) -> None:
        _, stranger = org_with_admin(district)
        with pytest.raises(PermissionDenied) as caught:
            policy((org[0], stranger))
        record_refusal(caught.value)
        assert AuditEvent.objects.filter(action="access.denied", actor=stranger).exists()

    def test_period_order_and_participant_types_are_checked(self, org) -> None:
        with pytest.raises(ValidationError) as caught:
            services.insurance_policy_create(
                organization=org[0],
                insurer="x",
                policy_number="y",
                starts_on=LAST,
                ends_on=FIRST,
                cover_death=Decimal(1),
                cover_disability=Decimal(1),
                cover_medical=Decimal(1),
                basis=CoverBasis.PARTICIPANTS,
                activity_types=[],
                actor=org[1],
            )
        assert set(caught.value.message_dict) == {"ends_on", "activity_types"}

    def test_incident_and_claim_against_the_policy(self, org, district) -> None:
        p = policy(org)
        volunteer = member(org[0], district)
        with time_machine.travel(at(date(2026, 5, 2), 12)):
            incident = services.incident_record(
                policy=p,
                occurred_at=at(date(2026, 5, 1), 10),
                activity_type="general",
                severity=IncidentSeverity.INJURY,
                description="扭伤脚踝",
                volunteer=volunteer,
                actor=org[1],
            )
            with pytest.raises(ValidationError):
                services.incident_record(
                    policy=p,
                    occurred_at=at(date(2026, 3, 1), 10),
                    activity_type="general",
                    severity=IncidentSeverity.MINOR,
                    description="x",
                    actor=org[1],
                )
        claim = services.claim_submit(
            incident=incident, amount_claimed=Decimal("800"), actor=org[1]
        )
        with pytest.raises(ValidationError):  # more than the medical cover
            services.claim_decide(
                claim=claim, status=ClaimStatus.PAID, amount_paid=Decimal("20001"), actor=org[1]
            )
        paid = services.claim_decide(
            claim=claim, status=ClaimStatus.PAID, amount_paid=Decimal("800"), actor=org[1]
        )
        assert paid.status == ClaimStatus.PAID
        with pytest.raises(ValidationError):
            services.claim_decide(claim=claim, status=ClaimStatus.DENIED, actor=org[1])
        assert AuditEvent.objects.filter(action="insurance.claim_decided").count() == 1

    def test_region_admins_do_not_manage_insurance(self, org, district) -> None:
        with pytest.raises(PermissionDenied):
            policy((org[0], make_user(Role.REGION_ADMIN, region=district)))


def test_pure_decision_without_a_database() -> None:
    facts = coverage.PolicyFacts(
        id=1,
        organization_id=10,
        starts_on=FIRST,
        ends_on=LAST,
        basis=coverage.NAMED,
        activity_types=(),
        named_user_ids=frozenset({7}),
    )
    question = coverage.Question(7, "general", FIRST, LAST, (10,))
    assert coverage.decide([facts], question) == (facts, None)
    assert coverage.decide([facts], coverage.Question(8, "general", FIRST, LAST, (10,)))[1] == (
        coverage.Miss(coverage.NOT_NAMED, 1)
    )
    # A policy of an unrelated organisation is not considered at all.
    assert coverage.decide([facts], coverage.Question(7, "general", FIRST, LAST, (11,)))[1] == (
        coverage.Miss(coverage.NO_POLICY)
    )
