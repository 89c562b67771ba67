"""The need's services: posting, the lifecycle, who may do what, and what each step leaves."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from tests.factories import OrganizationFactory, make_user
from tests.needs.conftest import make_profile
from tests.needs.helpers import snapshot
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.needs import selectors, services
from zhiyuan.needs.models import (
    AssignmentState,
    NeedAssignment,
    NeedEvent,
    NeedRating,
    ProxyRelation,
    RecordStatus,
    Urgency,
)
from zhiyuan.needs.states import IllegalTransition, NeedState
from zhiyuan.notifications.models import Notification
from zhiyuan.organizations.models import Membership, OrganizationStatus
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.people.models import NoticeKind, Qualification, QualificationKind
from zhiyuan.people.services import consent_give

pytestmark = pytest.mark.django_db
START = "2026-03-02 09:00 +0800"


def dispatched(world, volunteers=None, **kw):
    need = world.need(**kw)
    services.need_dispatch(
        need=need, actor=world.dispatcher, volunteers=volunteers or world.volunteers[:2]
    )
    need.refresh_from_db()
    return need


class TestPosting:
    def test_a_resident_posts_in_a_few_fields(self, world) -> None:
        need = world.need()
        assert need.state == NeedState.SUBMITTED
        assert need.beneficiary == world.resident and need.proxy_relation == ProxyRelation.SELF
        assert need.contact_phone == world.resident.phone  # the account's number by default
        assert need.review_due_at is not None
        event = NeedEvent.objects.get(need=need)
        assert (event.action, event.to_state, event.actor) == (
            "submit",
            "submitted",
            world.resident,
        )
        assert AuditEvent.objects.filter(action="need.submitted", object_id=str(need.pk)).exists()
        # The dispatchers of the area are told.
        assert Notification.objects.filter(user=world.dispatcher, kind="need.submitted").exists()

    def test_personal_data_is_stored_encrypted(self, world) -> None:
        from django.db import connection

        need = world.need()
        with connection.cursor() as cursor:
            cursor.execute("SELECT address, contact_phone FROM needs_need WHERE id = %s", [need.pk])
            address, phone = cursor.fetchone()
        assert "301" not in address and world.resident.phone not in phone

    def test_posting_for_an_offline_elder_records_who_posted_for_whom(self, world) -> None:
        need = world.need(
            poster=world.dispatcher,
            use_my_phone=False,
            for_someone_else=True,
            beneficiary_name="赵桂芬",
            beneficiary_phone="010-64012345",
            proxy_relation=ProxyRelation.COMMUNITY_WORKER,
        )
        assert need.posted_by == world.dispatcher and need.beneficiary is None
        assert need.proxy_relation == ProxyRelation.COMMUNITY_WORKER and need.is_proxy
        assert need.beneficiary_name == "赵桂芬" and need.contact_phone == "01064012345"

    def test_a_relative_posting_for_an_account_holder_lets_them_follow(self, world) -> None:
        grandma = make_user(Role.RESIDENT, region=world.community, name="李奶奶")
        need = world.need(
            for_someone_else=True,
            beneficiary_name="李奶奶",
            beneficiary_phone=grandma.phone,
            proxy_relation=ProxyRelation.RELATIVE,
        )
        assert need.beneficiary == grandma
        assert Notification.objects.filter(user=grandma, kind="need.posted_for_you").exists()
        assert selectors.need_can_view(grandma, need)

    def test_no_way_to_reach_the_person_is_refused_saying_what_is_missing(self, world) -> None:
        before = snapshot()
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            world.need(address="", use_my_phone=False)
        assert "no way to reach the person" in caught.value.message_dict["contact_phone"][0]
        assert snapshot() == before

    def test_every_problem_is_reported_at_once(self, world) -> None:
        with pytest.raises(ValidationError) as caught:
            world.need(description=" ", urgency="whenever", people_needed=0, for_someone_else=True)
        assert set(caught.value.message_dict) >= {
            "description",
            "urgency",
            "people_needed",
            "proxy_relation",
            "beneficiary_name",
        }

    def test_health_details_need_the_sensitive_data_consent(self, world) -> None:
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            world.need(health_details="糖尿病，需要低糖饮食")
        assert "consent" in caught.value.message_dict["health_details"][0]
        consent_give(user=world.resident, kind=NoticeKind.SENSITIVE_HEALTH)
        need = world.need(health_details="糖尿病，需要低糖饮食")
        assert need.health_details == "糖尿病，需要低糖饮食"

    def test_outside_ones_area_is_refused(self, world) -> None:
        before = snapshot()
        with pytest.raises(PermissionDenied) as caught:
            world.need(poster=world.outsider)  # the outsider lives in another street
        record_refusal(caught.value)  # what the request layer does once the transaction is gone
        assert AuditEvent.objects.filter(action="access.denied", object_type="need.post").exists()
        assert snapshot() == before

    def test_a_time_window_in_the_past_is_refused(self, world) -> None:
        with pytest.raises(ValidationError) as caught:
            world.need(window_start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        assert "window_start" in caught.value.message_dict

    def test_nothing_asks_for_money(self, world) -> None:
        from zhiyuan.needs.forms import NeedForm
        from zhiyuan.needs.models import Need

        fields = {f.name for f in Need._meta.get_fields()} | set(NeedForm.base_fields)
        assert not any(
            word in name for name in fields for word in ("price", "fee", "amount", "pay")
        )


class TestLifecycle:
    def test_the_whole_loop_by_a_team_makes_a_service_record(self, world) -> None:
        from zhiyuan.records.models import ServiceRecord
        from zhiyuan.records.selectors import hours_summary

        member = world.volunteers[2]  # a member of world.team
        with time_machine.travel(START, tick=False) as clock:
            need = world.need()
            services.need_review(need=need, actor=world.dispatcher)
            services.need_dispatch(need=need, actor=world.dispatcher, organization=world.team)
            services.need_accept(need=need, volunteer=member)
            services.need_start(need=need, volunteer=member, lat=39.925, lng=116.417)
            clock.shift(dt.timedelta(minutes=90))
            services.need_complete(need=need, volunteer=member, note="菜已送到")
            need.refresh_from_db()
            assert need.state == NeedState.COMPLETED
            part = NeedAssignment.objects.get(need=need, volunteer=member)
            assert part.record_status == RecordStatus.CREATED
            record = ServiceRecord.objects.get(pk=part.record_id)
            assert (record.source, record.volunteer, record.organization) == (
                f"need:{need.pk}:{member.pk}",
                member,
                world.team,
            )
            assert record.minutes == 90
            assert hours_summary(member).pending_minutes == 90
            services.need_rate(need=need, actor=world.resident, score=5, tags=["kind", "on_time"])
        need.refresh_from_db()
        assert need.state == NeedState.RATED
        actions = list(NeedEvent.objects.filter(need=need).values_list("action", flat=True))
        assert actions == [
            "submit",
            "review",
            "dispatch",
            "accept",
            "start",
            "finish",
            "complete",
            "rate",
        ]
        states = [(e.from_state, e.to_state) for e in NeedEvent.objects.filter(need=need)]
        assert all(prev[1] == cur[0] for prev, cur in itertools.pairwise(states))

    def test_rejection_shows_its_reason_to_the_resident(self, world) -> None:
        need = world.need()
        services.need_reject(need=need, actor=world.dispatcher, reason="请拨打街道法律服务站电话")
        need.refresh_from_db()
        assert need.state == NeedState.REJECTED and need.reason == "请拨打街道法律服务站电话"
        note = Notification.objects.get(user=world.resident, kind="need.rejected")
        assert "请拨打街道法律服务站电话" in note.body

    def test_rejecting_needs_a_reason(self, world) -> None:
        need = world.need()
        before = snapshot()
        with pytest.raises(ValidationError):
            services.need_reject(need=need, actor=world.dispatcher, reason=" ")
        assert snapshot() == before

    @pytest.mark.parametrize(
        ("setup", "act"),
        [
            ("cancelled", "accept"),
            ("rated", "rate"),
            ("submitted", "start"),
            ("completed", "cancel"),
        ],
    )
    def test_illegal_transitions_are_refused_and_change_nothing(self, world, setup, act) -> None:
        volunteer = world.volunteers[0]
        with time_machine.travel(START, tick=False) as clock:
            need = world.need()
            if setup != "submitted":
                services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
            if setup == "cancelled":
                services.need_cancel(need=need, actor=world.resident)
            if setup in ("completed", "rated"):
                services.need_accept(need=need, volunteer=volunteer)
                services.need_start(need=need, volunteer=volunteer)
                clock.shift(600)
                services.need_complete(need=need, volunteer=volunteer, note="好了")
            if setup == "rated":
                services.need_rate(need=need, actor=world.resident, score=4)
        before = snapshot()
        calls = {
            "accept": lambda: services.need_accept(need=need, volunteer=volunteer),
            "rate": lambda: services.need_rate(need=need, actor=world.resident, score=1),
            "start": lambda: services.need_start(need=need, volunteer=volunteer),
            "cancel": lambda: services.need_cancel(need=need, actor=world.resident),
        }
        with pytest.raises(IllegalTransition):
            calls[act]()
        assert snapshot() == before

    def test_a_volunteer_cannot_accept_a_need_not_offered_to_them(self, world) -> None:
        need = dispatched(world, volunteers=[world.volunteers[0]])
        before = snapshot()
        with translation.override("en"), pytest.raises(IllegalTransition) as caught:
            services.need_accept(need=need, volunteer=world.volunteers[1])
        assert caught.value.code == "not_offered" and "not offered to you" in caught.value.message
        assert snapshot() == before

    def test_the_last_place_taken_withdraws_the_other_offers(self, world) -> None:
        need = dispatched(world, volunteers=world.volunteers[:2])
        services.need_accept(need=need, volunteer=world.volunteers[0])
        other = NeedAssignment.objects.get(need=need, volunteer=world.volunteers[1])
        assert other.state == AssignmentState.WITHDRAWN
        with pytest.raises(IllegalTransition):
            services.need_accept(need=need, volunteer=world.volunteers[1])
        assert Notification.objects.filter(
            user=world.volunteers[1], kind="need.offer_withdrawn"
        ).exists()

    def test_several_places_are_filled_one_by_one(self, world) -> None:
        need = dispatched(world, volunteers=world.volunteers[:3], people_needed=2)
        services.need_accept(need=need, volunteer=world.volunteers[0])
        services.need_accept(need=need, volunteer=world.volunteers[1])
        with pytest.raises(IllegalTransition) as caught:
            services.need_accept(need=need, volunteer=world.volunteers[2])
        assert caught.value.code in ("full", "not_offered")
        assert selectors.holding_count(need) == 2

    def test_all_declining_returns_the_need_and_alerts_the_dispatcher(self, world) -> None:
        need = dispatched(world, volunteers=world.volunteers[:2])
        services.need_decline(need=need, volunteer=world.volunteers[0], reason="今天在外地")
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED
        services.need_decline(need=need, volunteer=world.volunteers[1], reason="身体不适")
        need.refresh_from_db()
        assert need.state == NeedState.RETURNED and need.review_due_at is not None
        alert = Notification.objects.get(user=world.dispatcher, kind="need.returned")
        assert alert.urgent

    def test_declining_needs_a_reason(self, world) -> None:
        need = dispatched(world)
        with pytest.raises(ValidationError):
            services.need_decline(need=need, volunteer=world.volunteers[0], reason="")

    def test_a_volunteer_who_gives_up_returns_the_need(self, world) -> None:
        need = dispatched(world, volunteers=[world.volunteers[0]])
        services.need_accept(need=need, volunteer=world.volunteers[0])
        services.need_withdraw(need=need, volunteer=world.volunteers[0], reason="临时加班")
        need.refresh_from_db()
        assert need.state == NeedState.RETURNED
        assert NeedAssignment.objects.get(need=need).state == AssignmentState.DROPPED
        # Re-dispatch to someone else.
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[world.volunteers[1]])
        services.need_accept(need=need, volunteer=world.volunteers[1])
        need.refresh_from_db()
        assert need.state == NeedState.ACCEPTED

    def test_the_dispatcher_can_return_and_cancel_with_a_reason(self, world) -> None:
        need = dispatched(world)
        services.need_return(need=need, actor=world.dispatcher, reason="改派给专业团队")
        need.refresh_from_db()
        assert need.state == NeedState.RETURNED
        assert not NeedAssignment.objects.filter(need=need, state=AssignmentState.OFFERED).exists()
        with pytest.raises(ValidationError):
            services.need_cancel(need=need, actor=world.dispatcher, reason="")
        services.need_cancel(need=need, actor=world.dispatcher, reason="居民已自行解决")
        need.refresh_from_db()
        assert need.state == NeedState.CANCELLED
        assert Notification.objects.filter(user=world.resident, kind="need.cancelled").exists()

    def test_only_the_resident_or_the_proxy_rates(self, world) -> None:
        volunteer = world.volunteers[0]
        with time_machine.travel(START, tick=False) as clock:
            need = dispatched(world, volunteers=[volunteer])
            services.need_accept(need=need, volunteer=volunteer)
            services.need_start(need=need, volunteer=volunteer)
            clock.shift(1800)
            services.need_complete(need=need, volunteer=volunteer, note="好了")
        before = snapshot()
        for someone in (world.dispatcher, volunteer):
            with pytest.raises(IllegalTransition):
                services.need_rate(need=need, actor=someone, score=5)
        assert snapshot() == before

    def test_a_low_rating_opens_a_follow_up_for_the_dispatcher(self, world) -> None:
        volunteer = world.volunteers[0]
        with time_machine.travel(START, tick=False) as clock:
            need = dispatched(world, volunteers=[volunteer])
            services.need_accept(need=need, volunteer=volunteer)
            services.need_start(need=need, volunteer=volunteer)
            clock.shift(1800)
            services.need_complete(need=need, volunteer=volunteer, note="好了")
            rating = services.need_rate(
                need=need, actor=world.resident, score=2, tags=["late"], comment="来晚了"
            )
        assert rating.follow_up
        assert list(selectors.followups_open([world.district.code])) == [rating]
        assert Notification.objects.get(user=world.dispatcher, kind="need.follow_up").urgent
        services.need_follow_up_close(
            rating=rating, actor=world.dispatcher, note="已电话回访并道歉"
        )
        assert list(selectors.followups_open([world.district.code])) == []
        with pytest.raises(IllegalTransition):
            services.need_follow_up_close(rating=rating, actor=world.dispatcher, note="again")
        quality = selectors.volunteer_quality(volunteer)
        assert (quality.served, quality.rated, quality.average) == (1, 1, 2.0)

    def test_bad_ratings_are_refused(self, world) -> None:
        volunteer = world.volunteers[0]
        with time_machine.travel(START, tick=False) as clock:
            need = dispatched(world, volunteers=[volunteer])
            services.need_accept(need=need, volunteer=volunteer)
            services.need_start(need=need, volunteer=volunteer)
            clock.shift(1800)
            services.need_complete(need=need, volunteer=volunteer, note="好了")
        for score, tags in ((6, []), (0, []), (3, ["bribe"])):
            with pytest.raises(ValidationError):
                services.need_rate(need=need, actor=world.resident, score=score, tags=tags)
        assert not NeedRating.objects.exists()


class TestDispatch:
    def test_an_unverified_team_cannot_receive_a_need(self, world) -> None:
        pending = OrganizationFactory(region=world.district, status=OrganizationStatus.PENDING)
        need = world.need()
        before = snapshot()
        with pytest.raises(OperationRefused) as caught:
            services.need_dispatch(need=need, actor=world.dispatcher, organization=pending)
        assert snapshot() == before
        record_refusal(caught.value)
        assert AuditEvent.objects.filter(action="organization.refused").exists()

    def test_a_team_outside_the_area_is_refused(self, world, other_district) -> None:
        far = OrganizationFactory(region=other_district)
        need = world.need()
        with pytest.raises(ValidationError):
            services.need_dispatch(need=need, actor=world.dispatcher, organization=far)

    def test_a_sanctioned_volunteer_is_not_offered(self, world) -> None:
        from zhiyuan.safeguards.services import sanction_impose

        admin = make_user(Role.REGION_ADMIN, region=world.district)
        sanction_impose(
            party=world.volunteers[0],
            kind="suspension",
            reason="多次爽约",
            ends_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
            actor=admin,
        )
        need = world.need()
        assert world.volunteers[0].pk not in {
            c.volunteer.user_id for c in selectors.need_candidates(need)
        }
        with pytest.raises(ValidationError):
            services.need_dispatch(
                need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]]
            )

    def test_a_required_qualification_must_be_valid(self, world) -> None:
        need = world.need(qualifications=[QualificationKind.NURSE])
        assert selectors.need_candidates(need) == []
        profile = world.volunteers[1].volunteer
        Qualification.objects.create(
            profile=profile,
            kind=QualificationKind.NURSE,
            issuer="卫健委",
            valid_until=dt.date(2099, 1, 1),
        )
        assert [c.volunteer.user_id for c in selectors.need_candidates(need)] == [
            world.volunteers[1].pk
        ]
        with pytest.raises(ValidationError) as caught:
            services.need_dispatch(
                need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]]
            )
        assert "volunteers" in caught.value.message_dict

    def test_candidates_are_ranked_with_reasons_in_words(self, world) -> None:
        need = world.need()
        with translation.override("en"):
            ranked = selectors.need_candidates(need)
        assert [c.volunteer.user_id for c in ranked] == [
            v.pk for v in world.volunteers
        ]  # nearest first
        assert any("km away" in r for r in ranked[0].reasons)
        assert ranked[0].score >= ranked[-1].score

    def test_a_volunteer_beyond_their_travel_distance_is_left_out(self, world) -> None:
        far = make_user(Role.VOLUNTEER, region=world.community)
        make_profile(far, world.community, lat=39.99, lng=116.5, max_travel_km=2)
        need = world.need()
        assert far.pk not in {c.volunteer.user_id for c in selectors.need_candidates(need)}

    def test_batch_dispatch_spreads_volunteers_over_needs(self, world) -> None:
        needs = [world.need(), world.need(urgency=Urgency.URGENT)]
        outcomes = services.need_dispatch_batch(needs=needs, actor=world.dispatcher)
        assert [o.need.urgency for o in outcomes] == ["urgent", "routine"]  # the urgent one first
        offered = [{u.pk for u in o.dispatched_to} for o in outcomes]
        assert [len(o) for o in offered] == [2, 1]  # one more than the places, then what is left
        assert not (offered[0] & offered[1])  # nobody offered two needs of one batch
        for need in needs:
            need.refresh_from_db()
            assert need.state == NeedState.DISPATCHED

    def test_batch_reports_needs_it_could_not_dispatch(self, world) -> None:
        need = world.need(qualifications=[QualificationKind.LAWYER])
        [outcome] = services.need_dispatch_batch(needs=[need], actor=world.dispatcher)
        assert outcome.problem and not outcome.dispatched_to
        need.refresh_from_db()
        assert need.state == NeedState.SUBMITTED

    def test_teams_grab_open_needs_only_where_the_region_allows(self, world) -> None:
        need = world.need()
        with pytest.raises(ValidationError):
            services.need_dispatch(need=need, actor=world.dispatcher, open_to_teams=True)
        services.need_policy_set(
            region=world.district,
            teams_may_grab=True,
            low_rating=2,
            limits={},
            actor=make_user(Role.REGION_ADMIN, region=world.district),
        )
        services.need_dispatch(need=need, actor=world.dispatcher, open_to_teams=True)
        assert [n for n, _ in selectors.need_pool_for(world.team_admin)] == [need]
        services.need_grab(need=need, actor=world.team_admin, organization=world.team)
        need.refresh_from_db()
        assert need.organization == world.team and not need.open_to_teams
        with pytest.raises(IllegalTransition):
            services.need_grab(need=need, actor=world.team_admin, organization=world.team)
        # A member of the team accepts it.
        services.need_accept(need=need, volunteer=world.volunteers[2])
        need.refresh_from_db()
        assert need.state == NeedState.ACCEPTED

    def test_someone_elses_team_cannot_be_used_to_grab(self, world) -> None:
        other = OrganizationFactory(region=world.district)
        need = world.need()
        with pytest.raises(PermissionDenied):
            services.need_grab(need=need, actor=world.team_admin, organization=other)


class TestPrivacy:
    def test_contact_details_only_for_the_dispatcher_and_the_assigned_while_live(
        self, world
    ) -> None:
        volunteer = world.volunteers[0]
        with time_machine.travel(START, tick=False) as clock:
            need = dispatched(world, volunteers=[volunteer, world.volunteers[1]])
            assert selectors.need_contact_visible(world.dispatcher, need)
            assert not selectors.need_contact_visible(volunteer, need)  # offered, not accepted
            services.need_accept(need=need, volunteer=volunteer)
            need.refresh_from_db()
            assert selectors.need_contact_visible(volunteer, need)
            assert not selectors.need_contact_visible(world.volunteers[1], need)
            assert not selectors.need_contact_visible(world.resident, need)  # shown masked
            services.need_start(need=need, volunteer=volunteer)
            clock.shift(1800)
            services.need_complete(need=need, volunteer=volunteer, note="好了")
        need.refresh_from_db()
        assert not selectors.need_contact_visible(volunteer, need)
        assert not selectors.need_contact_visible(world.dispatcher, need)

    def test_outsiders_cannot_see_the_need(self, world) -> None:
        need = world.need()
        assert not selectors.need_can_view(world.outsider, need)
        assert not selectors.need_can_view(world.volunteers[0], need)  # not offered
        assert selectors.need_can_view(world.dispatcher, need)


class TestRegionSettings:
    def test_a_region_adds_and_retires_categories(self, world) -> None:
        admin = make_user(Role.REGION_ADMIN, region=world.district)
        top = selectors.category_tree(world.community.code)[0][0]
        mine = services.category_save(
            region=world.district, name_zh="理发", name_en="Haircuts", parent=top, actor=admin
        )
        tree = dict(selectors.category_tree(world.community.code))
        assert mine in tree[top]
        assert mine not in [
            c for _, items in selectors.category_tree("110102001001") for c in items
        ]
        services.category_retire(category=mine, actor=admin)
        assert mine not in dict(selectors.category_tree(world.community.code))[top]
        with pytest.raises(ValidationError):
            services.category_save(
                region=world.district, name_zh="x", name_en="y", parent=mine, actor=admin
            )

    def test_categories_are_two_levels_with_the_seed_top_level(self, world) -> None:
        tops = [t.code for t, _ in selectors.category_tree(None)]
        assert tops == [
            "daily_living",
            "elder_disability",
            "health",
            "education",
            "culture_sport",
            "legal",
            "emotional",
            "environment",
            "emergency",
        ]
        assert all(items for _, items in selectors.category_tree(None))

    def test_a_dispatcher_cannot_change_the_rules(self, world) -> None:
        with pytest.raises(PermissionDenied):
            services.need_policy_set(
                region=world.district,
                teams_may_grab=True,
                low_rating=2,
                limits={},
                actor=world.dispatcher,
            )

    def test_time_limits_come_from_the_nearest_region(self, world) -> None:
        admin = make_user(Role.REGION_ADMIN, region=world.district)
        services.need_policy_set(
            region=world.district,
            teams_may_grab=False,
            low_rating=2,
            limits={"urgent": (30, 20, 90)},
            actor=admin,
        )
        limits = selectors.time_limits_for(world.community.code, "urgent")
        assert limits.review == dt.timedelta(minutes=30) and limits.start == dt.timedelta(
            minutes=90
        )
        assert (
            selectors.time_limits_for(world.community.code, "routine")
            == selectors.DEFAULT_LIMITS["routine"]
        )


def test_records_wait_rather_than_invent_when_no_organisation_certifies(world) -> None:
    volunteer = world.volunteers[0]  # a member of no organisation
    assert not Membership.objects.filter(user=volunteer).exists()
    with time_machine.travel(START, tick=False) as clock:
        need = dispatched(world, volunteers=[volunteer])
        services.need_accept(need=need, volunteer=volunteer)
        services.need_start(need=need, volunteer=volunteer)
        clock.shift(1800)
        services.need_complete(need=need, volunteer=volunteer, note="好了")
    part = NeedAssignment.objects.get(need=need, volunteer=volunteer)
    assert part.record_status == RecordStatus.WAITING and part.record_id is None
    Membership.objects.create(organization=world.team, user=volunteer)
    assert services.need_records_backfill() == 1
    part.refresh_from_db()
    assert part.record_status == RecordStatus.CREATED and part.organization == world.team


class TestOnSiteEvidence:
    def test_a_position_at_the_place_opens_and_closes_the_activities_session(self, world) -> None:
        from zhiyuan.activities.models import ServiceSession
        from zhiyuan.records.models import ServiceRecord

        member = world.volunteers[2]  # serves for world.team
        with time_machine.travel(START, tick=False) as clock:
            need = world.need()  # map point HOME
            services.need_dispatch(need=need, actor=world.dispatcher, organization=world.team)
            services.need_accept(need=need, volunteer=member)
            services.need_start(need=need, volunteer=member, lat=39.9252, lng=116.4171)
            session = ServiceSession.objects.get(need_key=f"need:{need.pk}", volunteer=member)
            assert session.checkin_method == "geofence" and session.organization == world.team
            clock.shift(dt.timedelta(minutes=40))
            services.need_complete(
                need=need, volunteer=member, note="好了", lat=39.9251, lng=116.417
            )
        session.refresh_from_db()
        assert (
            session.checkout_method == "geofence" and session.checkin_evidence["distance_m"] < 500
        )
        record = ServiceRecord.objects.get(source=f"need:{need.pk}:{member.pk}")
        assert record.session == session and record.minutes == 40

    def test_far_or_missing_positions_are_not_taken_as_presence(self, world) -> None:
        from zhiyuan.activities.models import ServiceSession

        member = world.volunteers[2]
        with time_machine.travel(START, tick=False) as clock:
            far = world.need()
            services.need_dispatch(need=far, actor=world.dispatcher, organization=world.team)
            services.need_accept(need=far, volunteer=member)
            services.need_start(need=far, volunteer=member, lat=39.99, lng=116.5)  # km away
            assert not ServiceSession.objects.exists()
            # At the place when starting, no position when finishing.
            near = world.need()
            services.need_dispatch(need=near, actor=world.dispatcher, organization=world.team)
            services.need_accept(need=near, volunteer=member)
            services.need_start(need=near, volunteer=member, lat=39.925, lng=116.417)
            clock.shift(dt.timedelta(minutes=30))
            services.need_complete(need=near, volunteer=member, note="好了")
        session = ServiceSession.objects.get(need_key=f"need:{near.pk}")
        assert session.checkout_method == "auto"  # closed by the system: weaker, and said so


def test_each_volunteer_of_a_shared_need_gets_their_own_record(world) -> None:
    from zhiyuan.records.models import ServiceRecord

    first, second = world.volunteers[2], world.volunteers[0]
    Membership.objects.create(organization=world.team, user=second)
    with time_machine.travel(START, tick=False) as clock:
        need = dispatched(world, volunteers=[first, second], people_needed=2)
        for volunteer in (first, second):
            services.need_accept(need=need, volunteer=volunteer)
        for volunteer in (first, second):
            services.need_start(need=need, volunteer=volunteer)
        clock.shift(3600)
        services.need_complete(need=need, volunteer=first, note="搬好了")
        clock.shift(600)
        services.need_complete(need=need, volunteer=second, note="搬好了")
    records = {r.volunteer: r for r in ServiceRecord.objects.filter(need_id=need.pk)}
    assert set(records) == {first, second}
    assert records[first].source == f"need:{need.pk}:{first.pk}"
    assert (records[first].minutes, records[second].minutes) == (60, 70)
    assert not NeedAssignment.objects.filter(need=need, record_status=RecordStatus.WAITING).exists()
