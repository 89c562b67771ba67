"""Demo records: the past check-ins of the activities demo become service records through
``record_create`` and are confirmed by the demo organisation's admin through
``record_confirm`` — so the ledger really credits points, star levels are reached and a
certificate can be issued on first log-in. The last two weeks stay in the organiser's
confirmation queue, one flagged record waits for its second confirmer (the region admin), and
the demo volunteer has asked for one correction.

The region admin has set the district's recording rules twice (so the rules page shows a
history), another volunteer's certificate was revoked and re-issued (the public check shows
why it no longer stands), and the organiser has a team signed up together and a late
cancellation on today's shift (the pages beside the activities: team sign-up, attendance).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from zhiyuan.accounts.roles import Role
from zhiyuan.activities.models import ServiceSession, Shift, Signup, SignupStatus
from zhiyuan.records import services
from zhiyuan.records.models import RecordStatus, RevokeReason, ServiceRecord

if TYPE_CHECKING:
    from zhiyuan.demo.builder import DemoContext

ORDER = 220  # after the activities demo (210), which made the check-ins


def populate(ctx: DemoContext) -> None:
    organiser = ctx.accounts[Role.ORG_ADMIN]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    _rules(ctx)
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
    _revoked_certificate(organization, organiser, exclude=volunteer.pk)
    _organiser_views(ctx)
    wrong = mine[-1]
    services.correction_request(
        record=wrong,
        actor=volunteer,
        reason="那天提前到了集合点帮忙布置，签到时手机没信号。",
        started_at=wrong.started_at - dt.timedelta(minutes=20),
        ended_at=wrong.ended_at,
    )


def _rules(ctx: DemoContext) -> None:
    """Two versions of the district's recording rules, each with why it changed."""
    admin = ctx.accounts[Role.REGION_ADMIN]
    services.record_rule_set(
        region=ctx.district,
        actor=admin,
        note="按区志愿服务记录办法设置（演示）",
        checkout_grace_minutes=90,
        star_min_months=[0, 0, 6, 12, 24],
    )
    services.record_rule_set(
        region=ctx.district, actor=admin, note="节假日较多，延长确认期限", confirm_days=10
    )


def _revoked_certificate(organization: Any, organiser: Any, exclude: int) -> None:
    """Another volunteer's certificate, revoked (it was re-issued) and issued again."""
    other = (
        ServiceRecord.objects.filter(organization=organization, status=RecordStatus.CONFIRMED)
        .exclude(volunteer_id=exclude)
        .select_related("volunteer")
        .order_by("volunteer_id")
        .first()
    )
    if other is None:
        return
    person = other.volunteer
    start = timezone.localdate(other.started_at).replace(day=1)
    first = services.certificate_issue(
        volunteer=person,
        organization=organization,
        period_start=start,
        period_end=timezone.localdate(),
        actor=person,
    )
    services.certificate_revoke(
        certificate=first,
        actor=organiser,
        category=RevokeReason.REPLACED,
        note="志愿者要求按全年重新开具。",
    )
    services.certificate_issue(
        volunteer=person,
        organization=organization,
        period_start=start.replace(month=1),
        period_end=timezone.localdate(),
        actor=person,
    )


def _organiser_views(ctx: DemoContext) -> None:
    """Today's shift: three members signed up together as a team, and one person cancelled
    with less notice than asked (a late cancellation the organiser sees)."""
    from zhiyuan.activities import services as activities
    from zhiyuan.activities.demo import home_organization, members_of

    organiser = ctx.accounts[Role.ORG_ADMIN]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    org = home_organization(ctx)
    today = (
        Shift.objects.filter(activity__organization=org, starts_at__gt=timezone.now())
        .order_by("starts_at")
        .first()
    )
    if today is None:
        return
    holding = (
        Signup.objects.filter(shift=today, status=SignupStatus.CONFIRMED)
        .exclude(volunteer=volunteer)
        .order_by("pk")
        .first()
    )
    if holding is not None:
        activities.signup_cancel(signup=holding, actor=holding.volunteer, reason="临时要加班")
    signed = set(Signup.objects.filter(shift=today).values_list("volunteer_id", flat=True))
    team = [p for p in members_of(org, exclude=[organiser.pk, volunteer.pk]) if p.pk not in signed][
        -3:
    ]
    activities.signup_group(shift=today, team=org, volunteers=team, actor=organiser)
