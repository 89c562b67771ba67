"""Background work of the records app: records reaching their confirmation deadline."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from zhiyuan.core.schedule import periodic


@periodic(every=timedelta(hours=1))
@task()
def records_due() -> dict[str, int]:
    """Confirm clean, evidence-backed records at their deadline; mark the others overdue."""
    from zhiyuan.records.services import records_confirm_due

    return records_confirm_due()
