"""Real concurrent connections on PostgreSQL: double spends, duplicate requests, killed sessions.

Each thread has its own database connection (Django's are per thread) and closes it at the end.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import errors, services
from zhiyuan.ledger.models import Account, Asset, Relation, Transaction
from zhiyuan.ledger.verify import ledger_verify
from zhiyuan.organizations.models import OrganizationKind
from zhiyuan.store import services as store
from zhiyuan.store.models import Reward, Voucher

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MEMBERS = 30
WORKERS = 24
REQUESTS = 600
START_POINTS = 60
START_MINUTES = 100


@pytest.fixture
def world(district, community, admin):
    people = [make_user(Role.VOLUNTEER, region=community) for _ in range(MEMBERS)]
    relatives = {}
    for i, person in enumerate(people):
        services.ledger_import_opening_balance(
            user=person,
            region=district,
            points=START_POINTS,
            minutes=START_MINUTES,
            reference=f"paper-{i}",
        )
        relatives[person.pk] = services.relative_register(
            member=person,
            relation=Relation.CHILD,
            name=f"子女{i}",
            birth_date=dt.date(1990, 1, 1),
            region=community,
            registered_by=admin,
            account_user=people[(i + 1) % MEMBERS],
        )
    shops = [OrganizationFactory(region=district, kind=OrganizationKind.MERCHANT) for _ in range(2)]
    rewards = [
        Reward.objects.create(
            organization=shops[i % 2], name=f"奖品{i}", kind="goods", price_points=10, stock=25
        )
        for i in range(4)
    ]
    return {"people": people, "relatives": relatives, "rewards": rewards}


def test_duplicate_requests_from_24_connections_book_exactly_once(world) -> None:
    people, relatives, rewards = world["people"], world["relatives"], world["rewards"]
    assert Account.objects.count() <= 80
    rng = random.Random(6)
    requests = []
    for n in range(REQUESTS):
        who = rng.choice(people)
        if n % 2:
            requests.append(("redeem", f"redeem-{n:06d}", who, rng.choice(rewards)))
        else:
            requests.append(("transfer", f"transfer-{n:06d}", who, rng.randint(1, 25)))
    work: queue.Queue[Any] = queue.Queue()
    for item in rng.sample(requests * 2, len(requests) * 2):  # each request sent twice
        work.put(item)
    results: dict[str, list[Any]] = defaultdict(list)
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                try:
                    op, key, who, arg = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    if op == "redeem":
                        outcome: Any = (
                            "ok",
                            store.store_redeem(volunteer=who, reward=arg, key=key).pk,
                        )
                    else:
                        tx = services.timebank_transfer(
                            member=who, relative=relatives[who.pk], minutes=arg, key=key
                        )
                        outcome = ("ok", tx.pk)
                except (errors.Overdrawn, store.OutOfStock) as exc:
                    outcome = ("refused", type(exc).__name__)
                with lock:
                    results[key].append(outcome)
        except BaseException as exc:  # a deadlock not retried would land here
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(len(v) for v in results.values()) == 2 * REQUESTS

    booked = Counter(
        Transaction.objects.filter(
            idempotency_key__in=[key for _op, key, _who, _arg in requests]
        ).values_list("idempotency_key", flat=True)
    )
    expected_points = {p.pk: START_POINTS for p in people}
    expected_minutes = {p.pk: START_MINUTES for p in people}
    sold = Counter()
    for op, key, who, arg in requests:
        successes = {pk for status, pk in results[key] if status == "ok"}
        assert len(successes) <= 1, key  # both sends got the same booking, or it was refused
        assert booked[key] == len(successes), key  # exactly one booking per successful key
        if not successes:
            continue
        if op == "redeem":
            expected_points[who.pk] -= arg.price_points
            sold[arg.pk] += 1
        else:
            expected_minutes[who.pk] -= arg
            expected_minutes[relatives[who.pk].account_user_id] += arg
    assert sum(booked.values()) > REQUESTS // 3  # a real mix of successes and refusals
    for person in people:
        points = Account.objects.get(kind="user", user=person, asset=Asset.POINTS).balance
        minutes = Account.objects.get(kind="user", user=person, asset=Asset.TIME_MINUTES).balance
        assert (points, minutes) == (expected_points[person.pk], expected_minutes[person.pk])
    for reward in rewards:
        reward.refresh_from_db()
        assert reward.stock == 25 - sold[reward.pk] >= 0
        assert Voucher.objects.filter(reward=reward).count() == sold[reward.pk]
    services.ledger_seal()
    report = ledger_verify()
    assert report.problem is None, report.problems
    assert report.unsealed == 0 and set(report.totals.values()) == {0}


@pytest.fixture(params=["one statement", "full service"])
def path(request, monkeypatch) -> str:
    """Run a test through both ways a transfer can be booked: the one-statement booking
    (``book_at_once``) and the full service it falls back to."""
    if request.param == "full service":
        monkeypatch.setattr(services, "book_at_once", lambda **kwargs: None)
    return request.param


def _wait_until_blocked(pid: int) -> None:
    """Return once the server process ``pid`` waits for a lock (the caller has seen the
    process start the statement that will wait)."""
    waiting = None
    while waiting != "Lock":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            waiting = cursor.fetchone()[0]


HOLD = 4242  # the advisory lock the test holds while a booking waits inside its statement


def test_a_connection_killed_mid_transaction_leaves_nothing_half_written(
    world, monkeypatch, path
) -> None:
    who = world["people"][0]
    relative = world["relatives"][who.pk]
    # Warm the accounts (the one-statement booking needs to know them): a first transfer.
    services.timebank_transfer(member=who, relative=relative, minutes=1, key="warm-00001")
    start = Account.objects.get(kind="user", user=who, asset=Asset.TIME_MINUTES).balance
    booked_but_not_committed = threading.Event()
    killed = threading.Event()
    pid: list[int] = []
    outcome: list[BaseException] = []
    real_audit = services.audit_record

    def audit_then_wait(**kwargs: Any) -> Any:
        # Called by ``book`` after the transaction and its postings were written and applied
        # to the balances, before commit: the moment to pull the plug.
        event = real_audit(**kwargs)
        booked_but_not_committed.set()
        killed.wait(timeout=30)
        return event

    monkeypatch.setattr(services, "audit_record", audit_then_wait)
    started = threading.Event()
    with connection.cursor() as cursor:
        # The one-statement booking has no moment between its writes and its commit that
        # Python sees: a trigger, fired after the transaction, its postings (and their
        # application to the balances) and the audit entry are written, holds it there. (The
        # full service passes it: the test's lock is taken only for the one-statement run.)
        cursor.execute(
            "CREATE FUNCTION test_hold() RETURNS trigger AS $$ BEGIN "
            f"PERFORM pg_advisory_lock({HOLD}); RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER zz_test_hold AFTER INSERT ON ledger_posting "
            "FOR EACH ROW EXECUTE FUNCTION test_hold()"
        )
        if path == "one statement":
            cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD])

    def victim() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            started.set()
            services.timebank_transfer(member=who, relative=relative, minutes=7, key="killed-0001")
        except (OperationalError, InterfaceError, DatabaseError) as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    try:
        thread = threading.Thread(target=victim)
        thread.start()
        assert started.wait(timeout=30)
        if path == "full service":
            assert booked_but_not_committed.wait(timeout=30)
        else:
            _wait_until_blocked(pid[0])
            assert not booked_but_not_committed.is_set()  # Python never ran between writes
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid[0]])
            assert cursor.fetchone()[0] is True
        # Nothing of the killed transaction was kept: no booking, no entry, no balance moved.
        assert not Transaction.objects.filter(idempotency_key="killed-0001").exists()
        assert not AuditEvent.objects.filter(detail__key="killed-0001").exists()
        mine = Account.objects.get(kind="user", user=who, asset=Asset.TIME_MINUTES)
        assert mine.balance == start
        killed.set()
        with connection.cursor() as cursor:
            # The one-statement path answers on a new connection through the full service,
            # which the trigger would hold too: let it pass.
            cursor.execute("SELECT pg_advisory_unlock_all()")
        thread.join()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
            cursor.execute("DROP TRIGGER zz_test_hold ON ledger_posting")
            cursor.execute("DROP FUNCTION test_hold()")
    mine.refresh_from_db()
    if path == "full service":
        # The service's own connection died inside its transaction: it fails, nothing kept.
        assert outcome, "the killed session must fail, not commit"
        assert not Transaction.objects.filter(idempotency_key="killed-0001").exists()
        assert mine.balance == start
    else:
        # The statement died whole; the full service then booked once, on a new connection.
        assert not outcome, outcome
        assert Transaction.objects.filter(idempotency_key="killed-0001").count() == 1
        assert mine.balance == start - 7
    monkeypatch.undo()
    services.ledger_seal()
    assert ledger_verify().problem is None
    # The same request, sent again, books once.
    services.timebank_transfer(member=who, relative=relative, minutes=7, key="killed-0001")
    mine.refresh_from_db()
    assert mine.balance == start - 7


def test_a_deadlock_with_another_writer_is_retried(world, monkeypatch, path, caplog) -> None:
    """An outside transaction locks the accounts in the opposite order: PostgreSQL breaks the
    deadlock by aborting the booking, which runs again (the full service: a retry; the
    one-statement booking: the full service) and then books exactly once."""
    who = world["people"][0]
    relative = world["relatives"][who.pk]
    services.timebank_transfer(member=who, relative=relative, minutes=1, key="warm-00001")
    caplog.set_level(logging.DEBUG, logger="zhiyuan.ledger")
    mine = Account.objects.get(kind="user", user=who, asset=Asset.TIME_MINUTES)
    theirs = Account.objects.get(
        kind="user", user_id=relative.account_user_id, asset=Asset.TIME_MINUTES
    )
    low, high = sorted([mine.pk, theirs.pk])

    retried: list[str | None] = []
    real_retryable = services._retryable

    def record(exc: Exception) -> bool:
        retried.append(getattr(exc.__cause__, "sqlstate", None))
        return real_retryable(exc)

    monkeypatch.setattr(services, "_retryable", record)
    pid: list[int] = []
    outcome: list[Any] = []
    started = threading.Event()

    def booking() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            started.set()
            outcome.append(
                services.timebank_transfer(
                    member=who, relative=relative, minutes=3, key="deadlock-0001"
                )
            )
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        # This side waits ten seconds before looking for a deadlock, the booking one (the
        # default): the booking is always the one PostgreSQL aborts, even on a busy machine.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '10s'")
        # The outside writer takes the higher account first…
        list(Account.objects.select_for_update().filter(pk=high))
        thread = threading.Thread(target=booking)
        thread.start()
        assert started.wait(timeout=30)
        _wait_until_blocked(pid[0])  # …until the booking holds the lower one and waits for it…
        # …then asks for the lower one: a cycle, which PostgreSQL breaks.
        list(Account.objects.select_for_update().filter(pk=low))
    thread.join()
    fell_back = [r.getMessage() for r in caplog.records if "deadlock-0001" in r.getMessage()]
    if path == "full service":
        assert retried == ["40P01"]  # deadlock detected, and the booking ran again
    else:
        assert len(fell_back) == 1 and "40P01" in fell_back[0]
        assert retried == []  # the full service then booked at its first attempt
    assert not isinstance(outcome[0], BaseException), outcome
    assert Transaction.objects.filter(idempotency_key="deadlock-0001").count() == 1
    mine.refresh_from_db()
    assert mine.balance == START_MINUTES - 1 - 3
