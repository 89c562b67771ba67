"""The earning rules, evaluated without Django: plain data in, points out.

A region publishes versions of ``RuleParams``. Confirmed service earns

    points = coefficient(category) × hours × (100 + bonus %) / 100, rounded down,

with a bonus for urgent needs and a larger one for emergencies, then cut to what is left under
the cap per activity and the cap per day. A no-show costs a fixed penalty, never more than the
volunteer holds. All arithmetic is on integers, so the same facts always give the same points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class RuleError(ValueError):
    """The rules or the facts are not usable; the message says which field."""


def _whole(value: Any, name: str, *, low: int = 0, high: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleError(f"{name} must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class RuleParams:
    """One version of a region's rules. Coefficients are points per hour of service."""

    coefficients: Mapping[str, int] = field(default_factory=dict)
    default_coefficient: int = 10
    urgent_bonus_pct: int = 20
    emergency_bonus_pct: int = 50
    cap_per_activity: int = 200
    cap_per_day: int = 100
    no_show_penalty: int = 10

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleParams:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise RuleError(f"unknown rule fields: {', '.join(sorted(unknown))}")
        coefficients = data.get("coefficients", {})
        if not isinstance(coefficients, Mapping):
            raise RuleError("coefficients must map a category code to points per hour")
        params = cls(
            coefficients={
                str(k): _whole(v, f"coefficient {k}", high=1000) for k, v in coefficients.items()
            },
            default_coefficient=_whole(
                data.get("default_coefficient", 10), "default_coefficient", high=1000
            ),
            urgent_bonus_pct=_whole(data.get("urgent_bonus_pct", 20), "urgent_bonus_pct", high=500),
            emergency_bonus_pct=_whole(
                data.get("emergency_bonus_pct", 50), "emergency_bonus_pct", high=500
            ),
            cap_per_activity=_whole(data.get("cap_per_activity", 200), "cap_per_activity"),
            cap_per_day=_whole(data.get("cap_per_day", 100), "cap_per_day"),
            no_show_penalty=_whole(data.get("no_show_penalty", 10), "no_show_penalty"),
        )
        return params

    def to_dict(self) -> dict[str, Any]:
        return {
            "coefficients": dict(sorted(self.coefficients.items())),
            "default_coefficient": self.default_coefficient,
            "urgent_bonus_pct": self.urgent_bonus_pct,
            "emergency_bonus_pct": self.emergency_bonus_pct,
            "cap_per_activity": self.cap_per_activity,
            "cap_per_day": self.cap_per_day,
            "no_show_penalty": self.no_show_penalty,
        }

    def coefficient(self, category: str) -> int:
        return self.coefficients.get(category, self.default_coefficient)

    def bonus_pct(self, urgency: Urgency) -> int:
        if urgency == Urgency.EMERGENCY:
            return self.emergency_bonus_pct
        if urgency == Urgency.URGENT:
            return self.urgent_bonus_pct
        return 0


@dataclass(frozen=True)
class ServiceFacts:
    """What a confirmed service record says, as far as earning is concerned."""

    minutes: int
    category: str
    urgency: Urgency = Urgency.NORMAL
    occurred_on: dt.date | None = None


@dataclass(frozen=True)
class EarnedSoFar:
    """Points already earned (net of reversals) that the caps count against."""

    activity: int = 0
    day: int = 0


@dataclass(frozen=True)
class Evaluation:
    points: int
    base: int
    bonus: int
    capped_by: str  # "", "activity" or "day"

    def breakdown(self) -> dict[str, Any]:
        return {"base": self.base, "bonus": self.bonus, "capped_by": self.capped_by}


def evaluate(params: RuleParams, facts: ServiceFacts, so_far: EarnedSoFar) -> Evaluation:
    """Points for one confirmed service under ``params``, given what the caps have seen."""
    minutes = _whole(facts.minutes, "minutes", low=1, high=24 * 60)
    coefficient = params.coefficient(facts.category)
    base = coefficient * minutes // 60
    with_bonus = coefficient * minutes * (100 + params.bonus_pct(Urgency(facts.urgency))) // 6000
    points, capped_by = with_bonus, ""
    room_activity = max(0, params.cap_per_activity - so_far.activity)
    room_day = max(0, params.cap_per_day - so_far.day)
    if points > room_activity:
        points, capped_by = room_activity, "activity"
    if points > room_day:
        points, capped_by = room_day, "day"
    return Evaluation(points=points, base=base, bonus=with_bonus - base, capped_by=capped_by)


def no_show_penalty(params: RuleParams, balance: int) -> int:
    """The penalty for not turning up, never more than the volunteer holds."""
    return max(0, min(params.no_show_penalty, balance))


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years of age on ``day``."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
