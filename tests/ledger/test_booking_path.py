"""The booking path cut to fewer round trips (issue 6, write throughput) keeps every guarantee.

On PostgreSQL a booking is now: BEGIN, one statement locking the accounts (in pk order) with the
idempotency look-up, one statement writing the transaction and its postings, the audit entry,
COMMIT. These tests hold what the fast path must not lose, on both databases unless marked.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import errors, services
from zhiyuan.ledger.models import Account, Asset, Posting, Transaction, TransactionKind
from zhiyuan.ledger.verify import ledger_verify

pytestmark = pytest.mark.django_db


def _transfer(volunteer: Any, family: Any, minutes: int, key: str) -> Any:
    return services.timebank_transfer(
        member=volunteer, relative=family["mother"], minutes=minutes, key=key
    )


def _withdraw(volunteer: Any, family: Any, minutes: int, key: str) -> Any:
    return services.timebank_withdraw(
        member=volunteer,
        region=family["mother"].region,
        minutes=minutes,
        note="陪同就医",
        relative=family["mother"],
        key=key,
    ).transaction


def _donate(volunteer: Any, family: Any, minutes: int, key: str) -> Any:
    return services.timebank_donate(
        member=volunteer, region=family["mother"].region, minutes=minutes, key=key
    )


def _deposit(volunteer: Any, family: Any, minutes: int, key: str) -> Any:
    return services.timebank_deposit(
        member=volunteer, region=family["mother"].region, minutes=minutes, source=f"record:{key}"
    )


@pytest.mark.parametrize("service", [_transfer, _withdraw, _donate, _deposit])
def test_a_retry_books_once_and_a_changed_retry_is_refused(
    service, volunteer, community, family
) -> None:
    give_minutes(volunteer, community, 100)
    key = new_key("path")
    first = service(volunteer, family, 30, key)
    after_first = balance(volunteer, Asset.TIME_MINUTES)
    assert after_first in (70, 130)  # spent, or deposited
    again = service(volunteer, family, 30, key)
    assert again.pk == first.pk
    with translation.override("en"), pytest.raises(errors.IdempotencyConflict):
        service(volunteer, family, 31, key)
    assert balance(volunteer, Asset.TIME_MINUTES) == after_first
    assert Transaction.objects.filter(pk=first.pk).count() == 1
    services.ledger_seal()
    assert ledger_verify().problem is None


def test_refusals_write_nothing_and_keep_their_own_message(volunteer, community, family) -> None:
    give_minutes(volunteer, community, 10)
    with translation.override("en"):
        with pytest.raises(errors.Overdrawn):
            _transfer(volunteer, family, 11, new_key("over"))
        with pytest.raises(errors.InvalidAmount):
            _transfer(volunteer, family, 0, new_key("zero"))
        with pytest.raises(errors.NotADirectRelative):
            services.timebank_transfer(
                member=volunteer, relative=family["cousin"], minutes=1, key=new_key("cousin")
            )
    assert balance(volunteer, Asset.TIME_MINUTES) == 10
    assert not Transaction.objects.filter(kind=TransactionKind.TRANSFER).exists()


def test_a_relative_without_an_account_is_refused_but_a_retry_still_replays(
    volunteer, community, family
) -> None:
    give_minutes(volunteer, community, 10)
    key = new_key("noacct")
    booked = _transfer(volunteer, family, 4, key)
    # The community later detaches the relative's own account: the retry still gets its answer.
    relative = family["mother"]
    relative.account_user = None
    assert (
        services.timebank_transfer(member=volunteer, relative=relative, minutes=4, key=key).pk
        == booked.pk
    )
    with pytest.raises(errors.NotADirectRelative):
        services.timebank_transfer(member=volunteer, relative=relative, minutes=4, key=new_key())
    assert balance(volunteer, Asset.TIME_MINUTES) == 6


def test_a_booking_opens_missing_accounts_and_writes_every_posting(
    volunteer, community, district
) -> None:
    newcomer = make_user(Role.RESIDENT, region=community)
    assert not Account.objects.filter(user=newcomer).exists()
    tx = services.ledger_import_opening_balance(
        user=newcomer, region=district, points=7, minutes=9, reference="paper-new"
    )
    assert [(p.leg, p.asset, p.amount) for p in tx.postings.order_by("leg")] == [
        (1, Asset.POINTS, 7),
        (2, Asset.TIME_MINUTES, 9),
    ]
    assert balance(newcomer) == 7 and balance(newcomer, Asset.TIME_MINUTES) == 9
    services.ledger_seal()
    assert ledger_verify().problem is None


def test_the_returned_transaction_is_the_stored_one(volunteer, community, family) -> None:
    give_minutes(volunteer, community, 10)
    tx = _transfer(volunteer, family, 3, new_key("same"))
    stored = Transaction.objects.get(pk=tx.pk)
    assert (stored.digest, stored.kind, stored.idempotency_key) == (
        tx.digest,
        tx.kind,
        tx.idempotency_key,
    )
    assert stored.xid == tx.xid  # None on SQLite, the writer's transaction id on PostgreSQL


@pytest.mark.postgres
def test_a_transfer_takes_two_ledger_statements_and_the_audit_entry(
    volunteer, community, family
) -> None:
    """At the top level: BEGIN, lock + replay, transaction + postings, audit entry, COMMIT.
    (Here, inside the test's transaction, the service runs in a savepoint.)"""
    give_minutes(volunteer, community, 10)
    # Both accounts exist (a first booking opens a missing one and locks again).
    services.account_open(services.user_account(family["mother_user"], Asset.TIME_MINUTES))
    statements: list[str] = []
    real = services._pg_rows

    def spy(sql: str, params: Any) -> Any:
        statements.append(" ".join(sql.split()[:2]))
        return real(sql, params)

    services._pg_rows = spy  # type: ignore[assignment]
    try:
        with CaptureQueriesContext(connection) as django_queries:
            _transfer(volunteer, family, 1, new_key("trips"))
    finally:
        services._pg_rows = real  # type: ignore[assignment]
    assert statements == ["WITH locked", "WITH t"]
    others = [
        q["sql"]
        for q in django_queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "WITH locked", "WITH t"))
    ]
    # Everything else is the audit entry (ADR 0005): nothing more of the ledger's own.
    assert len(others) == 1 and others[0].startswith("INSERT INTO core_auditevent")


@pytest.mark.postgres
def test_database_errors_on_the_fast_path_come_out_as_djangos(volunteer, community) -> None:
    tx = give_minutes(volunteer, community, 10)
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        services._pg_rows(
            "INSERT INTO ledger_transaction (idempotency_key, request_hash, kind, created_at, "
            "region_id, memo, digest) VALUES (%s, '', 'transfer', now(), %s, '', '')",
            [tx.idempotency_key, tx.region_id],
        )
    assert caught.value.__cause__.sqlstate == "23505"  # what ledger_service retries on


@pytest.mark.postgres
def test_the_database_refuses_a_posting_from_an_account_of_another_asset(
    volunteer, district
) -> None:
    tx = give_minutes(volunteer, district, 5)
    minutes = Account.objects.get(user=volunteer, asset=Asset.TIME_MINUTES)
    points = services.account_open(services.user_account(volunteer, Asset.POINTS))
    with pytest.raises(DatabaseError, match="another asset"), transaction.atomic():
        Posting.objects.create(
            transaction=tx,
            leg=9,
            asset=Asset.POINTS,
            debit=minutes,
            credit=points,
            amount=1,
            source="forged:1",
            digest="0",
        )
    assert balance(volunteer, Asset.TIME_MINUTES) == 5


@pytest.mark.postgres
def test_postings_crossing_assets_do_not_balance_even_when_they_cancel_out(
    volunteer, district
) -> None:
    """With the per-posting trigger out of the way (as someone with database access could do),
    two postings that each cross assets, in opposite directions, still fail at commit."""
    other = make_user(Role.VOLUNTEER, region=district)
    accounts = {
        (who.pk, asset): services.account_open(services.user_account(who, asset))
        for who in (volunteer, other)
        for asset in (Asset.POINTS, Asset.TIME_MINUTES)
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_apply")
        tx = Transaction.objects.create(
            idempotency_key="crossing-assets",
            request_hash="0",
            kind="transfer",
            created_at=tx_time(),
            region=district,
            digest="0",
        )
        for leg, (asset, debit, credit) in enumerate(
            [
                (Asset.POINTS, (volunteer.pk, Asset.POINTS), (other.pk, Asset.TIME_MINUTES)),
                (Asset.TIME_MINUTES, (other.pk, Asset.TIME_MINUTES), (volunteer.pk, Asset.POINTS)),
            ],
            start=1,
        ):
            Posting.objects.create(
                transaction=tx,
                leg=leg,
                asset=asset,
                debit=accounts[debit],
                credit=accounts[credit],
                amount=5,
                source="forged:1",
                digest="0",
            )
        with pytest.raises(DatabaseError, match="does not balance"), connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT would do
        transaction.set_rollback(True)


def tx_time() -> Any:
    from django.utils import timezone

    return timezone.now()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lock_step_holds_the_accounts_until_commit(volunteer, community, family) -> None:
    give_minutes(volunteer, community, 10)
    mine = Account.objects.get(user=volunteer, asset=Asset.TIME_MINUTES)
    theirs = services.account_open(services.user_account(family["mother_user"], Asset.TIME_MINUTES))
    locked, release = threading.Event(), threading.Event()
    seen: list[Any] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                done, accounts = services.replay_and_lock(
                    "lock-holder-1",
                    {"op": "test"},
                    [
                        services.user_account(volunteer, Asset.TIME_MINUTES),
                        services.user_account(family["mother_user"], Asset.TIME_MINUTES),
                    ],
                )
                seen.append((done, sorted(a.pk for a in accounts.values())))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        for account in (mine, theirs):
            with (
                pytest.raises(OperationalError),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(
                    "SELECT id FROM ledger_account WHERE id = %s FOR UPDATE NOWAIT", [account.pk]
                )
    finally:
        release.set()
        thread.join()
    assert seen == [(None, sorted([mine.pk, theirs.pk]))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_sent_twice_at_once_gets_the_first_booking_not_a_refusal(
    volunteer, community, family, monkeypatch
) -> None:
    """The second send waits for the first one's locks; when it gets them the money is gone,
    but its replay check ran before the first committed. It must answer with the first
    booking, not refuse for lack of credit."""
    give_minutes(volunteer, community, 10)
    services.account_open(services.user_account(family["mother_user"], Asset.TIME_MINUTES))
    first_booked, go = threading.Event(), threading.Event()
    real_audit = services.audit_record

    def audit_then_wait(**kwargs: Any) -> Any:
        event = real_audit(**kwargs)
        if threading.current_thread().name == "first":
            first_booked.set()
            go.wait(timeout=30)
        return event

    monkeypatch.setattr(services, "audit_record", audit_then_wait)
    results: dict[str, Any] = {}
    second_pid: list[int] = []

    def send(name: str) -> None:
        try:
            if name == "second":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    second_pid.append(cursor.fetchone()[0])
            results[name] = _transfer(volunteer, family, 10, "twice-at-once-0001")
        except BaseException as exc:
            results[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",), name="first")
    first.start()
    assert first_booked.wait(timeout=30)
    second = threading.Thread(target=send, args=("second",), name="second")
    second.start()
    waiting = None
    while waiting != "Lock" and second.is_alive():  # the second send queues on the locks
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", second_pid or [0]
            )
            row = cursor.fetchone()
            waiting = row[0] if row else None
    go.set()
    first.join()
    second.join()
    assert isinstance(results["first"], Transaction), results
    assert isinstance(results["second"], Transaction), results
    assert results["second"].pk == results["first"].pk
    assert Transaction.objects.filter(idempotency_key="twice-at-once-0001").count() == 1
    assert balance(volunteer, Asset.TIME_MINUTES) == 0
