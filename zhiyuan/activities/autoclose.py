"""Forgotten check-outs and no-shows by each region's rule.

A forgotten check-out is closed two hours after its shift ended unless the region sets its own
grace (``records.RecordRule.checkout_grace_minutes``,
edited on the region's recording-rules page); this module applies it: a session still open
``grace`` after its shift ended is closed *at the shift's end* (service is never counted to
the time of closing) and flagged ``auto_closed``, and people with a confirmed seat who never
checked in are then counted as no-shows — each shift by the rule of its activity's region.

It reuses the check-out of ``services`` (one transaction: the session, its record, the audit
entry), so there is still one way to close a session. The periodic task ``checkouts_close``
calls ``sessions_auto_close_by_rule`` every 15 minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from zhiyuan.activities import services
from zhiyuan.activities.models import (
    ActivityAudit,
    CheckMethod,
    ServiceSession,
    Signup,
    SignupStatus,
)
from zhiyuan.core.audit import audit_record


def _shortest_grace() -> dt.timedelta:
    """No region waits less than this: rows ending later need no look."""
    from zhiyuan.records.models import DEFAULT_CHECKOUT_GRACE, RecordRule

    shortest = min(
        [
            DEFAULT_CHECKOUT_GRACE,
            *RecordRule.objects.values_list("checkout_grace_minutes", flat=True),
        ]
    )
    return dt.timedelta(minutes=shortest)


def _due_ids(rows: QuerySet[Any], now: dt.datetime) -> list[int]:
    """The ids of ``rows`` (sessions or sign-ups) whose shift ended at least their region's
    grace ago, oldest shift first. Every candidate is looked at, so rows waiting in regions with
    a long grace never crowd out rows that are due elsewhere."""
    from zhiyuan.records.services import checkout_grace_for

    graces: dict[str, dt.timedelta] = {}
    due = []
    candidates = rows.filter(shift__ends_at__lte=now - _shortest_grace()).order_by(
        "shift__ends_at", "pk"
    )
    for pk, ends_at, region in candidates.values_list(
        "pk", "shift__ends_at", "shift__activity__region_id"
    ).iterator(chunk_size=2000):
        if region not in graces:
            graces[region] = checkout_grace_for(region)
        if ends_at <= now - graces[region]:
            due.append(pk)
    return due


def _in_batches(model: Any, ids: list[int]) -> Iterator[Any]:
    for start in range(0, len(ids), 500):
        batch = model.objects.filter(pk__in=ids[start : start + 500])
        yield from batch.select_related("shift__activity", "volunteer").order_by(
            "shift__ends_at", "pk"
        )


def sessions_auto_close_by_rule(now: dt.datetime | None = None) -> int:
    """Close forgotten check-outs by each region's grace, then count the no-shows."""
    now = now or timezone.now()
    due = _due_ids(
        ServiceSession.objects.filter(checked_out_at__isnull=True, shift__isnull=False), now
    )
    closed = 0
    for session in _in_batches(ServiceSession, due):
        shift = session.shift
        result = services._close_session(
            shift=shift,
            volunteer=session.volunteer,
            method=CheckMethod.AUTO,
            evidence={"closed_at": now.isoformat()},
            client_at=None,
            actor=None,
            flags=["auto_closed"],
            at=shift.ends_at,
        )
        if result.created:
            closed += 1
            with transaction.atomic():
                audit_record(
                    action=ActivityAudit.AUTO_CHECKOUT,
                    target=result.session,
                    detail={"shift": shift.pk, "volunteer": session.volunteer_id},
                )
    signups_mark_no_shows_by_rule(now=now)
    return closed


def signups_mark_no_shows_by_rule(now: dt.datetime | None = None) -> int:
    """People with a confirmed seat who never checked in, once their shift ended and its
    region's grace passed, did not turn up; counted, shown to organisers, and the ledger's
    no-show rule runs (where the region has earning rules)."""
    from zhiyuan.ledger import errors as ledger_errors
    from zhiyuan.ledger.services import ledger_penalise_no_show

    now = now or timezone.now()
    came = ServiceSession.objects.filter(shift=OuterRef("shift"), volunteer=OuterRef("volunteer"))
    due = _due_ids(
        Signup.objects.filter(status=SignupStatus.CONFIRMED)
        .annotate(came=Exists(came))
        .filter(came=False),
        now,
    )
    count = 0
    for signup in _in_batches(Signup, due):
        with transaction.atomic():
            updated = Signup.objects.filter(pk=signup.pk, status=SignupStatus.CONFIRMED).update(
                status=SignupStatus.NO_SHOW
            )
            if not updated:
                continue
            audit_record(
                action=ActivityAudit.NO_SHOW, target=signup, detail={"shift": signup.shift_id}
            )
            with contextlib.suppress(ledger_errors.LedgerRefused):
                ledger_penalise_no_show(
                    volunteer=signup.volunteer,
                    region=signup.shift.activity.region_id,
                    occurred_at=signup.shift.starts_at,
                    source=f"signup:{signup.pk}",
                )
        count += 1
    return count
