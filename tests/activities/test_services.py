"""Activities through the real services: publishing, eligibility (every reason), the waitlist,
check-in with graded evidence, forgotten check-outs and no-shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import override

from tests.activities.fixtures import NOW, PLACE, at, first_shift, give_identity, new_volunteer
from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import geo, qr, services
from zhiyuan.activities.autoclose import sessions_auto_close_by_rule
from zhiyuan.activities.models import (
    ActivityAudit,
    ActivityStatus,
    Approval,
    CheckMethod,
    Recurrence,
    ServiceSession,
    Signup,
    SignupStatus,
)
from zhiyuan.activities.selectors import reliability_of, shift_roster
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations.models import MemberRole, Membership, OrganizationStatus
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.people.models import Qualification, QualificationKind, Skill
from zhiyuan.records.models import RecordKind, ServiceRecord
from zhiyuan.safeguards.models import SanctionKind
from zhiyuan.safeguards.selectors import agreement_current_version
from zhiyuan.safeguards.services import (
    agreement_accept,
    agreement_template_create,
    sanction_impose,
)

pytestmark = pytest.mark.django_db


def fill_seat(shift: Any, person: Any) -> None:
    """Setup: someone already holds a seat (made directly, without their eligibility)."""
    Signup.objects.create(
        shift=shift, volunteer=person, status=SignupStatus.CONFIRMED, signed_up_by=person
    )
    type(shift).objects.filter(pk=shift.pk).update(seats_taken=shift.seats_taken + 1)
    shift.refresh_from_db()


def codes(exc: services.SignupRefused) -> list[str]:
    return [r.code for r in exc.reasons]


# --- publishing -------------------------------------------------------------------------------


def test_only_verified_unsanctioned_organisations_publish(make_activity, org, region_admin):
    org.status = OrganizationStatus.PENDING
    org.save()
    with pytest.raises(OperationRefused) as refused:
        make_activity()
    assert refused.value.refusal.code == "unverified"
    org.status = OrganizationStatus.VERIFIED
    org.save()
    sanction_impose(
        party=org,
        kind=SanctionKind.SUSPENSION,
        reason="虚报服务时长",
        ends_at=NOW + dt.timedelta(days=30),
        actor=region_admin,
    )
    with pytest.raises(OperationRefused) as refused:
        make_activity()
    assert refused.value.refusal.code == "suspended"
    assert "虚报服务时长" in refused.value.refusal.message


def test_an_outsider_cannot_create_activities(org, community):
    stranger = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=community))
    with pytest.raises(PermissionDenied):
        services.activity_create(
            organization=org,
            actor=stranger,
            title="x",
            region=community,
            place_name="x",
            lat=PLACE[0],
            lng=PLACE[1],
            shifts=[services.ShiftSpec(at(4, 9), at(4, 12), 3)],
        )


def test_agreement_is_required_automatically_when_a_trigger_holds(make_activity, org, organiser):
    with pytest.raises(ValidationError) as refused, override("en"):
        make_activity(high_risk=True)
    assert "high risk to safety or health" in str(refused.value)
    template = agreement_template_create(
        organization=org, title="志愿服务协议", body="双方约定……", actor=organiser
    )
    activity = make_activity(high_risk=True)
    assert activity.agreement_reasons == ["high_risk"]
    assert activity.agreement == template
    weekly = make_activity(
        recurrence=Recurrence.WEEKLY,
        repeat_until=dt.date(2026, 4, 30),
    )
    assert weekly.agreement_reasons == ["one_month_or_more"]
    assert weekly.shifts.count() == 9  # 4 March to 29 April, every Wednesday
    plain = make_activity()
    assert plain.agreement_reasons == []


def test_a_place_given_in_gcj02_is_stored_in_wgs84(make_activity):
    g_lat, g_lng = geo.wgs84_to_gcj02(*PLACE)
    activity = make_activity(lat=g_lat, lng=g_lng, datum=geo.GCJ02)
    assert geo.haversine_m(activity.lat, activity.lng, *PLACE) < 0.01


def test_invalid_activity_says_what_is_wrong(make_activity):
    with pytest.raises(ValidationError) as refused, override("en"):
        make_activity(
            title="",
            lat=95.0,
            shifts=[services.ShiftSpec(at(4, 12), at(4, 9), 0)],
        )
    fields = refused.value.message_dict
    assert set(fields) >= {"title", "lat", "shifts"}


# --- eligibility: every reason ------------------------------------------------------------------


def test_eligible_volunteer_gets_a_seat(make_activity, volunteer):
    shift = first_shift(make_activity())
    assert services.signup_eligibility(shift=shift, volunteer=volunteer) == []
    signup = services.signup_create(shift=shift, volunteer=volunteer)
    assert signup.status == SignupStatus.CONFIRMED
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    assert AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).count() == 1
    # Signing up again finds the first sign-up.
    assert services.signup_create(shift=shift, volunteer=volunteer).pk == signup.pk
    shift.refresh_from_db()
    assert shift.seats_taken == 1


def test_every_refusal_reason_is_named_in_the_users_language(
    make_activity, org, organiser, community, region_admin
):
    first_aid = Skill.objects.create(code="first-aid", name_zh="应急救护", name_en="First aid")
    agreement_template_create(organization=org, title="高风险服务协议", body="……", actor=organiser)
    activity = make_activity(
        title="急救保障",
        skills=[first_aid],
        qualifications=[QualificationKind.DOCTOR, QualificationKind.FIRST_AID],
        high_risk=True,
        no_minors=True,
        activity_type="medical",
        capacity=1,
    )
    shift = first_shift(activity)
    # A 16-year-old, without the skill, with a lapsed first-aid certificate and no doctor's
    # licence, not insured, who has not accepted the agreement, under a suspension, and
    # already booked elsewhere at the same time; and the only seat is taken.
    teen = new_volunteer(community, birth="20100301")
    Qualification.objects.create(
        profile=teen.volunteer,
        kind=QualificationKind.FIRST_AID,
        issuer="北京市红十字会",
        valid_until=dt.date(2026, 3, 1),
    )
    fill_seat(shift, new_volunteer(community))
    other = make_activity(title="另一项活动", insurance_required=False)
    services.signup_create(shift=first_shift(other), volunteer=teen)
    sanction_impose(
        party=teen,
        kind=SanctionKind.SUSPENSION,
        reason="多次无故缺席",
        ends_at=NOW + dt.timedelta(days=10),
        actor=region_admin,
    )
    activity.insurance_required = True
    activity.save()
    from zhiyuan.safeguards.models import InsurancePolicy

    InsurancePolicy.objects.update(activity_types=["general"])  # no cover for medical service
    with override("en"):
        reasons = services.signup_eligibility(shift=shift, volunteer=teen)
    by_code = {r.code: r.message for r in reasons}
    assert set(by_code) == {
        "sanction",
        "age",
        "skill_missing",
        "qualification_missing",
        "qualification_expired",
        "no_insurance",
        "agreement",
        "clash",
        "full",
    }
    assert "18 or over" in by_code["age"] and "you will be 16" in by_code["age"]
    assert "First aid" in by_code["skill_missing"]
    assert "Doctor" in by_code["qualification_missing"]
    assert "2026-03-01" in by_code["qualification_expired"]
    assert "does not cover" in by_code["no_insurance"]
    assert "高风险服务协议" in by_code["agreement"]
    assert "另一项活动" in by_code["clash"]
    assert "多次无故缺席" in by_code["sanction"]
    # In Chinese too, and the refusal changes nothing but the audit log.
    with override("zh-hans"), pytest.raises(services.SignupRefused) as refused:
        services.signup_create(shift=shift, volunteer=teen)
    chinese = {r.code: r.message for r in refused.value.reasons}
    assert set(chinese) == set(by_code)
    assert "年满18周岁" in chinese["age"]
    assert chinese["full"] != by_code["full"]
    assert not Signup.objects.filter(shift=shift, volunteer=teen).exists()
    refusal = AuditEvent.objects.filter(action=ActivityAudit.SIGNUP_REFUSED).last()
    assert refusal is not None and "clash" in refusal.detail["reasons"]


def test_unregistered_and_unknown_age(make_activity, community):
    shift = first_shift(make_activity(min_age=16))
    nobody = make_user(Role.VOLUNTEER, region=community)
    assert {r.code for r in services.signup_eligibility(shift=shift, volunteer=nobody)} == {
        "not_registered",
        "age_unknown",
    }


def test_inactive_registration_and_already_signed_up(make_activity, community, volunteer):
    from zhiyuan.people.models import ProfileStatus

    shift = first_shift(make_activity())
    waiting = new_volunteer(community, status=ProfileStatus.AWAITING_GUARDIAN)
    assert [r.code for r in services.signup_eligibility(shift=shift, volunteer=waiting)] == [
        "not_active"
    ]
    services.signup_create(shift=shift, volunteer=volunteer)
    assert [r.code for r in services.signup_eligibility(shift=shift, volunteer=volunteer)] == [
        "already"
    ]


def test_closed_activity(make_activity, volunteer):
    draft = make_activity(publish=False)
    assert [
        r.code for r in services.signup_eligibility(shift=first_shift(draft), volunteer=volunteer)
    ] == ["closed"]


def test_emergency_call_outs_take_no_minors(make_activity, community):
    shift = first_shift(make_activity(emergency=True))
    teen = new_volunteer(community, birth="20090601")
    assert [r.code for r in services.signup_eligibility(shift=shift, volunteer=teen)] == ["age"]


def test_accepting_the_agreement_clears_that_reason(make_activity, org, organiser, volunteer):
    template = agreement_template_create(organization=org, title="协议", body="……", actor=organiser)
    activity = make_activity(agreement_marked=True)
    shift = first_shift(activity)
    assert [r.code for r in services.signup_eligibility(shift=shift, volunteer=volunteer)] == [
        "agreement"
    ]
    agreement_accept(
        version=agreement_current_version(template), user=volunteer, subject=activity.key
    )
    assert services.signup_eligibility(shift=shift, volunteer=volunteer) == []


def test_full_without_waitlist_is_refused(make_activity, volunteer, community):
    shift = first_shift(make_activity(capacity=1))
    services.signup_create(shift=shift, volunteer=new_volunteer(community))
    with pytest.raises(services.SignupRefused) as refused:
        services.signup_create(shift=shift, volunteer=volunteer, waitlist=False)
    assert codes(refused.value) == ["full"]


# --- approval, waitlist, offers ------------------------------------------------------------------


def test_manual_approval_holds_the_seat_until_decided(make_activity, organiser, community):
    shift = first_shift(make_activity(approval=Approval.MANUAL, capacity=1))
    first = new_volunteer(community)
    second = new_volunteer(community)
    pending = services.signup_create(shift=shift, volunteer=first)
    assert pending.status == SignupStatus.PENDING
    waiting = services.signup_create(shift=shift, volunteer=second)
    assert waiting.status == SignupStatus.WAITLISTED
    services.signup_reject(signup=pending, actor=organiser, reason="需要有经验的志愿者")
    waiting.refresh_from_db()
    assert waiting.status == SignupStatus.OFFERED
    accepted = services.signup_offer_accept(signup=waiting, actor=second)
    assert accepted.status == SignupStatus.PENDING  # still the organiser's call
    approved = services.signup_approve(signup=accepted, actor=organiser)
    assert approved.status == SignupStatus.CONFIRMED


def test_freed_seat_goes_to_the_first_eligible_waiting_then_lapses_to_the_next(
    make_activity, community, frozen_clock
):
    shift = first_shift(make_activity(capacity=1, offer_hours=2, min_age=18))
    holder = new_volunteer(community)
    too_young = new_volunteer(community, birth="20080401")  # 17 on the day: skipped
    second = new_volunteer(community)
    third = new_volunteer(community)
    services.signup_create(shift=shift, volunteer=holder)
    # The teenager joined the waitlist before turning out to be ineligible: simulate an
    # identity correction after sign-up by signing up first with an adult birth date.
    young_signup = Signup.objects.create(
        shift=shift, volunteer=too_young, status=SignupStatus.WAITLISTED, signed_up_by=too_young
    )
    s2 = services.signup_create(shift=shift, volunteer=second)
    s3 = services.signup_create(shift=shift, volunteer=third)
    assert s2.status == s3.status == SignupStatus.WAITLISTED
    holding = Signup.objects.get(shift=shift, volunteer=holder)
    services.signup_cancel(signup=holding, actor=holder, reason="家里有事")
    young_signup.refresh_from_db()
    s2.refresh_from_db()
    assert young_signup.status == SignupStatus.WAITLISTED
    assert s2.status == SignupStatus.OFFERED
    assert s2.offer_expires_at == NOW + dt.timedelta(hours=2)
    frozen_clock.shift(dt.timedelta(hours=2, minutes=1))
    assert services.offers_expire() == 1
    s2.refresh_from_db()
    s3.refresh_from_db()
    assert s2.status == SignupStatus.LAPSED
    assert s3.status == SignupStatus.OFFERED
    services.signup_offer_accept(signup=s3, actor=third)
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    roster = shift_roster(shift)
    assert [s.volunteer for s in roster.coming] == [third]
    assert [s.volunteer for s in roster.waiting] == [too_young]


def test_late_cancellation_is_counted(make_activity, community, frozen_clock):
    shift = first_shift(make_activity(cancel_notice_hours=24))
    early = new_volunteer(community)
    late = new_volunteer(community)
    a = services.signup_create(shift=shift, volunteer=early)
    b = services.signup_create(shift=shift, volunteer=late)
    services.signup_cancel(signup=a, actor=early)
    frozen_clock.move_to(at(3, 20))  # 13 hours before the start
    services.signup_cancel(signup=b, actor=late, reason="临时加班")
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.late_cancel, b.late_cancel) == (False, True)
    counts = reliability_of([early.pk, late.pk])
    assert (counts[early.pk].late_cancels, counts[late.pk].late_cancels) == (0, 1)


def test_group_signup_of_a_team(make_activity, org, organiser, community):
    shift = first_shift(make_activity(capacity=2))
    members = [new_volunteer(community) for _ in range(3)]
    for person in members:
        Membership.objects.create(organization=org, user=person, role=MemberRole.MEMBER)
    outsider = new_volunteer(community)
    results = services.signup_group(
        shift=shift, team=org, volunteers=[*members, outsider], actor=organiser
    )
    statuses = [r.signup.status if r.signup else None for r in results]
    assert statuses == [
        SignupStatus.CONFIRMED,
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
        None,
    ]
    assert results[3].reasons[0].code == "not_member"
    assert all(r.signup.team == org for r in results[:3])


def test_understaffed_shifts_are_flagged_once_before_they_start(
    make_activity, volunteer, frozen_clock
):
    activity = make_activity(
        shifts=[services.ShiftSpec(at(3, 14), at(3, 17), 5, min_staff=3)],
    )
    shift = first_shift(activity)
    services.signup_create(shift=shift, volunteer=volunteer)
    assert services.shifts_flag_understaffed() == [shift]
    assert services.shifts_flag_understaffed() == []
    shift.refresh_from_db()
    assert shift.understaffed_at == NOW
    assert AuditEvent.objects.filter(action=ActivityAudit.UNDERSTAFFED).count() == 1


# --- check-in and check-out ---------------------------------------------------------------------


@pytest.fixture
def seated(make_activity, volunteer) -> Any:
    activity = make_activity()
    shift = first_shift(activity)
    services.signup_create(shift=shift, volunteer=volunteer)
    return shift


def test_qr_scan_replayed_a_hundred_times_makes_one_checkin_and_one_record(
    seated, volunteer, frozen_clock
):
    frozen_clock.move_to(at(4, 8, 55))
    code = services.checkin_code(seated)
    results = [services.checkin_scan(volunteer=volunteer, code=code) for _ in range(100)]
    assert [r.created for r in results].count(True) == 1
    assert ServiceSession.objects.filter(shift=seated).count() == 1
    session = results[0].session
    assert session.checkin_method == CheckMethod.QR
    frozen_clock.move_to(at(4, 12, 1))
    out_code = services.checkin_code(seated)
    outs = [services.checkout_scan(volunteer=volunteer, code=out_code) for _ in range(100)]
    assert [r.created for r in outs].count(True) == 1
    records = ServiceRecord.objects.filter(volunteer=volunteer)
    assert records.count() == 1
    record = records.get()
    assert record.kind == RecordKind.CHECKIN
    assert record.raw_minutes == 186 and record.minutes == 186
    assert "beyond_duration" in record.flags  # 186 minutes in a 180-minute shift


def test_the_phone_clock_is_kept_but_the_server_rules(seated, volunteer, frozen_clock):
    frozen_clock.move_to(at(4, 9, 30))
    code = services.checkin_code(seated)
    phone_time = at(4, 8, 0)  # an offline phone claiming an earlier time
    result = services.checkin_scan(volunteer=volunteer, code=code, client_at=phone_time)
    assert result.session.client_checked_in_at == phone_time
    assert result.session.checked_in_at == at(4, 9, 30)


def test_expired_forged_and_foreign_codes_are_refused_as_such(
    make_activity, seated, volunteer, frozen_clock
):
    other = first_shift(make_activity(title="别的活动"))
    frozen_clock.move_to(at(4, 9, 0))
    code = services.checkin_code(seated)
    frozen_clock.shift(dt.timedelta(seconds=60))
    with pytest.raises(services.CheckinRefused) as expired:
        services.checkin_scan(volunteer=volunteer, code=code)
    assert expired.value.reason.code == qr.EXPIRED
    forged = code.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAA"
    with pytest.raises(services.CheckinRefused) as bad:
        services.checkin_scan(volunteer=volunteer, code=forged)
    assert bad.value.reason.code == qr.FORGED
    with pytest.raises(services.CheckinRefused) as wrong:
        services.checkout_geo(volunteer=volunteer, shift=other, lat=PLACE[0], lng=PLACE[1])
    assert wrong.value.reason.code == "not_checked_in"
    with pytest.raises(services.CheckinRefused) as not_mine:
        services.checkin_scan(volunteer=volunteer, code=services.checkin_code(other))
    assert not_mine.value.reason.code == "not_signed_up"
    assert ServiceSession.objects.count() == 0
    assert AuditEvent.objects.filter(action=ActivityAudit.CHECKIN_REFUSED).count() == 2


def test_code_of_another_shift_is_refused_where_a_shift_is_expected(
    make_activity, seated, volunteer, frozen_clock
):
    other = first_shift(make_activity(title="别的活动"))
    frozen_clock.move_to(at(4, 9, 0))
    with pytest.raises(services.CheckinRefused) as wrong:
        services._verify_code(services.checkin_code(other), volunteer, None, shift=seated)
    assert wrong.value.reason.code == qr.OTHER_SHIFT


def test_checkin_window(seated, volunteer, frozen_clock):
    frozen_clock.move_to(at(4, 7, 30))
    with pytest.raises(services.CheckinRefused) as early:
        services.checkin_scan(volunteer=volunteer, code=services.checkin_code(seated))
    assert early.value.reason.code == "too_early"
    frozen_clock.move_to(at(4, 12, 0))
    with pytest.raises(services.CheckinRefused) as over:
        services.checkin_scan(volunteer=volunteer, code=services.checkin_code(seated))
    assert over.value.reason.code == "over"


def test_geofenced_checkin_inside_outside_and_in_gcj02(make_activity, community, frozen_clock):
    strict = first_shift(make_activity(checkin_radius_m=100))
    lenient = first_shift(make_activity(title="宽松", checkin_radius_m=100, allow_far_checkin=True))
    frozen_clock.move_to(at(4, 9, 0))
    near, far, mars = (new_volunteer(community) for _ in range(3))
    for person in (near, far, mars):
        for shift in (strict, lenient):
            Signup.objects.create(
                shift=shift, volunteer=person, status=SignupStatus.CONFIRMED, signed_up_by=person
            )
    inside = services.checkin_geo(volunteer=near, shift=strict, lat=PLACE[0] + 0.0005, lng=PLACE[1])
    assert inside.session.checkin_evidence["distance_m"] == pytest.approx(55.6, abs=1)
    with pytest.raises(services.CheckinRefused) as refused, override("en"):
        services.checkin_geo(volunteer=far, shift=strict, lat=PLACE[0] + 0.01, lng=PLACE[1])
    assert refused.value.reason.code == "too_far"
    assert "1112 m" in refused.value.reason.message
    flagged = services.checkin_geo(volunteer=far, shift=lenient, lat=PLACE[0] + 0.01, lng=PLACE[1])
    assert flagged.session.flags == ["far_from_place"]
    # A mini program sends GCJ-02: standing at the place, its raw reading is ~500 m off.
    g_lat, g_lng = geo.wgs84_to_gcj02(*PLACE)
    assert geo.haversine_m(g_lat, g_lng, *PLACE) > 400
    converted = services.checkin_geo(
        volunteer=mars, shift=strict, lat=g_lat, lng=g_lng, datum=geo.GCJ02
    )
    assert converted.session.checkin_evidence["distance_m"] < 1
    assert converted.session.checkin_evidence["datum"] == "gcj02"


def test_roster_marking_is_audited_and_organiser_only(seated, volunteer, organiser, frozen_clock):
    frozen_clock.move_to(at(4, 9, 10))
    with pytest.raises(PermissionDenied):
        services.checkin_roster(shift=seated, volunteer=volunteer, actor=volunteer)
    result = services.checkin_roster(shift=seated, volunteer=volunteer, actor=organiser)
    assert result.session.checkin_method == CheckMethod.ROSTER
    assert result.session.checkin_evidence == {"marked_by": organiser.pk}
    assert AuditEvent.objects.filter(action=ActivityAudit.ROSTER_CHECKIN).count() == 1
    frozen_clock.move_to(at(4, 11, 40))
    services.checkout_roster(shift=seated, volunteer=volunteer, actor=organiser)
    record = ServiceRecord.objects.get(volunteer=volunteer)
    assert record.minutes == 150


def test_forgotten_checkout_closes_at_the_shift_end_flagged(
    seated, volunteer, community, frozen_clock
):
    absent = new_volunteer(community)
    services.signup_create(shift=seated, volunteer=absent)
    frozen_clock.move_to(at(4, 9, 5))
    services.checkin_scan(volunteer=volunteer, code=services.checkin_code(seated))
    frozen_clock.move_to(at(4, 13, 59))  # shift ended at 12:00; the grace is two hours
    assert sessions_auto_close_by_rule() == 0
    frozen_clock.move_to(at(4, 14, 1))
    assert sessions_auto_close_by_rule() == 1
    session = ServiceSession.objects.get(volunteer=volunteer)
    assert session.checked_out_at == at(4, 12, 0)
    assert session.checkout_method == CheckMethod.AUTO
    assert "auto_closed" in session.flags
    record = ServiceRecord.objects.get(volunteer=volunteer)
    assert record.minutes == 175 and "auto_closed" in record.flags
    no_show = Signup.objects.get(volunteer=absent)
    assert no_show.status == SignupStatus.NO_SHOW
    assert reliability_of([absent.pk])[absent.pk].no_shows == 1
    assert sessions_auto_close_by_rule() == 0  # runs again without doing anything twice


def test_cancelling_an_activity_releases_everyone(make_activity, organiser, volunteer):
    activity = make_activity()
    signup = services.signup_create(shift=first_shift(activity), volunteer=volunteer)
    services.activity_cancel(activity=activity, actor=organiser, reason="暴雨预警")
    signup.refresh_from_db()
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.CANCELLED
    assert signup.status == SignupStatus.CANCELLED and not signup.late_cancel


def test_need_sessions_are_idempotent(org, volunteer):
    first = services.checkin_need(volunteer=volunteer, need_key="need:42", organization=org)
    again = services.checkin_need(volunteer=volunteer, need_key="need:42", organization=org)
    assert first.created and not again.created and first.session.pk == again.session.pk
    closed = services.checkout_need(volunteer=volunteer, need_key="need:42")
    assert closed.created and closed.session.checked_out_at == NOW
    assert not services.checkout_need(volunteer=volunteer, need_key="need:42").created


def test_identity_helper_gives_an_age(community):
    person = make_user(Role.VOLUNTEER, region=community)
    assert give_identity(person, "19800515").birth_date == dt.date(1980, 5, 15)
