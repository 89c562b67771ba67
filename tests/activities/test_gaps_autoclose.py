"""A forgotten check-out is closed by the region's grace (recording rules), at the shift's end
and flagged; people who never came are counted as no-shows by the same grace."""

from __future__ import annotations

import pytest

from tests.activities.fixtures import at, first_shift, new_volunteer
from zhiyuan.activities import services
from zhiyuan.activities.autoclose import sessions_auto_close_by_rule
from zhiyuan.activities.models import CheckMethod, ServiceSession, Signup, SignupStatus
from zhiyuan.records import services as records
from zhiyuan.records.models import ServiceRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_session(make_activity, volunteer, community, frozen_clock):
    """Shift 9:00–12:00 on 4 March: the volunteer checks in and forgets to check out; another
    person with a seat never comes."""
    shift = first_shift(make_activity())
    absent = new_volunteer(community)
    services.signup_create(shift=shift, volunteer=volunteer)
    services.signup_create(shift=shift, volunteer=absent)
    frozen_clock.move_to(at(4, 9, 5))
    services.checkin_scan(volunteer=volunteer, code=services.checkin_code(shift))
    return shift, absent


def test_a_short_grace_closes_sooner(open_session, volunteer, district, region_admin, frozen_clock):
    _shift, absent = open_session
    records.record_rule_set(region=district, actor=region_admin, checkout_grace_minutes=30)
    frozen_clock.move_to(at(4, 12, 29))
    assert sessions_auto_close_by_rule() == 0
    assert Signup.objects.get(volunteer=absent).status == SignupStatus.CONFIRMED
    frozen_clock.move_to(at(4, 12, 31))
    assert sessions_auto_close_by_rule() == 1
    session = ServiceSession.objects.get(volunteer=volunteer)
    assert session.checked_out_at == at(4, 12, 0) and session.checkout_method == CheckMethod.AUTO
    assert "auto_closed" in ServiceRecord.objects.get(volunteer=volunteer).flags
    assert Signup.objects.get(volunteer=absent).status == SignupStatus.NO_SHOW
    assert sessions_auto_close_by_rule() == 0  # once


def test_a_long_grace_waits_and_no_rule_means_two_hours(
    open_session, volunteer, district, community, region_admin, frozen_clock
):
    _shift, absent = open_session
    records.record_rule_set(region=community, actor=region_admin, checkout_grace_minutes=240)
    frozen_clock.move_to(at(4, 14, 1))
    assert sessions_auto_close_by_rule() == 0  # the national two hours would have closed it
    assert Signup.objects.get(volunteer=absent).status == SignupStatus.CONFIRMED
    frozen_clock.move_to(at(4, 16, 1))
    assert sessions_auto_close_by_rule() == 1
    assert Signup.objects.get(volunteer=absent).status == SignupStatus.NO_SHOW


def test_without_rules_the_national_two_hours_apply(open_session, volunteer, frozen_clock):
    frozen_clock.move_to(at(4, 13, 59))
    assert sessions_auto_close_by_rule() == 0
    frozen_clock.move_to(at(4, 14, 1))
    assert sessions_auto_close_by_rule() == 1


def test_the_periodic_task_applies_the_regions_grace(
    open_session, volunteer, district, region_admin, frozen_clock
):
    from zhiyuan.activities.tasks import checkouts_close

    records.record_rule_set(region=district, actor=region_admin, checkout_grace_minutes=30)
    frozen_clock.move_to(at(4, 12, 31))  # long before the national two hours
    assert checkouts_close.call() == 1
    assert ServiceSession.objects.get(volunteer=volunteer).checkout_method == CheckMethod.AUTO
