"""Writing and verifying the audit log.

``audit_record`` is the only way an entry is written. It appends to the hash chain under a row
lock on the chain head, inside the caller's transaction, so an action and its audit entry commit
or roll back together.

Each entry's hash is an HMAC (key ``ZHIYUAN_AUDIT_KEY``, kept out of the database) over the
previous hash and the entry's fields: someone who can write the table cannot recompute the chain
after changing an entry. Removing the newest entries together with the head row would still
leave a shorter, self-consistent chain, so ``audit_anchor`` regularly writes the head, signed,
outside the database (``ZHIYUAN_AUDIT_ANCHOR_FILE``; ship it to write-once storage), and
``audit_verify`` checks every anchor against the chain.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.core.models import AuditAction, AuditChainHead, AuditEvent, AuditResult

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
    return base64.b64decode(settings.ZHIYUAN_AUDIT_KEY)


def _entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(_key(), f"{prev_hash}\n{canonical}".encode(), hashlib.sha256).hexdigest()


def _canonical_ip(ip: str | None) -> str | None:
    # Hash the address as the database will give it back (IPv6 in its short form).
    return str(ipaddress.ip_address(ip)) if ip else None


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "ip": _canonical_ip(event.ip),
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "result": event.result,
        "detail": event.detail,
    }


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
    if target is not None:
        object_type = target._meta.label_lower
        object_id = str(target.pk)
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        # Row lock on the chain head: serialises appenders so that sequence numbers and the
        # previous hash are taken by one writer at a time.
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.last_seq + 1,
            at=timezone.now(),
            actor_id=actor_id,
            ip=client_ip(request),
            action=str(action),
            object_type=object_type,
            object_id=object_id,
            result=result,
            detail=detail or {},
            prev_hash=head.last_hash,
        )
        event.hash = _entry_hash(head.last_hash, _hashed_fields(event))
        event.save(force_insert=True)
        head.last_seq, head.last_hash = event.seq, event.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def audit_verify(batch_size: int = 5000) -> tuple[int, ChainProblem | None]:
    """Walk the chain in order; return the number of entries checked and the first problem."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return checked, ChainProblem(expected_seq, _("entry missing (removed from the chain)"))
        if event.prev_hash != expected_prev:
            return checked, ChainProblem(event.seq, _("previous-hash link broken"))
        if _entry_hash(event.prev_hash, _hashed_fields(event)) != event.hash:
            return checked, ChainProblem(event.seq, _("contents altered after writing"))
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_seq != checked:
        return checked, ChainProblem(checked + 1, _("entries missing at the end of the chain"))
    for seq, digest in audit_anchors():
        anchored = AuditEvent.objects.filter(seq=seq).first()
        if anchored is None:
            return checked, ChainProblem(seq, _("anchored entry missing (the chain was cut)"))
        if anchored.hash != digest:
            return checked, ChainProblem(seq, _("anchored entry does not match its anchor"))
    return checked, None


def _anchor_signature(seq: int, digest: str) -> str:
    return hmac.new(_key(), f"anchor:{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def audit_anchor() -> tuple[int, str] | None:
    """Write the chain's head outside the database: ``seq hash signature`` on a line."""
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or head.last_seq == 0:
        return None
    path = Path(settings.ZHIYUAN_AUDIT_ANCHOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = f"{head.last_seq} {head.last_hash} {_anchor_signature(head.last_seq, head.last_hash)}"
    with path.open("a", encoding="ascii") as handle:
        handle.write(line + "\n")
    logger.info("audit anchor %s", line)
    return head.last_seq, head.last_hash


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
        seq, digest, signature = int(parts[0]), parts[1], parts[2]
        if hmac.compare_digest(signature, _anchor_signature(seq, digest)):
            anchors.append((seq, digest))
        else:
            logger.warning("audit anchor with a bad signature ignored: %s", line)
    return anchors
