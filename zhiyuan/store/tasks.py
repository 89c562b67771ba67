"""Background work of the rewards store: vouchers that expire are refunded by reversal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

try:  # the worker's clock (zhiyuan.core.schedule) arrives with the operations work
    from zhiyuan.core.schedule import periodic
except ImportError:  # pragma: no cover — until then each voucher's own task expires it

    def periodic(every: timedelta) -> Any:
        return lambda t: t


@task()
def store_voucher_expire(voucher_id: int) -> str:
    """Enqueued at redemption to run when the voucher's validity ends."""
    from zhiyuan.store.models import Voucher
    from zhiyuan.store.services import store_voucher_return

    voucher = Voucher.objects.filter(pk=voucher_id).first()
    if voucher is None:
        return "gone"
    return store_voucher_return(voucher=voucher, expired=True).status


@periodic(every=timedelta(minutes=15))
@task()
def store_expire_sweep() -> int:
    """A safety net for vouchers whose own task was lost: expire whatever is due."""
    from zhiyuan.store.services import store_expire_due

    return store_expire_due()
