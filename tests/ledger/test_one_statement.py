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

    assert _written("fast-000002") == _written("full-000001")
    assert _written("fast-000002")["key_in_audit"]
    assert balance(volunteer, Asset.TIME_MINUTES) == 100 - 1 - 2 - 3 - 3
    assert balance(warm["mother_user"], Asset.TIME_MINUTES) == 1 + 2 + 3 + 3
    # The digests the database holds are the ones verify recomputes; the audit MACs check out.
    services.ledger_seal()
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
