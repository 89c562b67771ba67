"""The automatic "fill all open needs": a region's switch, the periodic run through the same
dispatch path as the button, what it leaves alone, that nothing happens twice, and who may
switch it (pages and API). The clock is frozen (``clock``) and moved by hand."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from tests.matching.world import NOW, MWorld, at
from zhiyuan.accounts.models import RoleGrant
from zhiyuan.accounts.services import role_revoke
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.core.schedule import REGISTRY, enqueue_due
from zhiyuan.matching.models import AutoFill, AutoFillOutcome
from zhiyuan.matching.services import (
    matching_autofill_due,
    matching_autofill_run,
    matching_autofill_set,
    matching_fill_region,
)
from zhiyuan.matching.tasks import matching_autofill
from zhiyuan.needs import services as need_services
from zhiyuan.needs.models import AssignmentState, Need, NeedAssignment, NeedEvent
from zhiyuan.needs.states import NeedState

pytestmark = pytest.mark.django_db
JSON = "application/json"
DISTRICT = "110101000000"


def as_(user: Any, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        client.force_login(user)
    return client


def offered(need: Need) -> set[int]:
    return set(
        NeedAssignment.objects.filter(need=need, state=AssignmentState.OFFERED).values_list(
            "volunteer_id", flat=True
        )
    )


def switch_on(mworld: MWorld, minutes: int = 10) -> AutoFill:
    return matching_autofill_set(
        actor=mworld.dispatcher, region=mworld.district, enabled=True, interval_minutes=minutes
    )


def test_the_periodic_task_is_registered_and_enqueued() -> None:
    name = "zhiyuan.matching.tasks.matching_autofill"
    assert REGISTRY[name].every == dt.timedelta(minutes=1)
    assert name in enqueue_due()


def test_off_by_default_nothing_runs(mworld: MWorld) -> None:
    mworld.volunteer("李明", 0.5)
    need = mworld.need(window_start=at(3, 14))
    assert AutoFill.objects.count() == 0
    assert matching_autofill_due() == {}
    assert Need.objects.get(pk=need.pk).state == NeedState.SUBMITTED


def test_a_due_run_dispatches_like_the_button_and_is_audited_as_the_system(
    mworld: MWorld,
) -> None:
    near = mworld.volunteer("李明", 0.5)
    need = mworld.need(window_start=at(3, 14))
    switch_on(mworld)
    from django.utils import translation

    with translation.override("en"):  # the thread served an English page last
        assert matching_autofill_due() == {DISTRICT: "dispatched"}

    need.refresh_from_db()
    assert need.state == NeedState.DISPATCHED
    assert offered(need) == {near.pk}
    event = NeedEvent.objects.filter(need=need, action="dispatch").get()
    assert event.note == "由匹配引擎自动运行派发"  # the worker runs in the default language
    entry = AuditEvent.objects.filter(action="matching.region_autofilled").get()
    assert entry.actor_id is None  # the system's run
    assert entry.object_id == DISTRICT
    assert entry.detail["dispatched"] == [need.pk]
    assert entry.detail["standing_order_of"] == mworld.dispatcher.pk
    row = AutoFill.objects.get(region=mworld.district)
    assert row.last_run_at == NOW
    assert row.last_outcome == AutoFillOutcome.DISPATCHED
    assert row.last_summary == {"needs": 1, "dispatched": [need.pk], "offers": 1, "unfilled": 0}


def test_runs_wait_for_the_interval(mworld: MWorld, clock: Any) -> None:
    mworld.volunteer("李明", 0.5)
    mworld.volunteer("周华", 0.8)
    switch_on(mworld, minutes=15)
    assert matching_autofill_due() == {DISTRICT: "nothing"}  # no need yet
    later = mworld.need(window_start=at(4, 14))
    clock.shift(dt.timedelta(minutes=10))
    assert matching_autofill_due() == {}  # 10 of 15 minutes: not due
    assert Need.objects.get(pk=later.pk).state == NeedState.SUBMITTED
    clock.shift(dt.timedelta(minutes=5))
    assert matching_autofill.call() == {DISTRICT: "dispatched"}  # what the worker runs
    assert Need.objects.get(pk=later.pk).state == NeedState.DISPATCHED


def test_a_run_with_nothing_new_changes_nothing(mworld: MWorld, clock: Any) -> None:
    mworld.volunteer("李明", 0.5)
    need = mworld.need(window_start=at(3, 14))
    nobody = mworld.need(skills=["sign_language"], window_start=at(3, 14))
    switch_on(mworld)
    assert matching_autofill_due() == {DISTRICT: "dispatched"}
    offers = list(NeedAssignment.objects.values_list("pk", "offered_at", "state"))
    events, audits = NeedEvent.objects.count(), AuditEvent.objects.count()

    clock.shift(dt.timedelta(minutes=10))
    assert matching_autofill_due() == {DISTRICT: "nothing"}
    # The need nobody can serve is looked at again, and nothing is written for it or anyone.
    assert list(NeedAssignment.objects.values_list("pk", "offered_at", "state")) == offers
    assert NeedEvent.objects.count() == events
    assert AuditEvent.objects.count() == audits
    assert Need.objects.get(pk=nobody.pk).state == NeedState.SUBMITTED
    assert Need.objects.get(pk=need.pk).state == NeedState.DISPATCHED
    row = AutoFill.objects.get(region=mworld.district)
    assert row.last_outcome == AutoFillOutcome.NOTHING
    assert row.last_summary == {"needs": 1, "dispatched": [], "offers": 0, "unfilled": 1}
    assert row.last_run_at == NOW + dt.timedelta(minutes=10)


def test_hand_dispatched_reviewed_and_accepted_needs_are_left_alone(mworld: MWorld) -> None:
    chosen = mworld.volunteer("李明", 2.0)
    mworld.volunteer("周华", 0.3)
    mworld.volunteer("吴芳", 0.4)
    by_hand = mworld.need(window_start=at(3, 14))
    need_services.need_dispatch(need=by_hand, actor=mworld.dispatcher, volunteers=[chosen])
    reviewing = mworld.need(window_start=at(4, 14))
    need_services.need_review(need=reviewing, actor=mworld.dispatcher)
    accepted = mworld.need(window_start=at(5, 14))
    need_services.need_dispatch(need=accepted, actor=mworld.dispatcher, volunteers=[chosen])
    need_services.need_accept(need=accepted, volunteer=chosen)
    fresh = mworld.need(window_start=at(6, 9))

    switch_on(mworld)
    assert matching_autofill_due() == {DISTRICT: "dispatched"}
    assert offered(Need.objects.get(pk=by_hand.pk)) == {chosen.pk}  # the dispatcher's choice
    assert Need.objects.get(pk=reviewing.pk).state == NeedState.UNDER_REVIEW
    assert Need.objects.get(pk=accepted.pk).state == NeedState.ACCEPTED
    assert Need.objects.get(pk=fresh.pk).state == NeedState.DISPATCHED
    assert AuditEvent.objects.get(action="matching.region_autofilled").detail["dispatched"] == [
        fresh.pk
    ]
    # The button, by contrast, fills the need under review too: the dispatcher chose to.
    result = matching_fill_region(actor=mworld.dispatcher, region=mworld.district, request=None)
    assert [d.need.pk for d in result.dispatched] == [reviewing.pk]


def test_switching_is_idempotent_and_audited(mworld: MWorld) -> None:
    switch_on(mworld, minutes=20)
    switch_on(mworld, minutes=20)
    entries = AuditEvent.objects.filter(action="matching.autofill_changed")
    assert entries.count() == 1
    assert entries.get().actor_id == mworld.dispatcher.pk
    assert entries.get().detail == {"enabled": True, "interval_minutes": 20}
    matching_autofill_set(actor=mworld.dispatcher, region=mworld.district, enabled=False)
    row = AutoFill.objects.get(region=mworld.district)
    assert (row.enabled, row.interval_minutes) == (False, 20)
    assert entries.count() == 2


def test_an_interval_out_of_range_is_refused(mworld: MWorld) -> None:
    for minutes in (0, 4, 1441):
        with pytest.raises(ValidationError) as caught:
            switch_on(mworld, minutes=minutes)
        assert "interval_minutes" in caught.value.message_dict
    assert AutoFill.objects.count() == 0


def test_an_outsider_may_not_switch_it(mworld: MWorld) -> None:
    for actor, region in (
        (mworld.outsider_dispatcher, mworld.district),
        (mworld.resident, mworld.community),
    ):
        with pytest.raises(PermissionDenied) as caught:
            matching_autofill_set(actor=actor, region=region, enabled=True)
        record_refusal(caught.value)  # the request layer's job, once the test's transaction is gone
    assert AutoFill.objects.count() == 0
    refusals = AuditEvent.objects.filter(action="access.denied", object_type="matching.fill")
    assert refusals.count() == 2


def test_the_run_stops_when_the_standing_order_lapses(mworld: MWorld) -> None:
    mworld.volunteer("李明", 0.5)
    need = mworld.need(window_start=at(3, 14))
    switch_on(mworld)
    grant = RoleGrant.objects.get(user=mworld.dispatcher, revoked_at__isnull=True)
    role_revoke(grant=grant)
    assert matching_autofill_due() == {DISTRICT: "stopped"}
    row = AutoFill.objects.get(region=mworld.district)
    assert not row.enabled and row.last_outcome == AutoFillOutcome.STOPPED
    assert Need.objects.get(pk=need.pk).state == NeedState.SUBMITTED
    entry = AuditEvent.objects.filter(action="matching.autofill_changed").latest("id")
    assert entry.actor_id is None and entry.detail["enabled"] is False
    assert matching_autofill_due() == {}  # switched off now


def test_a_solve_that_cannot_be_set_up_is_reported(mworld: MWorld) -> None:
    for k in range(33):  # 32 skill bits at most
        mworld.need(skills=[f"s{k}"], window_start=at(3, 14))
    switch_on(mworld)
    assert matching_autofill_run(region_code=DISTRICT) == "problem"
    row = AutoFill.objects.get(region=mworld.district)
    assert row.last_summary["code"] == "too_many_skills"
    assert AutoFill.objects.get(region=mworld.district).last_run_at == NOW


# --- page and API -------------------------------------------------------------------------------


def test_the_dispatcher_sees_the_last_run_and_switches_it_on_the_page(
    mworld: MWorld, clock: Any
) -> None:
    mworld.volunteer("李明", 0.5)
    mworld.need(window_start=at(3, 14))
    client = as_(mworld.dispatcher)
    page = client.get("/matching/fill/").content.decode()
    assert "Automatic fill" in page and "Off." in page and "Not run yet." in page
    response = client.post(
        "/matching/autofill/",
        {
            "autofill_region": DISTRICT,
            f"{DISTRICT}-enabled": "on",
            f"{DISTRICT}-interval_minutes": "5",
        },
    )
    assert response.status_code == 302
    assert AutoFill.objects.get(region=mworld.district).enabled
    matching_autofill_due()
    page = client.get("/matching/fill/").content.decode()
    assert "On: every 5 minutes." in page
    assert "Switched on by 刘洋." in page
    assert "Last automatic run 2026-03-02 09:00:" in page
    assert (
        "1 needs dispatched, 1 volunteers asked, 0 left short (of 1 open needs looked at)." in page
    )
    assert "Next run about 09:05." in page


def test_the_page_keeps_what_was_typed_when_the_interval_is_wrong(mworld: MWorld) -> None:
    response = as_(mworld.dispatcher).post(
        "/matching/autofill/",
        {
            "autofill_region": DISTRICT,
            f"{DISTRICT}-enabled": "on",
            f"{DISTRICT}-interval_minutes": "2",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'value="2"' in page
    assert "Ensure this value is greater than or equal to 5." in page
    assert AutoFill.objects.count() == 0


def test_outsiders_are_refused_on_the_page(mworld: MWorld) -> None:
    data = {
        "autofill_region": DISTRICT,
        f"{DISTRICT}-enabled": "on",
        f"{DISTRICT}-interval_minutes": "5",
    }
    assert as_(mworld.outsider_dispatcher).post("/matching/autofill/", data).status_code == 403
    assert as_(mworld.resident).get("/matching/autofill/").status_code == 403
    assert as_(mworld.dispatcher).get("/matching/autofill/").status_code == 302  # to the page
    assert as_(mworld.resident).post("/matching/autofill/", data).status_code == 403
    assert as_(None).post("/matching/autofill/", data).status_code == 302  # to the log-in
    assert AutoFill.objects.count() == 0


def test_the_api_reads_and_switches_it(mworld: MWorld) -> None:
    client = as_(mworld.dispatcher)
    url = f"/api/v1/matching/regions/{DISTRICT}/autofill"
    got = client.get(url).json()
    assert got["enabled"] is False and got["interval_minutes"] == 10
    assert got["last_run_at"] is None and got["last_run_text"] == "Not run yet."
    put = client.put(url, json.dumps({"enabled": True, "interval_minutes": 30}), content_type=JSON)
    assert put.status_code == 200, put.content
    assert put.json()["enabled"] is True and put.json()["interval_minutes"] == 30
    matching_autofill_due()
    got = client.get(url).json()
    assert got["last_outcome"] == "nothing"
    assert got["last_run_text"] == "Nothing new to dispatch (0 open needs looked at)."
    assert got["next_run_at"] == "2026-03-02T01:30:00Z"  # 09:30 in Beijing
    bad = client.put(url, json.dumps({"enabled": True, "interval_minutes": 3}), content_type=JSON)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    assert client.get("/api/v1/matching/regions/999999999999/autofill").status_code == 404


def test_outsiders_are_refused_on_the_api(mworld: MWorld) -> None:
    url = f"/api/v1/matching/regions/{DISTRICT}/autofill"
    body = json.dumps({"enabled": True})
    for user in (mworld.outsider_dispatcher, mworld.resident):
        client = as_(user)
        assert client.get(url).status_code == 403
        assert client.put(url, body, content_type=JSON).status_code == 403
    assert AutoFill.objects.count() == 0


# --- races -------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_region_at_once_run_it_once(
    district: Any, other_district: Any
) -> None:
    import threading

    from django.db import connection
    from django.utils import timezone

    from tests.matching.world import build_world

    world = build_world(district, other_district)
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=14, minute=0)
    world.volunteer("李明", 0.5)
    world.volunteer("周华", 0.7)
    need = world.need(window_start=start, people_needed=2)
    matching_autofill_set(actor=world.dispatcher, region=world.district, enabled=True)
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = matching_autofill_run(region_code=DISTRICT)
        except Exception as exc:  # the test looks at what each one got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The setting's row lock: the second run waits, then finds the region no longer due.
    assert sorted(results, key=str) == [None, "dispatched"], results
    assert NeedEvent.objects.filter(need=need, action="dispatch").count() == 1
    assert NeedAssignment.objects.filter(need=need).count() == 2
    assert AuditEvent.objects.filter(action="matching.region_autofilled").count() == 1
