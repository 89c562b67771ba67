"""Background work of the ledger: sealing committed transactions into the hash chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

try:  # the worker's clock (zhiyuan.core.schedule) arrives with the operations work
    from zhiyuan.core.schedule import periodic
except ImportError:  # pragma: no cover — until then the writers' own requests suffice

    def periodic(every: timedelta) -> Any:
        return lambda t: t


@periodic(every=timedelta(minutes=1))
@task()
def ledger_seal_task() -> int:
    """Seal what was committed since the last seal; the number of transactions sealed."""
    from zhiyuan.ledger.services import ledger_seal

    seal = ledger_seal()
    return seal.count if seal else 0
