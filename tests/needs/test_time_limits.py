"""Time limits per urgency and region, watched by the clock — tested with a frozen clock."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.schedule import REGISTRY
from zhiyuan.needs import selectors, services
from zhiyuan.needs.models import AssignmentState, NeedAssignment, Urgency
from zhiyuan.needs.states import NeedState
from zhiyuan.notifications.models import Notification

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def kinds(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user).order_by("pk").values_list("kind", flat=True)
    )


def test_the_watch_is_a_periodic_task() -> None:
    assert REGISTRY["zhiyuan.needs.tasks.needs_watch"].every == dt.timedelta(minutes=1)


def test_an_unaccepted_dispatch_returns_to_the_queue_and_alerts_the_dispatcher(world) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need(urgency=Urgency.URGENT)  # urgent: one hour to accept
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=world.volunteers[:2])
        clock.move_to(at(59))
        assert services.need_deadlines_enforce().returned == 0
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED
        clock.move_to(at(61))
        report = services.need_deadlines_enforce()
        assert report.returned == 1
        need.refresh_from_db()
        assert need.state == NeedState.RETURNED
        assert need.review_due_at == at(61) + dt.timedelta(hours=2)
        assert not NeedAssignment.objects.filter(need=need, state=AssignmentState.OFFERED).exists()
        alert = Notification.objects.get(user=world.dispatcher, kind="need.returned")
        assert alert.urgent
        assert "need.offer_withdrawn" in kinds(world.volunteers[0])
        assert services.need_deadlines_enforce().returned == 0  # once


def test_review_overdue_alerts_once_and_shows_in_the_queue(world) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need(urgency=Urgency.EMERGENCY)  # 15 minutes to review
        clock.move_to(at(12))
        deadline = selectors.need_deadline(need)
        assert deadline is not None and deadline.due_soon and not deadline.overdue
        clock.move_to(at(16))
        need.refresh_from_db()
        assert selectors.need_deadline(need).overdue
        queue = selectors.need_queue(
            [world.district.code], selectors.QueueFilters(state="open", overdue=True)
        )
        assert list(queue) == [need]
        assert services.need_deadlines_enforce().review_alerts == 1
        assert services.need_deadlines_enforce().review_alerts == 0
        assert kinds(world.dispatcher).count("need.review_overdue") == 1


def test_start_overdue_alerts_the_dispatcher_and_the_volunteer(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need(window_start=at(120), window_end=at(240))
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        services.need_accept(need=need, volunteer=volunteer)
        need.refresh_from_db()
        assert need.start_due_at == at(150)  # the window opens, plus 30 minutes' grace
        clock.move_to(at(151))
        assert services.need_deadlines_enforce().start_alerts == 1
        assert "need.start_overdue" in kinds(world.dispatcher)
        assert "need.start_overdue" in kinds(volunteer)
        services.need_start(need=need, volunteer=volunteer)
        need.refresh_from_db()
        assert need.start_due_at is None and need.state == NeedState.IN_SERVICE


def test_reminders_come_before_the_deadline_once(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need()  # routine: 24 hours to accept
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        clock.move_to(at(60 * 21))  # 3 hours left: not yet "soon" (2 hours at most)
        services.need_deadlines_enforce()
        assert "need.remind_accept" not in kinds(volunteer)
        clock.move_to(at(60 * 22 + 30))
        services.need_deadlines_enforce()
        clock.move_to(at(60 * 22 + 40))
        services.need_deadlines_enforce()
        assert kinds(volunteer).count("need.remind_accept") == 1


def test_needs_expire_when_nobody_accepted_in_time(world) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        windowed = world.need(window_start=at(60), window_end=at(180))
        asap = world.need()
        services.need_review(need=asap, actor=world.dispatcher)
        clock.move_to(at(181))
        report = services.need_deadlines_enforce()
        assert report.expired == 1
        windowed.refresh_from_db()
        assert windowed.state == NeedState.EXPIRED
        assert "need.expired" in kinds(world.resident)
        clock.move_to(T0 + dt.timedelta(days=7, minutes=1))
        services.need_deadlines_enforce()
        asap.refresh_from_db()
        assert asap.state == NeedState.EXPIRED


def test_an_accepted_need_does_not_expire(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need(window_start=at(60), window_end=at(180))
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        services.need_accept(need=need, volunteer=volunteer)
        clock.move_to(at(200))
        services.need_deadlines_enforce()
        need.refresh_from_db()
        assert need.state == NeedState.ACCEPTED


def test_a_regions_own_limits_apply(world) -> None:
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    services.need_policy_set(
        region=world.district,
        teams_may_grab=False,
        low_rating=2,
        limits={"routine": (60, 30, 120)},
        actor=admin,
    )
    with time_machine.travel(T0, tick=False) as clock:
        need = world.need()
        assert need.review_due_at == at(60)
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=world.volunteers[:1])
        clock.move_to(at(31))
        assert services.need_deadlines_enforce().returned == 1
