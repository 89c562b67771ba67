"""Background work of the needs: the clock that watches time limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

from zhiyuan.core.schedule import periodic


@periodic(every=timedelta(minutes=1))
@task()
def needs_watch() -> dict[str, Any]:
    """Expire, return, alert and remind (see ``services.need_deadlines_enforce``)."""
    from dataclasses import asdict

    from zhiyuan.needs.services import need_deadlines_enforce

    return asdict(need_deadlines_enforce())


@periodic(every=timedelta(hours=1))
@task()
def needs_records_backfill() -> int:
    """Record the served parts left waiting for a certifying organisation (see
    ``services.need_records_backfill``); also enqueued when a region names its centre."""
    from zhiyuan.needs.services import need_records_backfill

    return need_records_backfill()
