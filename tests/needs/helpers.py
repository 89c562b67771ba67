"""Shared test helpers: a snapshot of everything a refused action must leave untouched."""

from __future__ import annotations

from typing import Any

from zhiyuan.needs.models import Need, NeedAssignment, NeedEvent, NeedRating, NeedTimeBank


def snapshot() -> dict[str, Any]:
    from zhiyuan.ledger.models import Account, Transaction

    return {
        "needs": list(Need.objects.order_by("pk").values()),
        "assignments": list(NeedAssignment.objects.order_by("pk").values()),
        "events": NeedEvent.objects.count(),
        "ratings": list(NeedRating.objects.order_by("pk").values()),
        # Time credit spent through needs, and every balance: a refusal books nothing.
        "time_bank": list(NeedTimeBank.objects.order_by("pk").values()),
        "transactions": Transaction.objects.count(),
        "balances": list(Account.objects.order_by("pk").values_list("pk", "balance")),
    }
