"""Recording rules and star levels, without Django: plain numbers in, numbers out.

- Minutes are actual service time, rounded by the region's rule (default: down to the whole
  minute, so a record never claims a minute that was not served).
- A day holds at most the region's cap of credited minutes (default 12 hours).
- Star levels (星级志愿者) come from confirmed hours: 1★ 100 h, 2★ 300 h, 3★ 600 h,
  4★ 1000 h, 5★ 1500 h by national practice; a region may set other thresholds and a minimum
  number of months since the volunteer's first confirmed service for each level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_STAR_HOURS = (100, 300, 600, 1000, 1500)
DEFAULT_STAR_MONTHS = (0, 0, 0, 0, 0)
DEFAULT_DAILY_CAP = 12 * 60


@dataclass(frozen=True)
class Rules:
    region_code: str = ""
    rounding_unit: int = 1
    rounding_mode: str = "down"
    daily_cap_minutes: int = DEFAULT_DAILY_CAP
    confirm_days: int = 7
    auto_confirm_clean: bool = True
    star_hours: tuple[int, ...] = DEFAULT_STAR_HOURS
    star_min_months: tuple[int, ...] = DEFAULT_STAR_MONTHS
    far_checkin_m: int = 0
    burst_seconds: int = 10
    burst_count: int = 5
    checkout_grace_minutes: int = 120


def actual_minutes(started_at: dt.datetime, ended_at: dt.datetime) -> int:
    """Whole minutes served between two instants (seconds left over are not counted)."""
    seconds = (ended_at - started_at).total_seconds()
    return max(0, int(seconds // 60))


def round_minutes(minutes: int, unit: int = 1, mode: str = "down") -> int:
    if unit <= 1:
        return minutes
    whole, rest = divmod(minutes, unit)
    if (mode == "up" and rest) or (mode == "nearest" and rest * 2 >= unit):
        whole += 1
    return whole * unit


def cap_for_day(minutes: int, already_that_day: int, cap: int) -> int:
    """What is left to credit under the daily cap."""
    return max(0, min(minutes, cap - already_that_day))


def months_between(first: dt.date, day: dt.date) -> int:
    """Completed calendar months from ``first`` to ``day``."""
    months = (day.year - first.year) * 12 + day.month - first.month
    if day.day < first.day:
        months -= 1
    return max(0, months)


def star_level(
    hours: float,
    *,
    first_service: dt.date | None,
    today: dt.date,
    thresholds: Sequence[int] = DEFAULT_STAR_HOURS,
    min_months: Sequence[int] = DEFAULT_STAR_MONTHS,
) -> int:
    """The highest level whose hours and months of service are both reached (0: none yet)."""
    months = months_between(first_service, today) if first_service else 0
    level = 0
    for index, needed in enumerate(thresholds):
        months_needed = min_months[index] if index < len(min_months) else 0
        if hours >= needed and months >= months_needed:
            level = index + 1
        else:
            break
    return level


def next_level(hours: float, thresholds: Sequence[int] = DEFAULT_STAR_HOURS) -> tuple[int, float]:
    """The next level and the hours still missing for it ((0, 0) at the top)."""
    for index, needed in enumerate(thresholds):
        if hours < needed:
            return index + 1, round(needed - hours, 2)
    return 0, 0.0
