"""Service records through the real services: making, confirming (with the ledger), anomaly
flags and the second confirmer, corrections as new versions, deadlines, stars, certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils.translation import override

from tests.activities.fixtures import NOW, PLACE, at, first_shift, new_volunteer
from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services as activities
from zhiyuan.activities.models import ServiceSession, Signup, SignupStatus
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger.models import Account, Asset, Transaction
from zhiyuan.records import services
from zhiyuan.records.models import (
    CorrectionStatus,
    RecordAudit,
    RecordKind,
    RecordRule,
    RecordStatus,
    ServiceRecord,
    StarAward,
)
from zhiyuan.records.selectors import (
    hours_summary,
    record_flag_rates,
    weekly_claimed_hours,
)
from zhiyuan.safeguards.selectors import HOURS_PROVIDERS

pytestmark = pytest.mark.django_db


def balance(user: Any, asset: str = Asset.POINTS) -> int:
    account = Account.objects.filter(kind="user", user=user, asset=asset).first()
    return account.balance if account else 0


def serve(shift: Any, person: Any, clock: Any, start: dt.datetime, end: dt.datetime) -> Any:
    """Sign up (if needed), check in and out by scanning the code; return the record."""
    if not Signup.objects.filter(shift=shift, volunteer=person).exists():
        Signup.objects.create(
            shift=shift, volunteer=person, status=SignupStatus.CONFIRMED, signed_up_by=person
        )
    clock.move_to(start)
    activities.checkin_scan(volunteer=person, code=activities.checkin_code(shift))
    clock.move_to(end)
    activities.checkout_scan(volunteer=person, code=activities.checkin_code(shift))
    return ServiceRecord.objects.get(session__shift=shift, session__volunteer=person)


@pytest.fixture
def shift(make_activity) -> Any:
    return first_shift(make_activity())


def test_confirming_credits_the_ledger_once_and_audits(
    shift, volunteer, organiser, earning_rules, frozen_clock
):
    record = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 11, 30))
    assert record.status == RecordStatus.PENDING and record.minutes == 150
    assert record.due_at == at(4, 11, 30) + dt.timedelta(days=7)
    confirmed = services.record_confirm(record=record, actor=organiser)
    assert confirmed.status == RecordStatus.CONFIRMED
    assert confirmed.credited_minutes == 150
    assert confirmed.points == 25  # 10 points an hour × 2.5 hours
    assert balance(volunteer) == 25
    # Confirming again changes nothing.
    services.record_confirm(record=confirmed, actor=organiser)
    assert balance(volunteer) == 25
    assert Transaction.objects.filter(idempotency_key=f"earn:record:{record.pk}:v1").count() == 1
    assert AuditEvent.objects.filter(
        action=RecordAudit.CONFIRMED, object_id=str(record.pk)
    ).exists()
    assert hours_summary(volunteer).confirmed_minutes == 150


def test_volunteers_cannot_confirm_their_own_service_nor_outsiders_anyones(
    shift, volunteer, organiser, org, district, frozen_clock
):
    record = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 11, 0))
    with pytest.raises(PermissionDenied):
        services.record_confirm(record=record, actor=volunteer)
    other = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    with pytest.raises(PermissionDenied):
        services.record_confirm(record=record, actor=other)
    # An organiser who also served cannot confirm their own record.
    Signup.objects.create(
        shift=shift, volunteer=organiser, status=SignupStatus.CONFIRMED, signed_up_by=organiser
    )
    from zhiyuan.accounts.services import role_grant

    role_grant(user=organiser, role=Role.VOLUNTEER, region=shift.activity.region)
    organiser = type(organiser).objects.get(pk=organiser.pk)  # grants are read once per object
    own = serve(shift, organiser, frozen_clock, at(4, 9, 1), at(4, 11, 0))
    with pytest.raises(PermissionDenied):
        services.record_confirm(record=own, actor=organiser)
    record.refresh_from_db()
    assert record.status == RecordStatus.PENDING


def test_a_flagged_record_needs_a_second_different_confirmer(
    shift, volunteer, organiser, region_admin, earning_rules, frozen_clock, org
):
    record = serve(shift, volunteer, frozen_clock, at(4, 8, 30), at(4, 12, 30))
    assert record.flags == ["beyond_duration"]
    assert record.flag_notes == {"beyond_duration": "240/180"}
    first = services.record_confirm(record=record, actor=organiser)
    assert first.status == RecordStatus.PENDING and first.first_confirmed_by == organiser
    assert balance(volunteer) == 0
    with pytest.raises(services.RecordRefused) as same:
        services.record_confirm(record=first, actor=organiser)
    assert same.value.code == "second_confirmer"
    done = services.record_confirm(record=first, actor=region_admin)
    assert done.status == RecordStatus.CONFIRMED and done.confirmed_by == region_admin
    assert balance(volunteer) == 40


def test_a_region_admin_is_never_the_first_confirmer(shift, volunteer, region_admin, frozen_clock):
    record = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 11, 0))
    with pytest.raises(PermissionDenied):
        services.record_confirm(record=record, actor=region_admin)


def test_anomaly_flags(make_activity, organiser, community, frozen_clock):
    shift = first_shift(make_activity(allow_far_checkin=True, checkin_radius_m=100))
    other = first_shift(make_activity(title="重叠活动"))
    people = [new_volunteer(community) for _ in range(6)]
    for person in people:
        Signup.objects.create(
            shift=shift, volunteer=person, status=SignupStatus.CONFIRMED, signed_up_by=person
        )
    frozen_clock.move_to(at(4, 9, 0))
    # Six people marked present by the organiser within the same few seconds.
    for person in people:
        activities.checkin_roster(shift=shift, volunteer=person, actor=organiser)
    far = people[0]
    ServiceSession.objects.filter(volunteer=far).update(
        checkin_method="geofence", checkin_evidence={"distance_m": 900.0}
    )
    frozen_clock.move_to(at(4, 11, 0))
    activities.checkout_roster(shift=shift, volunteer=far, actor=organiser)
    record = ServiceRecord.objects.get(volunteer=far)
    assert set(record.flags) == {"far_checkin", "burst"}
    # The same person recorded elsewhere at the same time: an overlap.
    overlap = serve(other, far, frozen_clock, at(4, 11, 5), at(4, 11, 50))
    assert overlap.flags == []  # 11:05–11:50 does not overlap 9:00–11:00
    twin = services.record_manual_create(
        activity=other.activity,
        shift=other,
        volunteer=far,
        started_at=at(4, 10, 0),
        ended_at=at(4, 11, 0),
        content="补录",
        actor=organiser,
    )
    assert "overlap" in twin.flags


def test_daily_cap_limits_credited_minutes(
    make_activity, volunteer, organiser, district, region_admin, earning_rules, frozen_clock
):
    services.record_rule_set(region=district, actor=region_admin, daily_cap_minutes=240)
    morning = first_shift(make_activity(shifts=[activities.ShiftSpec(at(4, 8), at(4, 11), 5)]))
    evening = first_shift(
        make_activity(title="晚班", shifts=[activities.ShiftSpec(at(4, 14), at(4, 17), 5)])
    )
    a = serve(morning, volunteer, frozen_clock, at(4, 8, 0), at(4, 11, 0))
    b = serve(evening, volunteer, frozen_clock, at(4, 14, 0), at(4, 17, 0))
    assert b.flags == ["over_daily_cap"]
    # Together they pass the cap: both are flagged at confirmation and need two confirmers.
    services.record_confirm(record=a, actor=organiser)
    assert services.record_confirm(record=a, actor=region_admin).credited_minutes == 180
    services.record_confirm(record=b, actor=organiser)
    done = services.record_confirm(record=b, actor=region_admin)
    assert done.credited_minutes == 60  # 240 − 180 already credited that day
    assert hours_summary(volunteer).confirmed_minutes == 240


def test_rounding_rule(make_activity, volunteer, district, region_admin, frozen_clock):
    services.record_rule_set(
        region=district, actor=region_admin, rounding_unit=15, rounding_mode="down"
    )
    record = serve(
        first_shift(make_activity()), volunteer, frozen_clock, at(4, 9, 0), at(4, 10, 44)
    )
    assert (record.raw_minutes, record.minutes) == (104, 90)


def test_manual_entry_is_marked_and_cannot_exceed_the_activity(
    shift, volunteer, organiser, frozen_clock
):
    frozen_clock.move_to(at(5, 9))
    with pytest.raises(services.RecordRefused) as refused, override("en"):
        services.record_manual_create(
            activity=shift.activity,
            volunteer=volunteer,
            started_at=at(4, 8, 0),
            ended_at=at(4, 12, 30),
            content="忘记签到",
            actor=organiser,
        )
    assert "cannot exceed the activity's own duration (180 minutes)" in str(refused.value)
    record = services.record_manual_create(
        activity=shift.activity,
        volunteer=volunteer,
        started_at=at(4, 9, 0),
        ended_at=at(4, 12, 0),
        content="忘记签到，现场负责人证明",
        actor=organiser,
        key="retry-1",
    )
    assert record.kind == RecordKind.MANUAL and record.minutes == 180
    again = services.record_manual_create(
        activity=shift.activity,
        volunteer=volunteer,
        started_at=at(4, 9, 0),
        ended_at=at(4, 12, 0),
        content="忘记签到，现场负责人证明",
        actor=organiser,
        key="retry-1",
    )
    assert again.pk == record.pk
    with pytest.raises(PermissionDenied):
        services.record_manual_create(
            activity=shift.activity,
            volunteer=volunteer,
            started_at=at(4, 9, 0),
            ended_at=at(4, 10, 0),
            content="自己补",
            actor=volunteer,
        )


def test_a_need_record_takes_a_need_id_without_importing_the_needs_app(
    org, volunteer, organiser, earning_rules, frozen_clock
):
    frozen_clock.move_to(at(4, 12))
    record = services.record_create(
        volunteer=volunteer,
        organization=org,
        region=org.region,
        kind=RecordKind.NEED,
        started_at=at(4, 10, 0),
        ended_at=at(4, 11, 0),
        content="为独居老人代购药品",
        source="need:42",
        created_by=None,
        need=42,
        category="elder-care",
        urgency="urgent",
    )
    assert record.need_id == 42
    confirmed = services.record_confirm(record=record, actor=organiser)
    assert confirmed.points == 12  # 10 × 1 h × 1.2 for an urgent need
    with pytest.raises(ValueError, match="need"):
        services.record_create(
            volunteer=volunteer,
            organization=org,
            region=org.region,
            kind=RecordKind.NEED,
            started_at=at(4, 10, 0),
            ended_at=at(4, 11, 0),
            content="x",
            source="need:43",
            created_by=None,
            need=44,
        )


def test_correction_makes_a_new_version_and_the_ledger_moves_by_the_difference(
    shift, volunteer, organiser, earning_rules, frozen_clock
):
    record = serve(shift, volunteer, frozen_clock, at(4, 10, 0), at(4, 11, 0))
    services.record_confirm(record=record, actor=organiser)
    assert balance(volunteer) == 10
    frozen_clock.move_to(at(5, 9))
    correction = services.correction_request(
        record=record,
        actor=volunteer,
        reason="9点就到了，签到时手机没电",
        started_at=at(4, 9, 0),
        ended_at=at(4, 11, 0),
    )
    record.refresh_from_db()
    assert record.status == RecordStatus.CONFIRMED
    new = services.correction_approve(correction=correction, actor=organiser, note="现场照片为证")
    assert new.version == 2 and new.status == RecordStatus.CONFIRMED
    assert new.replaces == record and new.series_id == record.pk
    record.refresh_from_db()
    assert record.status == RecordStatus.SUPERSEDED
    assert balance(volunteer) == 20
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.APPROVED and correction.new_record == new
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        RecordAudit.CORRECTION_REQUESTED,
        RecordAudit.CORRECTION_APPROVED,
        RecordAudit.SUPERSEDED,
    } <= actions
    # The old version is still there, unchanged and not countable.
    assert hours_summary(volunteer).confirmed_minutes == 120


def test_correction_requests_are_checked(shift, volunteer, organiser, frozen_clock, community):
    record = serve(shift, volunteer, frozen_clock, at(4, 10, 0), at(4, 11, 0))
    with pytest.raises(services.RecordRefused):  # not confirmed yet
        services.correction_request(
            record=record, actor=volunteer, reason="x", started_at=at(4, 9), ended_at=at(4, 11)
        )
    services.record_confirm(record=record, actor=organiser)
    with pytest.raises(ValidationError) as invalid:
        services.correction_request(
            record=record, actor=volunteer, reason="", started_at=at(4, 11), ended_at=at(4, 9)
        )
    assert set(invalid.value.message_dict) == {"reason", "ended_at"}
    with pytest.raises(PermissionDenied):
        services.correction_request(
            record=record,
            actor=new_volunteer(community),
            reason="x",
            started_at=at(4, 9),
            ended_at=at(4, 11),
        )
    correction = services.correction_request(
        record=record, actor=volunteer, reason="时间不对", started_at=at(4, 9), ended_at=at(4, 11)
    )
    with pytest.raises(services.RecordRefused):
        services.correction_request(
            record=record, actor=volunteer, reason="再来", started_at=at(4, 9), ended_at=at(4, 11)
        )
    with pytest.raises(ValidationError):
        services.correction_reject(correction=correction, actor=organiser, note="")
    services.correction_reject(correction=correction, actor=organiser, note="签到记录无误")
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.REJECTED


def test_the_database_refuses_to_change_a_confirmed_record(
    shift, volunteer, organiser, frozen_clock
):
    record = serve(shift, volunteer, frozen_clock, at(4, 10, 0), at(4, 11, 0))
    services.record_confirm(record=record, actor=organiser)
    with pytest.raises(DatabaseError), transaction.atomic():
        ServiceRecord.objects.filter(pk=record.pk).update(minutes=600)
    with pytest.raises(DatabaseError), transaction.atomic():
        ServiceRecord.objects.filter(pk=record.pk).update(status=RecordStatus.PENDING)
    record.refresh_from_db()
    assert record.minutes == 60 and record.status == RecordStatus.CONFIRMED


def test_confirmation_deadline(make_activity, volunteer, organiser, community, frozen_clock):
    shift = first_shift(make_activity())
    clean = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 11, 0))
    other = new_volunteer(community)
    Signup.objects.create(
        shift=shift, volunteer=other, status=SignupStatus.CONFIRMED, signed_up_by=other
    )
    frozen_clock.move_to(at(4, 9, 5))
    activities.checkin_roster(shift=shift, volunteer=other, actor=organiser)
    frozen_clock.move_to(at(4, 11, 0))
    activities.checkout_roster(shift=shift, volunteer=other, actor=organiser)
    marked = ServiceRecord.objects.get(volunteer=other)
    frozen_clock.move_to(clean.due_at - dt.timedelta(minutes=1))
    assert services.records_confirm_due() == {"confirmed": 0, "overdue": 0}
    frozen_clock.move_to(clean.due_at + dt.timedelta(minutes=1))
    assert services.records_confirm_due() == {"confirmed": 1, "overdue": 1}
    clean.refresh_from_db()
    marked.refresh_from_db()
    assert clean.status == RecordStatus.CONFIRMED and clean.confirmed_by is None
    assert marked.status == RecordStatus.PENDING and marked.overdue_at is not None
    assert AuditEvent.objects.filter(action=RecordAudit.AUTO_CONFIRMED).count() == 1
    assert services.records_confirm_due() == {"confirmed": 0, "overdue": 0}


def test_time_bank_activities_deposit_credit(
    make_activity, volunteer, organiser, earning_rules, frozen_clock
):
    shift = first_shift(make_activity(time_bank=True))
    record = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 10, 30))
    services.record_confirm(record=record, actor=organiser)
    assert balance(volunteer, Asset.TIME_MINUTES) == 90
    frozen_clock.move_to(at(5, 9))
    correction = services.correction_request(
        record=record, actor=volunteer, reason="多记了", started_at=at(4, 9), ended_at=at(4, 10)
    )
    services.correction_approve(correction=correction, actor=organiser)
    assert balance(volunteer, Asset.TIME_MINUTES) == 60


def test_star_levels_with_region_overrides_and_history(
    org, volunteer, organiser, district, region_admin, frozen_clock
):
    services.record_rule_set(
        region=district,
        actor=region_admin,
        star_hours=[2, 4, 6, 8, 10],
        star_min_months=[0, 0, 1, 1, 1],
    )
    for day in (2, 3, 4):
        frozen_clock.move_to(at(day, 20))
        record = services.record_create(
            volunteer=volunteer,
            organization=org,
            region=org.region,
            kind=RecordKind.NEED,
            started_at=at(day, 9),
            ended_at=at(day, 11),
            content="上门助餐",
            source=f"need:{day}",
            created_by=None,
            need=day,
        )
        services.record_confirm(record=record, actor=organiser)
    status = services.star_status(volunteer)
    assert status.hours == 6.0
    assert status.level == 2  # 6 hours reach level 3, but not a month of service yet
    assert [a.level for a in StarAward.objects.filter(volunteer=volunteer)] == [1, 2]
    frozen_clock.move_to(dt.datetime(2026, 4, 3, 9, tzinfo=NOW.tzinfo))
    assert services.star_status(volunteer).level == 3
    assert services.star_recompute(volunteer=volunteer)[0].level == 3


def test_default_thresholds_are_the_national_ones(volunteer):
    status = services.star_status(volunteer)
    assert status.thresholds == (100, 300, 600, 1000, 1500)
    assert (status.level, status.next_level, status.hours_missing) == (0, 1, 100)


def test_certificate_numbered_registered_and_standing(
    shift, volunteer, organiser, org, frozen_clock
):
    record = serve(shift, volunteer, frozen_clock, at(4, 9, 0), at(4, 11, 0))
    services.record_confirm(record=record, actor=organiser)
    with pytest.raises(services.RecordRefused):
        services.certificate_issue(
            volunteer=volunteer,
            organization=org,
            period_start=dt.date(2025, 1, 1),
            period_end=dt.date(2025, 12, 31),
            actor=volunteer,
        )
    first = services.certificate_issue(
        volunteer=volunteer,
        organization=org,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
        actor=volunteer,
    )
    second = services.certificate_issue(
        volunteer=volunteer,
        organization=org,
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        actor=volunteer,
    )
    assert first.number == f"ZY2026-{org.pk:05d}-00001"
    assert second.number == f"ZY2026-{org.pk:05d}-00002"
    assert first.minutes == 120 and first.record_count == 1
    assert first.masked_document.startswith("110105") and "*" in first.masked_document
    assert first.responsible_person == "王建国"
    assert services.certificate_standing(first).stands
    frozen_clock.move_to(at(5, 9))
    correction = services.correction_request(
        record=record, actor=volunteer, reason="少记了", started_at=at(4, 9), ended_at=at(4, 12)
    )
    services.correction_approve(correction=correction, actor=organiser)
    standing = services.certificate_standing(first)
    assert not standing.stands
    with pytest.raises(PermissionDenied):
        services.certificate_issue(
            volunteer=volunteer,
            organization=org,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 12, 31),
            actor=organiser,
        )
    services.certificate_revoke(
        certificate=second, actor=organiser, category="replaced", note="重新开具"
    )
    assert not services.certificate_standing(second).stands


def test_flag_rates_per_organisation_and_the_hours_signal(
    make_activity, organiser, community, district, org, frozen_clock
):
    shift = first_shift(make_activity())
    a, b = new_volunteer(community), new_volunteer(community)
    serve(shift, a, frozen_clock, at(4, 9, 0), at(4, 11, 0))
    serve(shift, b, frozen_clock, at(4, 8, 30), at(4, 12, 30))  # beyond the duration
    rates = record_flag_rates([district.code], since=NOW - dt.timedelta(days=1))
    assert [(r.organization, r.records, r.flagged, r.rate) for r in rates] == [(org, 2, 1, 0.5)]
    assert weekly_claimed_hours in HOURS_PROVIDERS
    weekly = weekly_claimed_hours([org.pk], at(5, 9))
    assert sum(weekly[org.pk]) == 6.0 and len(weekly[org.pk]) == 9


def test_record_rule_is_checked_and_region_scoped(district, other_district, region_admin):
    with pytest.raises(ValidationError) as invalid:
        services.record_rule_set(region=district, actor=region_admin, star_hours=[5, 4, 3, 2, 1])
    assert "star_hours" in invalid.value.message_dict
    with pytest.raises(PermissionDenied):
        services.record_rule_set(region=other_district, actor=region_admin)
    assert not RecordRule.objects.exists()


@pytest.mark.postgres
def test_postgresql_refuses_to_delete_any_record(shift, volunteer, organiser, frozen_clock):
    record = serve(shift, volunteer, frozen_clock, at(4, 10, 0), at(4, 11, 0))
    with pytest.raises(DatabaseError), transaction.atomic():
        ServiceRecord.objects.filter(pk=record.pk).delete()
    assert ServiceRecord.objects.filter(pk=record.pk).exists()


def test_place_constant_is_in_dongcheng() -> None:
    assert 39.8 < PLACE[0] < 40.0
