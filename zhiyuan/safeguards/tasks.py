"""Background work of the safeguards: keep organisation statuses in step with sanctions."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from zhiyuan.core.schedule import periodic


@periodic(every=timedelta(minutes=15))
@task()
def sanctions_sync() -> int:
    """Suspensions that began or ran out since the last run change the status shown; the gate
    (``organization_can_operate``) reads the sanctions directly and never waits for this."""
    from zhiyuan.safeguards.services import sanction_sync_statuses

    return sanction_sync_statuses()
