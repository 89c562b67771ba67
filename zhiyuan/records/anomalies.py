"""Anomaly checks for a service record at confirmation, without Django.

Each check looks at plain facts the service reads from the database and answers with the
flags that hold and a short note for each (shown to the confirmer). A flagged record needs a
second, different confirmer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

OVERLAP = "overlap"
OVER_DAILY_CAP = "over_daily_cap"
FAR_CHECKIN = "far_checkin"
BURST = "burst"
BEYOND_DURATION = "beyond_duration"
AUTO_CLOSED = "auto_closed"


@dataclass(frozen=True)
class Facts:
    started_at: dt.datetime
    ended_at: dt.datetime
    minutes: int
    # Other live records of the same person: (record id, start, end).
    others: list[tuple[int, dt.datetime, dt.datetime]] = field(default_factory=list)
    # Minutes of the person's other live records on the same local day.
    same_day_minutes: int = 0
    daily_cap: int = 720
    planned_minutes: int | None = None
    checkin_distance_m: float | None = None
    far_threshold_m: float | None = None
    checkin_method: str = ""
    # Check-ins of the same shift by a method other than the code, within the burst window.
    non_qr_checkins_nearby: int = 0
    burst_count: int = 5
    auto_closed: bool = False


def check(facts: Facts) -> dict[str, str]:
    """The flags that hold, each with a note in plain figures (ids, minutes, metres)."""
    flags: dict[str, str] = {}
    overlapping = [
        rid for rid, start, end in facts.others if start < facts.ended_at and facts.started_at < end
    ]
    if overlapping:
        flags[OVERLAP] = ", ".join(f"#{rid}" for rid in sorted(overlapping))
    total = facts.same_day_minutes + facts.minutes
    if total > facts.daily_cap:
        flags[OVER_DAILY_CAP] = f"{total}/{facts.daily_cap}"
    if (
        facts.checkin_distance_m is not None
        and facts.far_threshold_m is not None
        and facts.checkin_distance_m > facts.far_threshold_m
    ):
        flags[FAR_CHECKIN] = f"{facts.checkin_distance_m:.0f}/{facts.far_threshold_m:.0f}"
    if facts.checkin_method not in ("", "qr") and facts.non_qr_checkins_nearby >= facts.burst_count:
        flags[BURST] = str(facts.non_qr_checkins_nearby)
    if facts.planned_minutes is not None and facts.minutes > facts.planned_minutes:
        flags[BEYOND_DURATION] = f"{facts.minutes}/{facts.planned_minutes}"
    if facts.auto_closed:
        flags[AUTO_CLOSED] = ""
    return flags
