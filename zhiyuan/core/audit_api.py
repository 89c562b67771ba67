"""Audit log API, for the audit administrator alone."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from zhiyuan.core.api import ErrorOut
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import require

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: int | None
    ip: str | None
    action: str
    object_type: str
    object_id: str
    result: str
    mac: str


@router.get("", response={200: list[AuditEventOut], 403: ErrorOut})
def audit_list(
    request: HttpRequest, before: int | None = None, limit: int = 100
) -> list[AuditEventOut]:
    """Entries newest first; page with ``before=<id>``."""
    require(request.user, "audit.view", request=request)
    events = AuditEvent.objects.order_by("-id")
    if before is not None:
        events = events.filter(id__lt=before)
    return [
        AuditEventOut(
            id=e.pk,
            at=e.at,
            actor=e.actor_id,
            ip=e.ip,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            result=e.result,
            mac=e.mac,
        )
        for e in events[: max(1, min(limit, 500))]
    ]
