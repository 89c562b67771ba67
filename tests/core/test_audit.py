from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from tests.factories import drop_audit_guard
from zhiyuan.core.audit import audit_anchor, audit_record, audit_verify
from zhiyuan.core.models import AuditAction, AuditChainHead, AuditEvent

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


def test_a_cut_tail_with_a_rewound_head_is_caught_by_the_anchor() -> None:
    write_entries(5)
    audit_anchor()  # the head (entry 5) is written outside the database
    drop_audit_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq >= 4")
    last = AuditEvent.objects.get(seq=3)
    AuditChainHead.objects.filter(pk=1).update(last_seq=3, last_hash=last.hash)
    problem = audit_verify()[1]
    assert problem is not None and problem.seq == 5


def test_recomputing_the_chain_without_the_key_is_caught() -> None:
    """Whoever can write the table cannot re-seal an edited entry: the hash is keyed."""
    import hashlib
    import json

    write_entries(3)
    drop_audit_guard()
    event = AuditEvent.objects.get(seq=2)
    fields = {
        "seq": 2,
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
    forged = hashlib.sha256(f"{event.prev_hash}\n{canonical}".encode()).hexdigest()
    AuditEvent.objects.filter(seq=2).update(object_id="forged", hash=forged)
    assert audit_verify()[1].seq == 2  # type: ignore[union-attr]


def test_forged_anchor_lines_are_ignored(settings) -> None:
    write_entries(2)
    settings.ZHIYUAN_AUDIT_ANCHOR_FILE.write_text("99 " + "a" * 64 + " " + "b" * 64 + "\n")
    assert audit_verify() == (2, None)


def test_ipv6_addresses_verify_after_the_database_normalises_them(rf) -> None:
    request = rf.get("/", REMOTE_ADDR="2001:0db8:0000:0000:0000:0000:0000:0001")
    audit_record(action=AuditAction.EXPORT, object_type="test.thing", request=request)
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
