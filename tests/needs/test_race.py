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


def _race(hold_sql: str, hold_params: list[Any], calls: list[Any]) -> list[Any]:
    """Run ``calls`` on their own connections, all queued behind one held row lock."""
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:  # collected and asserted by the caller
            results[index] = exc
        finally:
            connections.close_all()

    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute(hold_sql, hold_params)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    waited = 0
    while _waiting_on_locks() < len(calls) and waited < 2000:
        threading.Event().wait(0.005)  # poll until every call is blocked on the row lock
        waited += 1
    assert _waiting_on_locks() >= len(calls)
    holder.commit()
    holder.close()
    for t in threads:
        t.join()
    return results


def test_a_member_cancelling_as_the_volunteer_starts_refunds_or_spends_never_both(
    world, bank
) -> None:
    from tests.needs.conftest import minutes_of
    from zhiyuan.needs.models import NeedTimeBank

    volunteer = world.volunteers[0]
    need = world.need(poster=bank.member, timebank_minutes=120, timebank_relative=bank.mother.pk)
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
    services.need_accept(need=need, volunteer=volunteer)
    results = _race(
        "SELECT id FROM needs_need WHERE id = %s FOR UPDATE",
        [need.pk],
        [
            lambda: services.need_cancel(
                need=Need.objects.get(pk=need.pk), actor=User.objects.get(pk=bank.member.pk)
            ),
            lambda: services.need_start(
                need=Need.objects.get(pk=need.pk), volunteer=User.objects.get(pk=volunteer.pk)
            ),
        ],
    )
    refused = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(refused) == 1, results
    need.refresh_from_db()
    held = NeedTimeBank.objects.get(need=need)
    if need.state == NeedState.CANCELLED:
        assert held.status == "refunded" and minutes_of(bank.member) == 600
    else:
        assert need.state == NeedState.IN_SERVICE
        assert held.status == "spent" and minutes_of(bank.member) == 480


def test_two_requests_at_once_cannot_spend_the_same_credit(world, bank) -> None:
    from tests.needs.conftest import minutes_of
    from zhiyuan.ledger.models import Account
    from zhiyuan.needs.models import NeedTimeBank
    from zhiyuan.needs.timebank import TimeBankRefused

    account = Account.objects.get(user=bank.member, asset="time_minutes")

    def post() -> Any:
        return world.need(
            poster=User.objects.get(pk=bank.member.pk),
            timebank_minutes=400,
            timebank_relative=bank.mother.pk,
        )

    results = _race(
        "SELECT id FROM ledger_account WHERE id = %s FOR UPDATE", [account.pk], [post, post]
    )
    posted = [r for r in results if isinstance(r, Need)]
    refused = [r for r in results if isinstance(r, TimeBankRefused)]
    assert len(posted) == 1 and len(refused) == 1, results
    assert refused[0].refusal_code == "insufficient_balance"
    assert minutes_of(bank.member) == 200
    assert Need.objects.count() == 1 and NeedTimeBank.objects.count() == 1
