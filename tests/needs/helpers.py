"""Shared test helpers: a snapshot of everything a refused action must leave untouched."""

from __future__ import annotations

from typing import Any

from zhiyuan.needs.models import Need, NeedAssignment, NeedEvent, NeedRating


def snapshot() -> dict[str, Any]:
    return {
        "needs": list(Need.objects.order_by("pk").values()),
        "assignments": list(NeedAssignment.objects.order_by("pk").values()),
        "events": NeedEvent.objects.count(),
        "ratings": list(NeedRating.objects.order_by("pk").values()),
    }
