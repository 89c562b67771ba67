"""Background work of the activities app: the waitlist's clock, under-staffed shifts, and
forgotten check-outs. Each runs periodically (``zhiyuan.core.schedule``) from the worker."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from zhiyuan.core.schedule import periodic


@periodic(every=timedelta(minutes=5))
@task()
def offers_lapse() -> int:
    """Offers of a freed seat not taken in time go to the next person waiting."""
    from zhiyuan.activities.services import offers_expire

    return offers_expire()


@periodic(every=timedelta(minutes=30))
@task()
def shifts_understaffed() -> int:
    """Flag shifts starting within two days that have too few people, and tell organisers."""
    from zhiyuan.activities.services import shifts_flag_understaffed

    return len(shifts_flag_understaffed())


@periodic(every=timedelta(minutes=15))
@task()
def checkouts_close() -> int:
    """Close forgotten check-outs at the shift's end (flagged) and count no-shows, each by its
    region's grace (the recording rules)."""
    from zhiyuan.activities.autoclose import sessions_auto_close_by_rule

    return sessions_auto_close_by_rule()
