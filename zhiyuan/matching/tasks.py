"""Background work of matching: the automatic "fill all open needs" of the regions that want it."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from zhiyuan.core.schedule import periodic


# Every minute the task looks at which regions are due; each region's own interval
# (``AutoFill.interval_minutes``, 10 minutes unless its dispatcher chose otherwise) decides.
@periodic(every=timedelta(minutes=1))
@task()
def matching_autofill() -> dict[str, str]:
    """Re-solve and dispatch the open needs of every region whose automatic fill is due
    (see ``services.matching_autofill_due``)."""
    from zhiyuan.matching.services import matching_autofill_due

    return matching_autofill_due()
