"""Races with real concurrent connections on PostgreSQL (SQLite ignores row locks, so these
prove nothing there), and parallel writers on a SQLite file queueing instead of failing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.activities.fixtures import at, first_shift, new_volunteer
from zhiyuan.activities import services
from zhiyuan.activities.models import ServiceSession, Shift, Signup, SignupStatus

HERE = Path(__file__).resolve().parent


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables at the same moment, each thread with its own connection."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # the test looks at what each one got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_take_the_last_seat_at_once(make_activity, community):
    shift = first_shift(make_activity(capacity=1))
    a, b = new_volunteer(community), new_volunteer(community)
    results = race(
        [
            lambda: services.signup_create(shift=shift, volunteer=a),
            lambda: services.signup_create(shift=shift, volunteer=b),
        ]
    )
    assert sorted(r.status for r in results) == [SignupStatus.CONFIRMED, SignupStatus.WAITLISTED]
    shift.refresh_from_db()
    assert shift.seats_taken == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_people_race_for_ten_seats(make_activity, community):
    shift = first_shift(make_activity(capacity=10))
    people = [new_volunteer(community) for _ in range(50)]
    results = race([lambda p=p: services.signup_create(shift=shift, volunteer=p) for p in people])
    assert not [r for r in results if isinstance(r, Exception)]
    statuses = [r.status for r in results]
    assert statuses.count(SignupStatus.CONFIRMED) == 10
    assert statuses.count(SignupStatus.WAITLISTED) == 40
    shift.refresh_from_db()
    assert shift.seats_taken == 10
    assert Signup.objects.filter(shift=shift, status=SignupStatus.CONFIRMED).count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_double_scans_at_the_same_moment_make_one_checkin(make_activity, volunteer, frozen_clock):
    shift = first_shift(make_activity())
    services.signup_create(shift=shift, volunteer=volunteer)
    frozen_clock.move_to(at(4, 9, 0))
    code = services.checkin_code(shift)
    results = race([lambda: services.checkin_scan(volunteer=volunteer, code=code)] * 8)
    assert not [r for r in results if isinstance(r, Exception)]
    assert [r.created for r in results].count(True) == 1
    assert len({r.session.pk for r in results}) == 1
    assert ServiceSession.objects.filter(shift=shift).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_overbooked_shift(make_activity):
    from django.db import IntegrityError

    shift = first_shift(make_activity(capacity=2))
    with pytest.raises(IntegrityError):
        Shift.objects.filter(pk=shift.pk).update(seats_taken=3)


def test_parallel_writers_on_sqlite_queue_instead_of_failing(tmp_path: Path) -> None:
    """30 threads sign up for a 10-seat shift at once on a SQLite file (WAL, busy timeout,
    IMMEDIATE transactions): nobody gets "database is locked", nothing is half-written."""
    database = tmp_path / "writers.sqlite3"
    done = subprocess.run(
        [sys.executable, str(HERE / "sqlite_writers.py"), str(database), "30", "10"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["confirmed"] == 10
    assert report["waitlisted"] == 20
    assert report["seats_taken"] == 10
    assert report["signups"] == 30
    assert report["audit_signups"] == 30  # every row has its audit entry, no orphans
    assert report["journal_mode"] == "wal"


def seat_written_on(other: Any, shift: Shift, person: Any) -> None:
    """A confirmed seat of ``person`` in ``shift`` written on the connection ``other`` (as a
    sign-up in progress writes it), not committed."""
    other.execute(
        "INSERT INTO activities_signup (shift_id, volunteer_id, status, created_at, "
        "signed_up_by_id, cancel_reason, late_cancel) "
        "VALUES (%s, %s, 'confirmed', now(), %s, '', false)",
        [shift.pk, person.pk, person.pk],
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_freed_seat_passes_over_a_person_whose_clashing_signup_is_being_written(
    make_activity, community
):
    """A seat frees while the first person on the waitlist is being signed up for a shift at
    the same hours elsewhere (their lock held, the seat written, not yet committed): the seat
    is offered to the next person, and the first stays on the list, never holding two seats
    at once."""
    import psycopg

    shift = first_shift(make_activity(capacity=1))
    elsewhere = first_shift(make_activity(capacity=10))  # the same hours
    holder, first, second = (new_volunteer(community) for _ in range(3))
    holding = services.signup_create(shift=shift, volunteer=holder)
    first_waiting = services.signup_create(shift=shift, volunteer=first)
    second_waiting = services.signup_create(shift=shift, volunteer=second)
    assert first_waiting.status == second_waiting.status == SignupStatus.WAITLISTED
    with psycopg.connect(**connection.get_connection_params()) as other:
        # As the quick sign-up's function locks the person (a lock that foreign-key checks of
        # rows referring to them, such as the offer's notification, do not wait for).
        other.execute("SELECT 1 FROM accounts_user WHERE id = %s FOR NO KEY UPDATE", [first.pk])
        seat_written_on(other, elsewhere, first)
        services.signup_cancel(signup=holding, actor=holder, reason="家里有事")
        other.commit()
    first_waiting.refresh_from_db()
    second_waiting.refresh_from_db()
    assert first_waiting.status == SignupStatus.WAITLISTED
    assert second_waiting.status == SignupStatus.OFFERED
    seats = Signup.objects.filter(volunteer=first, status__in=services.SEAT_HOLDING)
    assert list(seats.values_list("shift_id", flat=True)) == [elsewhere.pk]
