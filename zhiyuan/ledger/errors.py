"""Why the ledger refuses something: one exception per reason, each with its own message.

Each is a ``ValidationError`` (so forms and the API show the message) with a stable ``code``
that API clients branch on.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class LedgerRefused(ValidationError):
    """Base of every refusal; nothing was booked and no balance changed."""

    status = 422
    default_code = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code: str = code or self.default_code
        super().__init__(message, code=self.code)


class InvalidAmount(LedgerRefused):
    default_code = "invalid_amount"

    def __init__(self) -> None:
        super().__init__(_("The amount must be a whole number greater than zero."))


class Overdrawn(LedgerRefused):
    default_code = "insufficient_balance"
    status = 409

    def __init__(self, available: int, wanted: int) -> None:
        super().__init__(
            _("Not enough on the account: %(available)d available, %(wanted)d needed.")
            % {"available": available, "wanted": wanted}
        )


class IdempotencyConflict(LedgerRefused):
    default_code = "idempotency_conflict"
    status = 409

    def __init__(self) -> None:
        super().__init__(
            _(
                "This request key was already used for a different request. "
                "Send a new key for a new request."
            )
        )


class InvalidKey(LedgerRefused):
    default_code = "invalid_key"

    def __init__(self) -> None:
        super().__init__(
            _("A request key is 8 to 100 letters, digits, dots, colons, dashes or underscores.")
        )


class NotADirectRelative(LedgerRefused):
    default_code = "not_a_direct_relative"
    status = 403

    def __init__(self) -> None:
        super().__init__(
            _(
                "Credit can only be transferred to your spouse, parents, children, grandparents "
                "or grandchildren registered with your community, who have an account of their "
                "own."
            )
        )


class AlreadyReversed(LedgerRefused):
    default_code = "already_reversed"
    status = 409

    def __init__(self) -> None:
        super().__init__(_("This booking has been reversed already."))


class NoRules(LedgerRefused):
    default_code = "no_rules"

    def __init__(self) -> None:
        super().__init__(_("No earning rules are in force for this region on this date."))


class TooYoung(LedgerRefused):
    default_code = "withdrawal_age"
    status = 403

    def __init__(self, min_age: int) -> None:
        super().__init__(
            _("Time-bank credit can be spent for people aged %(age)d or over.") % {"age": min_age}
        )


class BirthDateUnknown(LedgerRefused):
    default_code = "birth_date_unknown"

    def __init__(self) -> None:
        super().__init__(
            _(
                "Your birth date is not on record yet, so your right to spend credit cannot be "
                "checked: complete your real-name identity first."
            )
        )


class NotEligible(LedgerRefused):
    default_code = "not_eligible"

    def __init__(self) -> None:
        super().__init__(_("This elder is not registered as eligible in this region."))


class WithdrawalHeldByNeed(LedgerRefused):
    """Credit held for a posted need comes back by cancelling the need, not the withdrawal:
    otherwise the member would have the credit back and the service still on its way."""

    default_code = "withdrawal_held_by_need"
    status = 409

    def __init__(self) -> None:
        super().__init__(
            _(
                "This credit pays for a need you posted. Cancel the need instead: the credit "
                "comes back then."
            )
        )


class ItemUnknown(LedgerRefused):
    default_code = "unknown_item"

    def __init__(self) -> None:
        super().__init__(_("This region has no time-bank service item with this code."))
