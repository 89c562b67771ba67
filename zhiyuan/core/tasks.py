"""Background work of the core: the retention schedule (PIPL: keep data no longer than needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tasks import task

from zhiyuan.core.audit import audit_anchor, audit_record, audit_seal
from zhiyuan.core.models import AuditAction
from zhiyuan.core.schedule import periodic

# How long each kind of transient data is kept after it stops being useful.
PHONE_CODES_KEPT = timedelta(days=1)
DEAD_TOKENS_KEPT = timedelta(days=90)
GUARDIAN_REQUEST_OPEN = timedelta(days=30)
SECURITY_LOGS_KEPT = timedelta(days=190)


def retention_apply(now: Any = None) -> dict[str, int]:
    """Remove what the retention schedule says has expired; audit the counts."""
    from axes.models import AccessAttempt, AccessLog

    from zhiyuan.accounts.models import ApiToken, PhoneChallenge
    from zhiyuan.people.models import GuardianLink
    from zhiyuan.people.services import person_erase_unconsented_minors

    now = now or timezone.now()
    counts = {
        "phone_codes": PhoneChallenge.objects.filter(
            created_at__lt=now - PHONE_CODES_KEPT
        ).delete()[0],
        "sessions": Session.objects.filter(expire_date__lt=now).delete()[0],
        "api_tokens": ApiToken.objects.filter(revoked_at__lt=now - DEAD_TOKENS_KEPT).delete()[0]
        + ApiToken.objects.filter(expires_at__lt=now - DEAD_TOKENS_KEPT).delete()[0],
        "unconsented_minors": person_erase_unconsented_minors(now),
        # Security logs of log-ins: six months at least (Cybersecurity Law), then gone.
        "login_logs": AccessLog.objects.filter(attempt_time__lt=now - SECURITY_LOGS_KEPT).delete()[
            0
        ],
        "login_attempts": AccessAttempt.objects.filter(
            attempt_time__lt=now - timedelta(days=1)
        ).delete()[0],
        "guardian_requests": GuardianLink.objects.filter(
            consented_at__isnull=True,
            revoked_at__isnull=True,
            requested_at__lt=now - GUARDIAN_REQUEST_OPEN,
        ).update(revoked_at=now),
    }
    audit_record(action=AuditAction.RETENTION_RUN, object_type="core.retention", detail=counts)
    return counts


@periodic(every=timedelta(hours=24))
@task()
def retention_run() -> dict[str, int]:
    return retention_apply()


@periodic(every=timedelta(hours=1))
@task()
def audit_anchor_run() -> int:
    """Anchor the audit chain's head outside the database every hour."""
    anchored = audit_anchor()
    return anchored[0] if anchored else 0


@periodic(every=timedelta(minutes=1))
@task()
def audit_seal_run() -> int:
    """Chain what was committed since the last seal; the number of entries sealed.

    Writers also ask for a seal a few seconds after they commit (``schedule_seal``); this run
    catches whatever those requests missed.
    """
    seal = audit_seal()
    return seal.count if seal else 0
