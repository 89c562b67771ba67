"""Risk signals per organisation, and the score that ranks them — without Django.

The score is a plain weighted sum, so a region admin can see why an organisation is near the
top. Each signal is a count the selector reads from complaints, sanctions and incidents; the
hours signal comes from whoever provides claimed hours (the records issue) through
``selectors.HOURS_PROVIDERS``, and is left out until a provider exists.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

WEIGHTS = {
    "substantiated": 5.0,  # complaints found true in the last year
    "overdue": 3.0,  # open cases past their answer date
    "unresolved": 2.0,  # open cases
    "complaints": 1.0,  # complaints received in the last 90 days
    "charging": 4.0,  # of which about charging or profit (Arts. 21, 25): the gravest
    "active_sanction": 6.0,
    "past_sanctions": 1.5,
    "serious_incidents": 2.0,
    "hours_jump": 4.0,  # claimed hours jumped well above the organisation's own usual level
}
# A week's claimed hours at least this many times the median of the weeks before is a jump.
JUMP_FACTOR = 2.5
MIN_HISTORY_WEEKS = 4


@dataclass
class Signals:
    organization_id: int
    complaints: int = 0
    charging: int = 0
    unresolved: int = 0
    overdue: int = 0
    substantiated: int = 0
    active_sanction: int = 0
    past_sanctions: int = 0
    serious_incidents: int = 0
    hours_jump: float | None = None  # last week / median of earlier weeks, when known
    extra: dict[str, float] = field(default_factory=dict)


def hours_jump(weekly_hours: list[float]) -> float | None:
    """Last week's hours over the median of the weeks before, or None without enough history."""
    if len(weekly_hours) < MIN_HISTORY_WEEKS + 1:
        return None
    *before, last = weekly_hours
    usual = statistics.median(before)
    if usual <= 0:
        return None if last <= 0 else float("inf")
    return last / usual


def score(signals: Signals) -> tuple[float, list[tuple[str, float]]]:
    """The score and its parts (signal, points), largest part first."""
    parts: list[tuple[str, float]] = []
    for name in (
        "substantiated",
        "overdue",
        "unresolved",
        "complaints",
        "charging",
        "active_sanction",
        "past_sanctions",
        "serious_incidents",
    ):
        value = getattr(signals, name)
        if value:
            parts.append((name, WEIGHTS[name] * value))
    if signals.hours_jump is not None and signals.hours_jump >= JUMP_FACTOR:
        parts.append(("hours_jump", WEIGHTS["hours_jump"]))
    # Signals other apps contribute, already in points (e.g. the records issue's share of
    # unconfirmed or flagged records).
    parts.extend((name, points) for name, points in signals.extra.items() if points)
    parts.sort(key=lambda p: -p[1])
    return sum(points for _, points in parts), parts


def rank(all_signals: list[Signals]) -> list[tuple[Signals, float, list[tuple[str, float]]]]:
    """Organisations with any signal, highest score first (ties: lower id first)."""
    scored = [(s, *score(s)) for s in all_signals]
    kept = [row for row in scored if row[1] > 0]
    return sorted(kept, key=lambda row: (-row[1], row[0].organization_id))
