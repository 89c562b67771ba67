"""Writing, sealing and verifying the audit log.

``audit_record`` is the only way an entry is written. It is one INSERT inside the caller's
transaction, so an action and its audit entry commit or roll back together, and writers never
wait on one another for the log. Each entry carries a MAC (HMAC, key ``ZHIYUAN_AUDIT_KEY``, kept
out of the database) over its own fields: someone who can write the table cannot change an entry
or add one without the key.

``audit_seal`` then chains what was committed, in batches, like the ledger's seals (ADR 0006):
a seal covers every entry whose key (the writer's transaction id on PostgreSQL, the row id on
SQLite) lies in ``[key_from, key_to)``, and carries a MAC over the seal before it and the covered
entries' ids and MACs. On PostgreSQL a batch ends below the oldest transaction still running, so
nothing can later commit inside a sealed range. Removing a sealed entry breaks its seal; removing
the newest seals together with the head is caught by ``audit_anchor``, which regularly writes the
head, signed, outside the database (``ZHIYUAN_AUDIT_ANCHOR_FILE``; ship it to write-once storage).
An entry committed but not yet sealed (seconds, see ``SEAL_EVERY_SECONDS``) is covered by its own
MAC against changes, not yet against removal.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.core.db import chain_key_column, commit_watermark, pg_prepared
from zhiyuan.core.models import AuditAction, AuditChainHead, AuditEvent, AuditResult, AuditSeal
from zhiyuan.core.schedule import enqueue_soon

GENESIS = "0" * 64
logger = logging.getLogger("zhiyuan.audit")

_ACTION_LABELS: dict[str, Any] = {}
ChoicesT = TypeVar("ChoicesT", bound=type[models.TextChoices])


def audit_actions(choices: ChoicesT) -> ChoicesT:
    """Class decorator: register an app's audit actions so the log shows their names."""
    for member in choices:
        if member.value in _ACTION_LABELS and _ACTION_LABELS[member.value] != member.label:
            raise ValueError(f"audit action {member.value!r} is declared twice")
        _ACTION_LABELS[member.value] = member.label
    return choices


def action_label(action: str) -> str:
    return str(_ACTION_LABELS.get(action, action))


audit_actions(AuditAction)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # REMOTE_ADDR only: a proxy in front sets it via the server's own configuration, and a
    # client-sent X-Forwarded-For must not be able to forge the address in the log.
    return request.META.get("REMOTE_ADDR") or None


def _key() -> bytes:
    return _decoded(settings.ZHIYUAN_AUDIT_KEY)


# The two below run for every MAC (a quick sign-up makes two): cached, as pure functions of
# their argument, rather than decoding the key and parsing the address each time.
@functools.lru_cache(maxsize=8)
def _decoded(key: str) -> bytes:
    return base64.b64decode(key)


@functools.lru_cache(maxsize=4096)
def canonical_ip(ip: Any) -> str | None:
    # MAC the address as the database will give it back (IPv6 in its short form).
    return str(ipaddress.ip_address(ip)) if ip else None


def entry_mac(event: Any) -> str:
    """The MAC of one entry's own fields (``event`` may be a historical model in a migration)."""
    fields = {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "ip": canonical_ip(event.ip),
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "result": event.result,
        "detail": event.detail,
    }
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(_key(), canonical.encode(), hashlib.sha256).hexdigest()


def keyed_mac(purpose: str, text: str) -> str:
    """A MAC of ``text`` under the audit key, for ``purpose`` (so that a MAC made for one use
    never passes for another): proof that this deployment, which holds the key, wrote it."""
    return hmac.new(_key(), f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()


def seal_hash(
    prev_hash: str, number: int, key_from: int, key_to: int, entries: list[tuple[int, str]]
) -> str:
    mac = hmac.new(_key(), digestmod=hashlib.sha256)
    mac.update(f"{prev_hash}|{number}|{key_from}|{key_to}|{len(entries)}".encode())
    for entry_id, entry_digest in entries:
        mac.update(f"|{entry_id}:{entry_digest}".encode())
    return mac.hexdigest()


AUDIT_INSERT_COLUMNS = "at, actor_id, ip, action, object_type, object_id, result, detail, mac"
# The values of one entry, typed for PostgreSQL (for INSERT … SELECT, where nothing gives a
# parameter its type).
AUDIT_PG_VALUES = (
    "%s::timestamptz, %s::bigint, %s::inet, %s::varchar, %s::varchar, %s::varchar, "
    "%s::varchar, %s::jsonb, %s::varchar"
)


def _entry_fields(
    action: str,
    actor: Any,
    target: models.Model | None,
    object_type: str,
    object_id: str,
    result: AuditResult,
    request: HttpRequest | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    if target is not None:
        object_type = target._meta.label_lower
        object_id = str(target.pk)
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    return {
        "at": timezone.now(),
        "actor_id": actor_id,
        "ip": client_ip(request),
        "action": str(action),
        "object_type": object_type,
        "object_id": object_id,
        "result": result,
        "detail": detail or {},
    }


def audit_draft(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    result: AuditResult = AuditResult.OK,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
) -> SimpleNamespace:
    """The entry ``audit_record`` would write, MAC included, not written: the fields of
    :data:`AUDIT_INSERT_COLUMNS` as attributes. For a hot path on PostgreSQL that writes the
    entry in the same statement as the action it records (values typed by
    :data:`AUDIT_PG_VALUES`); it then calls :func:`audit_written`. A field changed afterwards
    needs its MAC again (:func:`entry_mac`)."""
    return audit_entry(
        **_entry_fields(action, actor, target, object_type, object_id, result, request, detail)
    )


def audit_entry(
    *,
    at: dt.datetime,
    actor_id: int | None,
    ip: str | None,
    action: str,
    object_type: str,
    object_id: str,
    detail: dict[str, Any],
    result: AuditResult = AuditResult.OK,
) -> SimpleNamespace:
    """An entry, MAC included, for an action recorded after the fact (its own time, actor and
    address given), to be written with :func:`audit_record_many`. ``detail`` as for
    :func:`audit_record`: identifiers and reasons, never personal data."""
    entry = SimpleNamespace(
        at=at,
        actor_id=actor_id,
        ip=ip,
        action=str(action),
        object_type=object_type,
        object_id=object_id,
        result=result,
        detail=detail,
    )
    entry.mac = entry_mac(entry)
    return entry


def audit_record_many(entries: Iterable[SimpleNamespace]) -> int:
    """Append drafted entries (:func:`audit_entry`) in one go (COPY on PostgreSQL, so
    ``entries`` must not read from the database as it goes); the worker is asked to seal them
    once this transaction commits. How many."""
    written = 0
    if connection.vendor == "postgresql":
        with (
            # Errors come out as Django's, as from any other statement.
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.copy(f"COPY core_auditevent ({AUDIT_INSERT_COLUMNS}) FROM STDIN") as copy,
        ):
            for e in entries:
                written += 1
                copy.write_row(
                    (
                        e.at,
                        e.actor_id,
                        e.ip,
                        e.action,
                        e.object_type,
                        e.object_id,
                        e.result,
                        json.dumps(e.detail, ensure_ascii=False),
                        e.mac,
                    )
                )
    else:
        written = len(AuditEvent.objects.bulk_create([AuditEvent(**vars(e)) for e in entries]))
    if written:
        transaction.on_commit(schedule_seal)
    return written


def audit_written(
    entry: SimpleNamespace | None = None, pk: int | None = None, xid: int | None = None
) -> None:
    """Say that a drafted entry was written (its id and transaction id, when known): the
    worker is asked to seal it once this transaction commits."""
    if entry is not None:
        entry.id, entry.xid = pk, xid
    transaction.on_commit(schedule_seal)


def _params(entry: Any) -> list[Any]:
    """The values of :data:`AUDIT_INSERT_COLUMNS` for ``entry`` (an ``AuditEvent`` or alike)."""
    from psycopg.types.json import Jsonb

    return [
        entry.at,
        entry.actor_id,
        entry.ip,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.result,
        Jsonb(entry.detail),
        entry.mac,
    ]


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    result: AuditResult = AuditResult.OK,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry. ``detail`` must hold identifiers and reasons, never personal data."""
    event = AuditEvent(
        **_entry_fields(action, actor, target, object_type, object_id, result, request, detail)
    )
    event.mac = entry_mac(event)
    if connection.vendor == "postgresql":
        _insert_prepared(event)
    else:
        event.save(force_insert=True)
    transaction.on_commit(schedule_seal)
    return event


_INSERT_SQL = (
    f"INSERT INTO core_auditevent ({AUDIT_INSERT_COLUMNS})"  # noqa: S608 — fixed column names
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, xid"
)


def _insert_prepared(event: AuditEvent) -> None:
    """The same row as ``event.save()``, as a prepared statement: every audited write pays for
    this, so it skips the ORM's per-save work (measured: about a fifth of a ledger booking)."""
    rows = pg_prepared(_INSERT_SQL, _params(event))
    event.pk, event.xid = rows[0]
    event._state.adding = False
    event._state.db = "default"


def _sealed_entries(key_from: int, key_to: int) -> list[tuple[int, str]]:
    column = chain_key_column()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, mac FROM core_auditevent WHERE {column} >= %s AND {column} < %s "  # noqa: S608 — column is one of two fixed names
            f"ORDER BY {column}, id",
            [key_from, key_to],
        )
        return [(int(row[0]), str(row[1])) for row in cursor.fetchall()]


def audit_seal() -> AuditSeal | None:
    """Seal every entry committed since the last seal into the next link of the chain.

    Writers never wait for this: only sealers lock the chain head.
    """
    with transaction.atomic():
        watermark = commit_watermark("core_auditevent")
        # Row lock on the chain head: one sealer at a time extends the chain.
        head, _created = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        if watermark <= head.last_key:
            return None
        entries = _sealed_entries(head.last_key, watermark)
        if not entries:
            return None
        number = head.last_number + 1
        seal = AuditSeal.objects.create(
            number=number,
            key_from=head.last_key,
            key_to=watermark,
            count=len(entries),
            sealed_at=timezone.now(),
            prev_hash=head.last_hash,
            hash=seal_hash(head.last_hash, number, head.last_key, watermark, entries),
        )
        head.last_number, head.last_hash, head.last_key = number, seal.hash, watermark
        head.save(update_fields=["last_number", "last_hash", "last_key"])
        return seal


SEAL_EVERY_SECONDS = 5.0


def schedule_seal() -> None:
    """Ask the worker to seal, at most once every few seconds from this process."""
    from zhiyuan.core.tasks import audit_seal_run

    enqueue_soon(audit_seal_run, SEAL_EVERY_SECONDS)


@dataclass(frozen=True)
class ChainProblem:
    where: str  # "entry 17" or "seal 3", in the reader's language
    reason: str


@dataclass(frozen=True)
class ChainReport:
    entries: int
    seals: int
    unsealed: int
    problem: ChainProblem | None


def _entry(entry_id: int) -> str:
    return _("entry %(id)d") % {"id": entry_id}


def _seal(number: int) -> str:
    return _("seal %(n)d") % {"n": number}


def audit_verify_report(batch_size: int = 5000) -> ChainReport:
    """Recompute every entry's MAC, then every seal and the anchors; stop at the first problem."""
    entries = seals = 0

    def report(problem: ChainProblem | None, unsealed: int = 0) -> ChainReport:
        return ChainReport(entries, seals, unsealed, problem)

    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size):
        if not hmac.compare_digest(event.mac, entry_mac(event)):
            return report(ChainProblem(_entry(event.pk), _("contents altered after writing")))
        entries += 1
    prev_hash, expected, last_key = GENESIS, 1, 0
    for seal in AuditSeal.objects.order_by("number").iterator(chunk_size=batch_size):
        if seal.number != expected:
            return report(ChainProblem(_seal(expected), _("seal missing from the chain")))
        if seal.prev_hash != prev_hash or seal.key_from != last_key:
            return report(ChainProblem(_seal(seal.number), _("does not link to the seal before")))
        covered = _sealed_entries(seal.key_from, seal.key_to)
        if len(covered) != seal.count or not hmac.compare_digest(
            seal.hash, seal_hash(prev_hash, seal.number, seal.key_from, seal.key_to, covered)
        ):
            return report(
                ChainProblem(
                    _seal(seal.number),
                    _("entries removed, added or reordered after sealing"),
                )
            )
        prev_hash, expected, last_key, seals = seal.hash, expected + 1, seal.key_to, seals + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_number, head.last_hash) != (expected - 1, prev_hash):
        return report(ChainProblem(_seal(expected), _("seals missing at the end of the chain")))
    by_number = dict(AuditSeal.objects.values_list("number", "hash"))
    for number, digest in audit_anchors():
        if number not in by_number:
            return report(
                ChainProblem(_seal(number), _("anchored seal missing (the chain was cut)"))
            )
        if by_number[number] != digest:
            return report(ChainProblem(_seal(number), _("anchored seal does not match its anchor")))
    column = chain_key_column()
    unsealed = AuditEvent.objects.filter(
        models.Q(**{f"{column}__gte": last_key}) | models.Q(**{f"{column}__isnull": True})
    ).count()
    return report(None, unsealed)


def audit_verify(batch_size: int = 5000) -> tuple[int, ChainProblem | None]:
    """The number of entries whose MAC holds, and the first problem found (or None)."""
    result = audit_verify_report(batch_size)
    return result.entries, result.problem


def _anchor_signature(number: int, digest: str) -> str:
    # "seal:" so that a line of the older per-entry chain can never pass for a seal's anchor.
    return hmac.new(_key(), f"anchor:seal:{number}:{digest}".encode(), hashlib.sha256).hexdigest()


def audit_anchor() -> tuple[int, str] | None:
    """Seal, then write the chain's head outside the database: ``number hash signature``."""
    audit_seal()
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or head.last_number == 0:
        return None
    path = Path(settings.ZHIYUAN_AUDIT_ANCHOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    signature = _anchor_signature(head.last_number, head.last_hash)
    line = f"{head.last_number} {head.last_hash} {signature}"
    with path.open("a", encoding="ascii") as handle:
        handle.write(line + "\n")
    logger.info("audit anchor %s", line)
    return head.last_number, head.last_hash


def audit_anchors() -> list[tuple[int, str]]:
    """The anchors written so far whose signature holds (a forged line is ignored and logged)."""
    path = Path(settings.ZHIYUAN_AUDIT_ANCHOR_FILE)
    if not path.exists():
        return []
    anchors = []
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        number, digest, signature = int(parts[0]), parts[1], parts[2]
        if hmac.compare_digest(signature, _anchor_signature(number, digest)):
            anchors.append((number, digest))
        else:
            logger.warning("audit anchor with a bad signature ignored: %s", line)
    return anchors
