"""Two volunteers accepting the last place at the same moment, on real concurrent PostgreSQL
connections: one wins, the other is refused with a 409-kind error, and the need holds exactly
the places it asked for."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from zhiyuan.accounts.models import User
from zhiyuan.needs import services
from zhiyuan.needs.models import HOLDING, Need, NeedAssignment
from zhiyuan.needs.states import IllegalTransition, NeedState

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_on_locks() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("places", [1, 2])
def test_two_volunteers_take_the_last_place_at_once(world, places: int) -> None:
    need = world.need(people_needed=places)
    racers = world.volunteers[:2]
    offered = racers if places == 1 else world.volunteers
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=offered)
    if places == 2:  # one place is taken already; the two race for the last
        services.need_accept(need=need, volunteer=world.volunteers[2])
    results: dict[int, Any] = {}

    def accept(index: int) -> None:
        try:
            volunteer = User.objects.get(pk=racers[index].pk)
            results[index] = services.need_accept(
                need=Need.objects.get(pk=need.pk), volunteer=volunteer
            )
        except Exception as exc:  # collected and asserted below
            results[index] = exc
        finally:
            connections.close_all()

    # Hold the need's row so that both volunteers are queued on it at the same moment.
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM needs_need WHERE id = %s FOR UPDATE", [need.pk])
    threads = [threading.Thread(target=accept, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    waited = 0
    while _waiting_on_locks() < 2 and waited < 2000:
        threading.Event().wait(0.005)  # poll until both are blocked on the row lock
        waited += 1
    assert _waiting_on_locks() >= 2
    holder.commit()
    holder.close()
    for t in threads:
        t.join()

    winners = [i for i, r in results.items() if isinstance(r, NeedAssignment)]
    losers = [r for r in results.values() if isinstance(r, IllegalTransition)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].code in ("full", "not_offered")
    need.refresh_from_db()
    assert need.state == NeedState.ACCEPTED
    assert NeedAssignment.objects.filter(need=need, state__in=HOLDING).count() == places
    accepted_events = need.events.filter(action="accept").count()
    assert accepted_events == places
