"""Demo records: the past check-ins of the activities demo become service records through
``record_create`` and are confirmed by the demo organisation's admin through
``record_confirm`` — so the ledger really credits points, star levels are reached and a
certificate can be issued on first log-in. The last two weeks stay in the organiser's
confirmation queue, one flagged record waits for its second confirmer (the region admin), and
the demo volunteer has asked for one correction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone

from zhiyuan.accounts.roles import Role
from zhiyuan.activities.models import ServiceSession
from zhiyuan.records import services
from zhiyuan.records.models import RecordStatus

if TYPE_CHECKING:
    from zhiyuan.demo.builder import DemoContext

ORDER = 220  # after the activities demo (210), which made the check-ins


def populate(ctx: DemoContext) -> None:
    organiser = ctx.accounts[Role.ORG_ADMIN]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    now = timezone.now()
    recent = now - dt.timedelta(days=14)
    sessions = (
        ServiceSession.objects.filter(checked_out_at__isnull=False, shift__isnull=False)
        .select_related("shift__activity__organization", "volunteer")
        .order_by("checked_in_at", "pk")
    )
    records = []
    for session in sessions:
        record = services.record_from_session(session=session, actor=session.volunteer)
        if record is None:
            continue
        if record.started_at < recent or record.flags:
            # Older records are confirmed; a flagged one waits for a second confirmer.
            record = services.record_confirm(record=record, actor=organiser)
        records.append(record)
    mine = [
        r for r in records if r.volunteer_id == volunteer.pk and r.status == RecordStatus.CONFIRMED
    ]
    if not mine:
        return
    organization = mine[0].organization
    today = timezone.localdate()
    services.certificate_issue(
        volunteer=volunteer,
        organization=organization,
        period_start=today.replace(month=1, day=1) - dt.timedelta(days=365),
        period_end=today,
        actor=volunteer,
        notes="演示证明",
    )
    wrong = mine[-1]
    services.correction_request(
        record=wrong,
        actor=volunteer,
        reason="那天提前到了集合点帮忙布置，签到时手机没信号。",
        started_at=wrong.started_at - dt.timedelta(minutes=20),
        ended_at=wrong.ended_at,
    )
