"""Priced time-bank service items (issue 6, item 3): a confirmed record of an activity that
names a service item deposits the item's price where the region prices items, the minutes
served where it does not (or the item left the price list), and keeps the priced amount across
a correction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.activities.fixtures import at, first_shift
from zhiyuan.activities import services as activities
from zhiyuan.activities.models import Signup, SignupStatus
from zhiyuan.ledger.models import Account, Asset, Transaction
from zhiyuan.ledger.services import (
    timebank_item_save,
    timebank_item_withdraw,
    timebank_policy_set,
)
from zhiyuan.records import services
from zhiyuan.records.models import RecordStatus, ServiceRecord

pytestmark = pytest.mark.django_db


def minutes_held(user: Any) -> int:
    account = Account.objects.filter(kind="user", user=user, asset=Asset.TIME_MINUTES).first()
    return account.balance if account else 0


def serve(shift: Any, person: Any, clock: Any, start: dt.datetime, end: dt.datetime) -> Any:
    """Sign up, check in and out by scanning the code; return the record."""
    Signup.objects.get_or_create(
        shift=shift,
        volunteer=person,
        defaults={"status": SignupStatus.CONFIRMED, "signed_up_by": person},
    )
    clock.move_to(start)
    activities.checkin_scan(volunteer=person, code=activities.checkin_code(shift))
    clock.move_to(end)
    activities.checkout_scan(volunteer=person, code=activities.checkin_code(shift))
    return ServiceRecord.objects.get(session__shift=shift, session__volunteer=person)


def set_pricing(region: Any, admin: Any, *, priced: bool) -> None:
    timebank_policy_set(
        region=region, cap_minutes=1500 * 60, min_withdraw_age=60, priced_items=priced, actor=admin
    )


@pytest.fixture
def priced(district, community, region_admin) -> dict[str, Any]:
    """The district prices items: bathing help 90 minutes; the community prices it at 120."""
    set_pricing(district, region_admin, priced=True)
    return {
        "district_item": timebank_item_save(
            region=district, code="bath-help", name="助浴", minutes=90, actor=region_admin
        ),
        "community_item": timebank_item_save(
            region=community, code="bath-help", name="助浴", minutes=120, actor=region_admin
        ),
        "chat": timebank_item_save(
            region=district, code="chat", name="陪伴聊天", minutes=45, actor=region_admin
        ),
    }


def test_a_priced_activity_deposits_the_nearest_regions_price_not_the_hours(
    make_activity, volunteer, organiser, earning_rules, priced, frozen_clock
):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10))
    record = services.record_confirm(record=record, actor=organiser)
    assert record.credited_minutes == 60
    assert minutes_held(volunteer) == 120  # the community's price, not 60 minutes served
    assert record.points == 10  # points still count the hour served (10 an hour)
    assert record.ledger_note == ""


def test_the_priced_amount_stays_right_across_a_correction(
    make_activity, volunteer, organiser, earning_rules, priced, frozen_clock
):
    activity = make_activity(time_bank=True, timebank_item="chat")
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10))
    services.record_confirm(record=record, actor=organiser)
    assert minutes_held(volunteer) == 45
    frozen_clock.move_to(at(5, 9))
    correction = services.correction_request(
        record=record,
        actor=volunteer,
        reason="少记了一小时",
        started_at=at(4, 9),
        ended_at=at(4, 11),
    )
    new = services.correction_approve(correction=correction, actor=organiser)
    assert new.status == RecordStatus.CONFIRMED and new.credited_minutes == 120
    # The first deposit was reversed and the new version deposited the price once more.
    assert minutes_held(volunteer) == 45
    assert Transaction.objects.filter(idempotency_key=f"undeposit:{record.ledger_source}").exists()
    redeposit = Transaction.objects.get(idempotency_key=f"deposit:{new.ledger_source}")
    assert sorted(p.amount for p in redeposit.postings.all()) == [45]


@pytest.mark.parametrize("since", ["withdrawn", "re-priced"])
def test_a_correction_keeps_the_price_the_service_was_confirmed_at(
    make_activity,
    volunteer,
    organiser,
    earning_rules,
    priced,
    region_admin,
    district,
    frozen_clock,
    since,
):
    """Deposits made keep their credit: a correction of the times, after the item left the
    list or changed its price, neither re-prices it nor falls back to the minutes served
    (review finding: a one-minute correction turned a 45-minute deposit into 121)."""
    activity = make_activity(time_bank=True, timebank_item="chat")  # 45 in the district
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 11))
    services.record_confirm(record=record, actor=organiser)
    assert minutes_held(volunteer) == 45
    if since == "withdrawn":
        timebank_item_withdraw(item=priced["chat"], actor=region_admin)
    else:
        timebank_item_save(
            region=district, code="chat", name="陪伴聊天", minutes=200, actor=region_admin
        )
    for n, end in enumerate((at(4, 11, 1), at(4, 11, 2)), start=1):
        frozen_clock.move_to(at(5, 9, n))
        current = ServiceRecord.objects.get(
            volunteer=volunteer, status=RecordStatus.CONFIRMED, activity=activity
        )
        correction = services.correction_request(
            record=current,
            actor=volunteer,
            reason="结束时间记错",
            started_at=at(4, 9),
            ended_at=end,
        )
        new = services.correction_approve(correction=correction, actor=organiser)
        assert new.status == RecordStatus.CONFIRMED
        assert minutes_held(volunteer) == 45  # twice corrected, still the price first given
        redeposit = Transaction.objects.get(idempotency_key=f"deposit:{new.ledger_source}")
        assert redeposit.memo == "item:chat"


def test_pricing_off_deposits_the_minutes_served(
    make_activity, volunteer, organiser, earning_rules, priced, district, region_admin, frozen_clock
):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    set_pricing(district, region_admin, priced=False)  # the district counts hours again
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10, 30))
    services.record_confirm(record=record, actor=organiser)
    assert minutes_held(volunteer) == 90


def test_an_activity_naming_no_item_deposits_the_minutes_served(
    make_activity, volunteer, organiser, earning_rules, priced, frozen_clock
):
    activity = make_activity(time_bank=True)
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10, 30))
    services.record_confirm(record=record, actor=organiser)
    assert minutes_held(volunteer) == 90


def test_a_withdrawn_item_deposits_the_minutes_served_and_says_so(
    make_activity, volunteer, organiser, earning_rules, priced, region_admin, frozen_clock
):
    activity = make_activity(time_bank=True, timebank_item="chat")
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10, 30))
    assert timebank_item_withdraw(item=priced["chat"], actor=region_admin) is None
    record = services.record_confirm(record=record, actor=organiser)
    assert record.status == RecordStatus.CONFIRMED
    assert minutes_held(volunteer) == 90
    assert "chat" in record.ledger_note and "minutes served" in record.ledger_note


def test_withdrawing_the_communitys_item_falls_back_to_the_districts_price(
    make_activity, volunteer, organiser, earning_rules, priced, region_admin, frozen_clock
):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10))
    timebank_item_withdraw(item=priced["community_item"], actor=region_admin)
    record = services.record_confirm(record=record, actor=organiser)
    assert minutes_held(volunteer) == 90
    assert record.ledger_note == ""


def test_the_volunteer_reads_what_the_ledger_did_instead_in_their_language(
    client, make_activity, volunteer, organiser, priced, region_admin, frozen_clock
):
    """No earning rules in the region (no points) and a withdrawn item (minutes deposited):
    both are said on the volunteer's records page, in Chinese by default and in English."""
    activity = make_activity(time_bank=True, timebank_item="chat")
    record = serve(first_shift(activity), volunteer, frozen_clock, at(4, 9), at(4, 10, 30))
    timebank_item_withdraw(item=priced["chat"], actor=region_admin)
    record = services.record_confirm(record=record, actor=organiser)
    assert record.points is None
    client.force_login(volunteer)
    page = client.get("/records/mine/").content.decode()
    assert "本条记录未计积分：本地区尚未设定积分规则。" in page
    assert "时间银行服务项目 chat 已不再定价，改按实际服务分钟数存入。" in page
    page = client.get("/records/mine/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No points for this record: the region has no earning rules yet." in page
    assert "The time-bank service item chat is no longer priced" in page
