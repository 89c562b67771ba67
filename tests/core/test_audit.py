from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from tests.factories import drop_audit_guard
from zhiyuan.core.audit import audit_record, audit_verify
from zhiyuan.core.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def write_entries(n: int = 5) -> None:
    for i in range(n):
        audit_record(action=AuditAction.EXPORT, object_type="test.thing", object_id=str(i))


def test_chain_links_every_entry() -> None:
    write_entries()
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert audit_verify() == (5, None)


def test_database_refuses_update_and_delete() -> None:
    write_entries(1)
    for sql in (
        "UPDATE core_auditevent SET result = 'failed'",
        "DELETE FROM core_auditevent",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.get().result == "ok"


def test_verify_names_an_altered_entry() -> None:
    write_entries()
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET object_id = 'forged' WHERE seq = 3")
    checked, problem = audit_verify()
    assert checked == 2
    assert problem is not None and problem.seq == 3
    with translation.override("en"), pytest.raises(CommandError, match="entry 3: contents altered"):
        call_command("audit", "verify")


def test_verify_names_a_removed_entry() -> None:
    write_entries()
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = 4")
    assert audit_verify()[1].seq == 4  # type: ignore[union-attr]


def test_verify_notices_entries_cut_from_the_end() -> None:
    write_entries()
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = 5")
    problem = audit_verify()[1]
    assert problem is not None and problem.seq == 5


def test_verify_command_reports_an_intact_chain(capsys) -> None:
    write_entries(3)
    call_command("audit", "verify")
    assert "3" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgres_trigger_also_refuses_truncate() -> None:
    write_entries(1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_auditevent")
