"""Time-bank credit spent through the needs flow (issue 6 item 3), on the ledger's side.

The needs app withdraws with :func:`zhiyuan.ledger.services.timebank_withdraw` when a member
posts a time-bank need and refunds with ``timebank_withdrawal_cancel`` while no service has
started. This module adds the one step the ledger lacked: once the service starts the
withdrawal is *served* and no longer refundable, so the ledger's own "cancel" (which refunds
any withdrawal still ``requested``) leaves it alone.

Nothing here books money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_record
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.ledger.models import Withdrawal, WithdrawalStatus
from zhiyuan.ledger.services import LedgerAudit

SERVED = WithdrawalStatus.SERVED


class NotARelative(LedgerRefused):
    """Credit is spent for oneself or a relative the community registered for the member."""

    default_code = "not_a_relative"
    status = 403

    def __init__(self) -> None:
        super().__init__(
            _(
                "Time-bank credit can be spent only for yourself or for a relative registered "
                "with your community."
            )
        )


@dataclass(frozen=True)
class Settled:
    withdrawal: Withdrawal
    # False when the withdrawal was already cancelled (the need ended unserved just before).
    spent: bool


def timebank_withdrawal_settle(
    *, withdrawal: Withdrawal, actor: Any = None, http_request: HttpRequest | None = None
) -> Settled:
    """The service asked for has started: the withdrawal is spent and cannot be refunded.

    Idempotent. A withdrawal cancelled meanwhile (its need ended unserved) stays cancelled: the
    credit is already back with the member and nothing is booked again. ``actor`` is the
    administrator who arranged a free-standing request's service (none: the needs flow).
    """
    with transaction.atomic():
        # Row lock on the withdrawal: serialises this with timebank_withdrawal_cancel, which
        # takes the same lock, so a cancel and a start never both win.
        row = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
        if row.status == WithdrawalStatus.CANCELLED:
            return Settled(row, False)
        if row.status != SERVED:
            row.status = SERVED
            row.save(update_fields=["status"])
            audit_record(
                action=LedgerAudit.WITHDRAWAL_SERVED,
                actor=actor,
                target=row,
                request=http_request,
                detail={"transaction": row.transaction_id},
            )
        return Settled(row, True)
