"""The one-statement booking (``book_at_once``) against the full service it stands in for.

A transfer at the top level on PostgreSQL is one statement once the accounts are known; it must
write exactly what the full service writes, and leave every case it does not settle (a retry,
a changed retry, an overdraft, an account it remembers wrongly) to the full service, having
written nothing. Real commits: the fast path only runs outside a transaction.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes
from zhiyuan.accounts.roles import Role
from zhiyuan.core.audit import audit_seal, audit_verify
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import errors, services
from zhiyuan.ledger.models import Account, Asset, Posting, Transaction
from zhiyuan.ledger.verify import ledger_verify

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def warm(volunteer, district, family) -> dict[str, Any]:
    """The volunteer has 100 minutes, and a first transfer made the accounts known."""
    give_minutes(volunteer, district, 100)
    services.timebank_transfer(
        member=volunteer, relative=family["mother"], minutes=1, key="warm-transfer-1"
    )
    return family


def _written(key: str) -> dict[str, Any]:
    """What a booking under ``key`` left in the database, without ids and times."""
    tx = Transaction.objects.get(idempotency_key=key)
    postings = [
        (p.leg, p.asset, p.debit_id, p.credit_id, p.amount, p.source, p.rule_version_id)
        for p in Posting.objects.filter(transaction=tx).order_by("leg")
    ]
    entries = list(AuditEvent.objects.filter(object_type="ledger.transaction", object_id=tx.pk))
    assert len(entries) == 1
    entry = entries[0]
    detail = {k: v for k, v in entry.detail.items() if k != "key"}
    return {
        "tx": (tx.kind, tx.region_id, tx.organization_id, tx.actor_id, tx.reverses_id, tx.memo),
        "postings": postings,
        "audit": (entry.action, entry.actor_id, entry.ip, entry.result, detail),
        "key_in_audit": entry.detail["key"] == key,
    }


def test_a_transfer_is_one_statement_and_writes_what_the_full_service_writes(
    volunteer, warm, monkeypatch
) -> None:
    mother = warm["mother"]
    services.timebank_transfer(member=volunteer, relative=mother, minutes=2, key="fast-000001")
    with CaptureQueriesContext(connection) as fast:
        services.timebank_transfer(member=volunteer, relative=mother, minutes=3, key="fast-000002")
    assert len(fast.captured_queries) == 1  # one round trip, committed on its own
    assert fast.captured_queries[0]["sql"].startswith("WITH l AS")

    with monkeypatch.context() as m:
        m.setattr(services, "book_at_once", lambda **kwargs: None)
        with CaptureQueriesContext(connection) as full:
            services.timebank_transfer(
                member=volunteer, relative=mother, minutes=3, key="full-000001"
            )
    assert len(full.captured_queries) > 1

    # The one statement leaves its audit entry to the seal (ADR 0009); the seal writes what the
    # full service wrote at once.
    fast = Transaction.objects.get(idempotency_key="fast-000002")
    assert fast.audit_at_seal
    assert not Transaction.objects.get(idempotency_key="full-000001").audit_at_seal
    assert not AuditEvent.objects.filter(object_type="ledger.transaction", object_id=fast.pk)
    services.ledger_seal()
    assert _written("fast-000002") == _written("full-000001")
    assert _written("fast-000002")["key_in_audit"]
    entry = AuditEvent.objects.get(object_type="ledger.transaction", object_id=fast.pk)
    assert entry.at == fast.created_at
    assert balance(volunteer, Asset.TIME_MINUTES) == 100 - 1 - 2 - 3 - 3
    assert balance(warm["mother_user"], Asset.TIME_MINUTES) == 1 + 2 + 3 + 3
    # The digests the database holds are the ones verify recomputes; the audit MACs check out.
    report = ledger_verify()
    assert report.problem is None and report.unsealed == 0
    audit_seal()
    assert audit_verify()[1] is None


def test_a_retry_returns_the_first_booking_and_a_changed_retry_is_refused(volunteer, warm) -> None:
    mother = warm["mother"]
    first = services.timebank_transfer(
        member=volunteer, relative=mother, minutes=4, key="retry-001"
    )
    again = services.timebank_transfer(
        member=volunteer, relative=mother, minutes=4, key="retry-001"
    )
    assert again.pk == first.pk
    with pytest.raises(errors.IdempotencyConflict):
        services.timebank_transfer(member=volunteer, relative=mother, minutes=5, key="retry-001")
    assert Transaction.objects.filter(idempotency_key="retry-001").count() == 1
    services.ledger_seal()
    assert AuditEvent.objects.filter(detail__key="retry-001").count() == 1
    assert balance(volunteer, Asset.TIME_MINUTES) == 100 - 1 - 4


def test_an_overdraft_is_refused_by_name_and_writes_nothing(volunteer, warm, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="zhiyuan.ledger")
    before = (Transaction.objects.count(), AuditEvent.objects.count())
    with translation.override("en"), pytest.raises(errors.Overdrawn) as refused:
        services.timebank_transfer(
            member=volunteer, relative=warm["mother"], minutes=500, key="overdraw-01"
        )
    assert refused.value.messages == ["Not enough on the account: 99 available, 500 needed."]
    # The database refused the one statement (the balance constraint: 23514), and the full
    # service named the refusal.
    tried = [r.getMessage() for r in caplog.records if "overdraw-01" in r.getMessage()]
    assert len(tried) == 1 and "23514" in tried[0]
    assert (Transaction.objects.count(), AuditEvent.objects.count()) == before
    assert balance(volunteer, Asset.TIME_MINUTES) == 99


def test_a_wrongly_remembered_account_books_to_the_right_one(
    volunteer, warm, community, district, monkeypatch
) -> None:
    """An account id remembered wrongly (a restored database, say) must never receive the
    credit: the statement checks each id against its owner and writes nothing."""
    mother_user = warm["mother_user"]
    theirs = services.user_account(mother_user, Asset.TIME_MINUTES)
    give_minutes(make_user(Role.VOLUNTEER, region=community), district, 50)
    wrong = Account.objects.get(kind="user", asset=Asset.TIME_MINUTES, balance=50)
    wrong_before = wrong.balance
    monkeypatch.setitem(services._ACCOUNT_IDS, theirs, wrong.pk)
    services.timebank_transfer(
        member=volunteer, relative=warm["mother"], minutes=6, key="remembered-1"
    )
    wrong.refresh_from_db()
    assert wrong.balance == wrong_before
    assert balance(mother_user, Asset.TIME_MINUTES) == 1 + 6
    # …and the full service put the right id back.
    assert services._ACCOUNT_IDS[theirs] != wrong.pk


def test_inside_a_callers_transaction_the_full_service_books(volunteer, warm) -> None:
    from django.db import transaction

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        services.timebank_transfer(
            member=volunteer, relative=warm["mother"], minutes=2, key="inside-0001"
        )
    assert not any(q["sql"].startswith("WITH l AS") for q in queries.captured_queries)
    assert balance(volunteer, Asset.TIME_MINUTES) == 100 - 1 - 2


def test_a_dead_connection_is_replaced_and_the_full_service_books(volunteer, warm) -> None:
    """The server end of the connection is gone before the statement (a restart, a killed
    backend): the statement fails, the connection is dropped, and the full service books on
    a new one (review finding: it ran on the dead connection and failed)."""
    import threading

    from django.db import connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def kill() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connections.close_all()

    killer = threading.Thread(target=kill)
    killer.start()
    killer.join()
    done = services.timebank_transfer(
        member=volunteer, relative=warm["mother"], minutes=8, key="dead-conn-01"
    )
    assert Transaction.objects.filter(idempotency_key="dead-conn-01").get().pk == done.pk
    assert balance(volunteer, Asset.TIME_MINUTES) == 100 - 1 - 8


def test_the_seal_writes_each_entry_once_with_the_address_the_booking_came_from(
    volunteer, warm, rf
) -> None:
    request = rf.post("/", REMOTE_ADDR="2001:db8::7")
    request.user = volunteer
    done = services.timebank_transfer(
        member=volunteer,
        relative=warm["mother"],
        minutes=5,
        key="from-afar-1",
        http_request=request,
    )
    assert done.audit_at_seal and done.audit_ip == "2001:db8::7"
    first = services.ledger_seal()
    assert first is not None
    services.timebank_transfer(
        member=volunteer, relative=warm["mother"], minutes=1, key="from-afar-2"
    )
    services.ledger_seal()
    assert services.ledger_seal() is None  # nothing new: no second entry for anything
    entry = AuditEvent.objects.get(object_type="ledger.transaction", object_id=str(done.pk))
    assert (entry.action, entry.actor_id, entry.ip) == (
        "ledger.transfer",
        volunteer.pk,
        "2001:db8::7",
    )
    assert entry.detail == {"key": "from-afar-1", "kind": "transfer", "postings": 1}
    sealed = AuditEvent.objects.get(action="ledger.sealed", object_id=str(first.pk))
    # This one only: the warm-up transfer went the full way (its accounts were not known yet)
    # and wrote its entry at once.
    assert sealed.detail["booking_entries"] == 1
    assert ledger_verify().problem is None
    audit_seal()
    assert audit_verify()[1] is None


def test_a_seal_that_fails_writing_the_entries_seals_nothing(volunteer, warm, monkeypatch) -> None:
    done = services.timebank_transfer(
        member=volunteer, relative=warm["mother"], minutes=2, key="seal-fails-1"
    )

    def broken(entries: list[Any]) -> None:
        raise RuntimeError("the audit table is unavailable")

    with monkeypatch.context() as m:
        m.setattr(services, "audit_record_many", broken)
        with pytest.raises(RuntimeError):
            services.ledger_seal()
    # The 100 minutes given, the warm-up transfer and this one: all still to seal, none lost.
    assert ledger_verify().unsealed == 3
    assert not AuditEvent.objects.filter(action="ledger.sealed").exists()
    assert services.ledger_seal() is not None
    assert AuditEvent.objects.filter(action="ledger.transfer", object_id=done.pk).count() == 1
    assert ledger_verify().unsealed == 0


def test_verify_names_a_sealed_booking_without_its_entry_and_an_altered_address(
    volunteer, warm
) -> None:
    done = services.timebank_transfer(
        member=volunteer, relative=warm["mother"], minutes=3, key="no-entry-01"
    )
    services.ledger_seal()
    assert ledger_verify().problem is None
    with connection.cursor() as cursor:
        # As someone with the database's keys could: triggers off.
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                "UPDATE ledger_transaction SET audit_ip = '10.0.0.1' WHERE id = %s", [done.pk]
            )
            altered = ledger_verify().problem
            cursor.execute("UPDATE ledger_transaction SET audit_ip = NULL WHERE id = %s", [done.pk])
            assert ledger_verify().problem is None
            cursor.execute(
                "DELETE FROM core_auditevent WHERE object_type = 'ledger.transaction' "
                "AND object_id = %s",
                [str(done.pk)],
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    assert altered is not None and (altered.what, altered.id) == ("transaction", done.pk)
    with translation.override("en"):
        assert str(ledger_verify().problem) == (
            f"transaction #{done.pk}: sealed without its audit entry"
        )


def test_a_row_slipped_into_the_table_gets_no_genuine_entry(volunteer, warm, caplog) -> None:
    """Someone who can write the table but has no audit key cannot have the seal vouch for a
    booking in another person's name (review finding): the row's mark does not check out, so
    the seal writes no entry, and verify names the row."""
    from django.db import transaction

    from zhiyuan.ledger.models import TransactionKind

    mother_user = warm["mother_user"]
    own = services.user_account(mother_user, Asset.TIME_MINUTES)
    theirs = services.user_account(volunteer, Asset.TIME_MINUTES)
    tx, postings = services._draft(
        kind=TransactionKind.TRANSFER,
        key="slipped-in-01",
        request={"op": "transfer"},
        legs=[services.Leg(own, theirs, 1, f"relative:{warm['mother'].pk}")],
        ids={ref: services._ACCOUNT_IDS[ref] for ref in (own, theirs)},
        region_id=warm["mother"].region_id,
        organization_id=None,
        actor=mother_user,
        reverses=None,
        memo="",
        audit_at_seal=True,
        audit_ip="10.9.8.7",
    )
    tx.audit_mac = services.at_seal_mac("a digest of something else")
    with transaction.atomic():
        tx.save(force_insert=True)
        Posting.objects.bulk_create(
            Posting(
                transaction=tx,
                leg=leg,
                asset=asset,
                debit_id=debit,
                credit_id=credit,
                amount=amount,
                source=source,
                rule_version_id=rule,
                digest=digest,
            )
            for leg, asset, debit, credit, amount, source, rule, digest in postings
        )
    caplog.set_level(logging.ERROR, logger="zhiyuan.ledger")
    assert services.ledger_seal() is not None
    assert not AuditEvent.objects.filter(object_type="ledger.transaction", object_id=tx.pk)
    assert any(f"#{tx.pk} asks for an audit entry" in r.getMessage() for r in caplog.records)
    with translation.override("en"):
        assert [str(p) for p in ledger_verify().problems] == [
            f"transaction #{tx.pk}: asks the seal for its audit entry without this "
            "deployment's mark",
            f"transaction #{tx.pk}: sealed without its audit entry",
        ]


def test_a_seal_writes_many_entries_a_batch_at_a_time(volunteer, warm, monkeypatch) -> None:
    monkeypatch.setattr(services, "_ENTRIES_AT_ONCE", 2)
    done = [
        services.timebank_transfer(
            member=volunteer, relative=warm["mother"], minutes=1, key=f"in-batches-{n}"
        ).pk
        for n in range(5)
    ]
    seal = services.ledger_seal()
    assert seal is not None
    written = AuditEvent.objects.filter(action="ledger.transfer", object_id__in=map(str, done))
    assert sorted(int(pk) for pk in written.values_list("object_id", flat=True)) == sorted(done)
    assert AuditEvent.objects.get(action="ledger.sealed").detail["booking_entries"] == 5
