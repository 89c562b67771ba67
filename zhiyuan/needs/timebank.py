"""Time-bank needs: a member spends time credit to ask for service for themselves or a
registered relative, through the needs flow (issue 6 item 3; docs/needs.md "Time bank").

When the credit moves:

- **posting** withdraws it (``ledger.services.timebank_withdraw``, in the posting's transaction:
  a refusal — not enough credit, not a registered relative, under the region's withdrawal age —
  leaves no need and no booking);
- **cancelled, rejected or expired** before any service started: the withdrawal is reversed
  (``timebank_withdrawal_cancel``) in the same transaction as the state change;
- **the first start** spends it: no refund from then on (``timebank_withdrawal_settle``);
- the serving volunteer's record is a time-bank record, so its confirmation deposits their
  credit (``records.services.record_confirm`` → ``ledger.services.timebank_deposit``).

These helpers run inside the needs services' transactions, after the need's row lock.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import User
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.needs.models import Need, NeedTimeBank, TimeBankStatus

# A request spends between half an hour and a day of credit, in whole minutes.
MIN_MINUTES = 30
MAX_MINUTES = 24 * 60
# What the posting form offers (minutes); the API takes any whole number in the range.
MINUTE_CHOICES = (30, 60, 90, 120, 180, 240)
FIELD = "timebank_minutes"


class TimeBankRefused(ValidationError):
    """The ledger refused the credit (or the choice of person): nothing was posted or booked.
    Keyed to the form's time-bank field; ``code`` and ``status`` are the API's."""

    def __init__(self, message: str, code: str, status: int, field: str = FIELD) -> None:
        super().__init__({field: [message]})
        self.refusal_code, self.status, self.text = code, status, message


def refused(exc: LedgerRefused, field: str = FIELD) -> TimeBankRefused:
    return TimeBankRefused(exc.messages[0], exc.code, exc.status, field)


def relative_for(member: User, relative_id: int) -> Any:
    """The member's registered relative with this id, or NotARelative (someone else's, removed,
    or unknown: the same answer, so ids reveal nothing)."""
    from zhiyuan.ledger.models import Relative
    from zhiyuan.ledger.timebank_needs import NotARelative

    relative = Relative.objects.filter(
        pk=relative_id, member=member, removed_at__isnull=True
    ).first()
    if relative is None:
        raise refused(NotARelative(), "timebank_for")
    return relative


def minutes_check(minutes: Any) -> int:
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not MIN_MINUTES <= minutes <= MAX_MINUTES
    ):
        raise TimeBankRefused(
            _("Spend between %(low)d and %(high)d minutes of credit.")
            % {"low": MIN_MINUTES, "high": MAX_MINUTES},
            "invalid_amount",
            422,
        )
    return minutes


def need_timebank_hold(
    *,
    need: Need,
    member: User,
    minutes: int,
    relative: Any = None,
    request: HttpRequest | None = None,
) -> NeedTimeBank:
    """Withdraw the credit for a need just posted (inside ``need_submit``'s transaction)."""
    from zhiyuan.ledger.services import timebank_withdraw

    try:
        withdrawal = timebank_withdraw(
            member=member,
            region=need.region_id,
            minutes=minutes,
            note=(_("Need #%(id)s: %(category)s") % {"id": need.pk, "category": need.category})[
                :200
            ],
            key=f"need-{need.pk}-timebank",
            relative=relative,
            http_request=request,
            tell_admins=False,  # the need itself goes to the dispatchers
        )
    except LedgerRefused as exc:
        # An age or birth-date refusal is about whom the credit is for, not how much.
        about_whom = exc.code in {"withdrawal_age", "birth_date_unknown"}
        raise refused(exc, "timebank_for" if about_whom else FIELD) from exc
    return NeedTimeBank.objects.create(
        need=need, member=member, relative=relative, minutes=minutes, withdrawal=withdrawal
    )


def need_timebank_refund(*, need: Need, actor: User | None) -> NeedTimeBank | None:
    """The need ended before any service: the credit comes back by reversal (once)."""
    from zhiyuan.ledger.services import timebank_withdrawal_cancel

    row = NeedTimeBank.objects.filter(need=need).select_related("withdrawal").first()
    if row is None or row.status != TimeBankStatus.HELD:
        return row
    # actor None: the clock expired the need; the reversal is the system's.
    timebank_withdrawal_cancel(withdrawal=row.withdrawal, actor=actor, by_need=True)  # type: ignore[arg-type]
    row.status, row.changed_at = TimeBankStatus.REFUNDED, timezone.now()
    row.save(update_fields=["status", "changed_at"])
    return row


def need_timebank_settle(*, need: Need) -> NeedTimeBank | None:
    """The service started: the credit is spent and no longer refundable."""
    from zhiyuan.ledger.timebank_needs import timebank_withdrawal_settle

    row = NeedTimeBank.objects.filter(need=need).select_related("withdrawal").first()
    if row is None or row.status != TimeBankStatus.HELD:
        return row
    settled = timebank_withdrawal_settle(withdrawal=row.withdrawal)
    # Refunded meanwhile (the ledger refuses any other cancel of a need's credit): nothing more
    # to spend.
    row.status = TimeBankStatus.SPENT if settled.spent else TimeBankStatus.REFUNDED
    row.changed_at = timezone.now()
    row.save(update_fields=["status", "changed_at"])
    return row


def timebank_paid(need: Need) -> bool:
    """The member's credit paid for this service: only then does the volunteer earn credit."""
    return NeedTimeBank.objects.filter(need=need, status=TimeBankStatus.SPENT).exists()
