"""When an activity needs a signed agreement — the rule, without Django.

Regulations Art. 14: an agreement is made "as needed". Beijing's regulations (Art. 18) make it
mandatory when the service carries a high risk to safety or health, lasts a month or more, is a
large-scale event, takes place outside the city, or involves foreign participants — and whenever
either party asks. The organiser may also require one for any activity.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

ORGANISER_MARKED = "organiser_marked"
PARTY_REQUESTED = "party_requested"
HIGH_RISK = "high_risk"
ONE_MONTH_OR_MORE = "one_month_or_more"
LARGE_SCALE = "large_scale"
OUTSIDE_CITY = "outside_city"
FOREIGN_PARTICIPANTS = "foreign_participants"


@dataclass(frozen=True)
class AgreementNeed:
    required: bool
    reasons: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.required


def add_one_month(day: date) -> date:
    """The same day of the next month, or its last day (31 January → 28/29 February)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def lasts_a_month(start: date | datetime | None, end: date | datetime | None) -> bool:
    """Service from ``start`` to ``end`` spans at least one calendar month (1 March → 1 April)."""
    if start is None or end is None:
        return False
    first = start.date() if isinstance(start, datetime) else start
    last = end.date() if isinstance(end, datetime) else end
    return last >= add_one_month(first)


def agreement_required(
    *,
    organiser_marked: bool = False,
    requested_by_party: bool = False,
    high_risk: bool = False,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    large_scale: bool = False,
    outside_city: bool = False,
    foreign_participants: bool = False,
) -> AgreementNeed:
    """Is a signed agreement required, and why (every trigger that holds, in a fixed order)?"""
    reasons = [
        name
        for name, holds in (
            (ORGANISER_MARKED, organiser_marked),
            (PARTY_REQUESTED, requested_by_party),
            (HIGH_RISK, high_risk),
            (ONE_MONTH_OR_MORE, lasts_a_month(start, end)),
            (LARGE_SCALE, large_scale),
            (OUTSIDE_CITY, outside_city),
            (FOREIGN_PARTICIPANTS, foreign_participants),
        )
        if holds
    ]
    return AgreementNeed(bool(reasons), tuple(reasons))
