from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone, translation

from tests.factories import drop_audit_guard, drop_seal_guard
from zhiyuan.core.audit import (
    audit_anchor,
    audit_record,
    audit_seal,
    audit_verify,
    audit_verify_report,
)
from zhiyuan.core.db import append_only_operations
from zhiyuan.core.models import AuditAction, AuditChainHead, AuditEvent, AuditSeal

# On PostgreSQL a batch is sealed only once its writers have committed, so there these tests
# commit for real (and put any dropped guard back afterwards); SQLite seals what it has.
ON_POSTGRES = os.environ.get("ZHIYUAN_DATABASE_URL", "").startswith("postgres")
pytestmark = pytest.mark.django_db(transaction=ON_POSTGRES)


@pytest.fixture(autouse=True)
def _guards_back_afterwards() -> Iterator[None]:
    yield
    if ON_POSTGRES:
        with connection.schema_editor() as editor:
            for table in ("core_auditevent", "core_auditseal"):
                unguard, guard = append_only_operations(table)[1], append_only_operations(table)[0]
                unguard(None, editor)
                guard(None, editor)


def write_entries(n: int = 5) -> list[AuditEvent]:
    return [
        audit_record(action=AuditAction.EXPORT, object_type="test.thing", object_id=str(i))
        for i in range(n)
    ]


def test_entries_are_sealed_into_a_chain_of_batches() -> None:
    first = write_entries(3)
    seal_one = audit_seal()
    assert seal_one is not None and (seal_one.number, seal_one.count) == (1, 3)
    assert audit_seal() is None  # nothing new to seal
    write_entries(2)
    seal_two = audit_seal()
    assert seal_two is not None and (seal_two.number, seal_two.count) == (2, 2)
    assert seal_two.prev_hash == seal_one.hash
    assert seal_two.key_from == seal_one.key_to
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_number, head.last_hash) == (2, seal_two.hash)
    assert all(len(e.mac) == 64 for e in first)
    report = audit_verify_report()
    assert (report.entries, report.seals, report.unsealed, report.problem) == (5, 2, 0, None)


def test_unsealed_entries_are_counted_and_checked() -> None:
    write_entries(2)
    audit_seal()
    write_entries(3)
    report = audit_verify_report()
    assert (report.entries, report.seals, report.unsealed, report.problem) == (5, 1, 3, None)


def test_database_refuses_update_and_delete() -> None:
    write_entries(1)
    audit_seal()
    for sql in (
        "UPDATE core_auditevent SET result = 'failed'",
        "DELETE FROM core_auditevent",
        "UPDATE core_auditseal SET count = 0",
        "DELETE FROM core_auditseal",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.get().result == "ok"
    assert AuditSeal.objects.get().count == 1


@pytest.mark.parametrize("sealed", [True, False])
def test_verify_names_an_altered_entry(sealed: bool) -> None:
    events = write_entries()
    if sealed:
        audit_seal()
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET object_id = 'forged' WHERE id = %s", [events[2].pk]
        )
    with translation.override("en"):
        checked, problem = audit_verify()
        assert checked == 2
        assert problem is not None and problem.where == f"entry {events[2].pk}"
        with pytest.raises(
            CommandError, match=f"entry {events[2].pk}: contents altered after writing"
        ):
            call_command("audit", "verify")


def test_verify_names_the_seal_of_a_removed_entry() -> None:
    events = write_entries(3)
    audit_seal()
    write_entries(2)
    audit_seal()
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [events[1].pk])
    with translation.override("en"):
        problem = audit_verify()[1]
        assert problem is not None and problem.where == "seal 1"
        assert "removed" in problem.reason


def test_verify_notices_seals_cut_from_the_end() -> None:
    write_entries(2)
    audit_seal()
    write_entries(2)
    audit_seal()
    drop_seal_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE number = 2")
    with translation.override("en"):
        problem = audit_verify()[1]
        assert problem is not None and problem.where == "seal 2"


def test_verify_command_reports_an_intact_chain(capsys) -> None:
    write_entries(3)
    call_command("audit", "seal")
    with translation.override("en"):
        call_command("audit", "verify")
    assert "3 entries verified, 1 seals, 0 entries waiting" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgres_trigger_also_refuses_truncate() -> None:
    write_entries(1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_auditevent")


def test_a_cut_tail_with_a_rewound_head_is_caught_by_the_anchor() -> None:
    write_entries(3)
    audit_seal()
    write_entries(2)
    assert audit_anchor() == (2, AuditSeal.objects.get(number=2).hash)  # seals, then anchors
    drop_audit_guard()
    drop_seal_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE number = 2")
    cut_from = AuditSeal.objects.get(number=1)
    AuditEvent.objects.filter(pk__gte=cut_from.key_to).delete()
    AuditChainHead.objects.filter(pk=1).update(
        last_number=1, last_hash=cut_from.hash, last_key=cut_from.key_to
    )
    with translation.override("en"):
        problem = audit_verify()[1]
        assert problem is not None and problem.where == "seal 2"
        assert "anchored" in problem.reason


def test_recomputing_a_mac_without_the_key_is_caught() -> None:
    """Whoever can write the table cannot re-sign an edited entry: the MAC is keyed."""
    import hashlib
    import json

    events = write_entries(3)
    drop_audit_guard()
    event = AuditEvent.objects.get(pk=events[1].pk)
    fields = {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": None,
        "ip": None,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": "forged",
        "result": event.result,
        "detail": event.detail,
    }
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    forged = hashlib.sha256(canonical.encode()).hexdigest()
    AuditEvent.objects.filter(pk=event.pk).update(object_id="forged", mac=forged)
    with translation.override("en"):
        assert audit_verify()[1].where == f"entry {event.pk}"  # type: ignore[union-attr]


def test_an_entry_added_without_the_key_is_caught() -> None:
    write_entries(2)
    AuditEvent.objects.create(
        at=timezone.now(), action="pii.export", result="ok", mac="0" * 64, object_id="x"
    )
    assert audit_verify()[0] == 2


def test_forged_anchor_lines_are_ignored(settings) -> None:
    write_entries(2)
    audit_seal()
    settings.ZHIYUAN_AUDIT_ANCHOR_FILE.write_text("99 " + "a" * 64 + " " + "b" * 64 + "\n")
    assert audit_verify() == (2, None)


def test_ipv6_addresses_verify_after_the_database_normalises_them(rf) -> None:
    request = rf.get("/", REMOTE_ADDR="2001:0db8:0000:0000:0000:0000:0000:0001")
    audit_record(action=AuditAction.EXPORT, object_type="test.thing", request=request)
    audit_seal()
    assert audit_verify() == (1, None)


def test_a_refusal_inside_a_transaction_is_audited_after_the_rollback(
    district, other_district
) -> None:
    from django.db import transaction

    from tests.factories import make_user
    from zhiyuan.accounts.roles import Role
    from zhiyuan.accounts.services import role_grant
    from zhiyuan.core.permissions import Refused, record_refusal, require

    admin = make_user(Role.REGION_ADMIN, region=district)
    before = AuditEvent.objects.filter(action="access.denied").count()
    with pytest.raises(Refused) as caught, transaction.atomic():
        require(admin, "organization.verify", other_district)
    record_refusal(caught.value)  # what the request layer does once the transaction is gone
    record_refusal(caught.value)  # and only once
    assert AuditEvent.objects.filter(action="access.denied").count() == before + 1
    # A region admin cannot appoint a separated administrator, not even themselves.
    with pytest.raises(Refused):
        role_grant(user=admin, role=Role.SECURITY_ADMIN, granted_by=admin)
    assert not admin.grants.filter(role=Role.SECURITY_ADMIN).exists()


def test_the_auditor_sees_entries_and_seals(client) -> None:
    from tests.factories import make_user
    from zhiyuan.accounts.roles import Role

    auditor = make_user(Role.AUDIT_ADMIN)
    events = write_entries(3)
    seal = audit_seal()
    assert seal is not None
    client.force_login(auditor)
    with translation.override("en"):
        page = client.get("/home/audit/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Seals so far: {seal.number}," in page
    listed = client.get("/api/v1/audit").json()
    assert {e["id"]: e["mac"] for e in listed if e["id"] in {x.pk for x in events}} == {
        x.pk: x.mac for x in events
    }


def test_writers_ask_the_worker_to_seal_once_every_few_seconds(
    django_capture_on_commit_callbacks,
) -> None:
    from django_tasks_db.models import DBTaskResult

    from zhiyuan.core.schedule import forget_requests

    forget_requests()
    with django_capture_on_commit_callbacks(execute=True):
        write_entries(3)  # three commits' worth of requests: one task
    assert DBTaskResult.objects.filter(task_path__endswith="audit_seal_run").count() == 1
