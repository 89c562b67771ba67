"""Ranking the volunteers a dispatcher may send to a need — pluggable.

A ranker is any object with ``rank(need, candidates) -> list[RankedCandidate]`` (best first),
each candidate with a score in [0, 1] and the reasons in plain words. ``need_ranker()`` returns
the deployment's ranker (``ZHIYUAN_NEED_RANKER``, a dotted path); the default
:class:`SimpleRanker` weighs distance, skills and availability to start. The matching engine
(zhiyuan/matching) plugs in through an adapter implementing the same protocol.

The scoring itself (:func:`score_candidate`) is pure: plain values in, score and reasons out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from zhiyuan.needs.models import Need
    from zhiyuan.people.models import VolunteerProfile

DEFAULT_RANKER = "zhiyuan.needs.ranking.SimpleRanker"
WEIGHTS = {"distance": 0.45, "skills": 0.35, "availability": 0.20}


@dataclass(frozen=True)
class RankedCandidate:
    volunteer: VolunteerProfile
    score: float
    reasons: list[str] = field(default_factory=list)
    distance_km: float | None = None


class Ranker(Protocol):
    def rank(self, need: Need, candidates: Sequence[VolunteerProfile]) -> list[RankedCandidate]: ...


@cache
def _ranker(path: str) -> Ranker:
    ranker: Ranker = import_string(path)()
    return ranker


def need_ranker() -> Ranker:
    return _ranker(getattr(settings, "ZHIYUAN_NEED_RANKER", DEFAULT_RANKER))


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), in kilometres."""
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Facts:
    """What the scoring needs to know about one volunteer and the need (plain values)."""

    distance_km: float | None
    max_travel_km: float
    skills_wanted: frozenset[str]
    skills_held: frozenset[str]
    skill_names: dict[str, str]
    free_then: bool | None  # None: the need is "as soon as possible" on no set day
    emergency: bool
    emergency_ok: bool
    slot_label: str = ""
    # Where the volunteer lives relative to the need, when there is no map point to measure.
    same_community: bool = False
    same_street: bool = False


def score_candidate(facts: Facts) -> tuple[float, list[str]]:
    """Score in [0, 1] and the reasons, in words a dispatcher reads at a glance."""
    reasons: list[str] = []
    # Distance: full marks next door, nothing at the edge of how far they will travel.
    if facts.distance_km is None:
        if facts.same_community:
            distance = 0.8
            reasons.append(_("Lives in the same community (no map point to measure)"))
        elif facts.same_street:
            distance = 0.6
            reasons.append(_("Lives in the same street (no map point to measure)"))
        else:
            distance = 0.3
            reasons.append(_("Distance unknown (no map point)"))
    else:
        reach = max(facts.max_travel_km, 0.5)
        distance = max(0.0, 1 - facts.distance_km / reach)
        reasons.append(
            _("%(km).1f km away (travels up to %(max)d km)")
            % {"km": facts.distance_km, "max": facts.max_travel_km}
        )
    # Skills: the share of wanted skills held.
    if facts.skills_wanted:
        held = facts.skills_wanted & facts.skills_held
        skills = len(held) / len(facts.skills_wanted)
        if held:
            names = ", ".join(sorted(facts.skill_names.get(code, code) for code in held))
            reasons.append(
                _("Has %(n)d of %(m)d skills asked for: %(names)s")
                % {"n": len(held), "m": len(facts.skills_wanted), "names": names}
            )
        else:
            reasons.append(_("Has none of the skills asked for"))
    else:
        skills = 0.5
    # Availability to start: free in that part of the week, or on call for emergencies.
    if facts.emergency:
        availability = 1.0 if facts.emergency_ok else 0.2
        reasons.append(
            _("Available for emergency call-outs")
            if facts.emergency_ok
            else _("Not on call for emergencies")
        )
    elif facts.free_then is None:
        availability = 0.5
    elif facts.free_then:
        availability = 1.0
        reasons.append(_("Usually free then (%(slot)s)") % {"slot": facts.slot_label})
    else:
        availability = 0.0
        reasons.append(_("Not usually free then (%(slot)s)") % {"slot": facts.slot_label})
    total = (
        WEIGHTS["distance"] * distance
        + WEIGHTS["skills"] * skills
        + WEIGHTS["availability"] * availability
    )
    return round(total, 4), reasons


def slot_of(moment: datetime) -> tuple[int, int, str]:
    """Weekday, part of the day (morning, afternoon, evening) and a label, in local time."""
    from zhiyuan.people.models import SLOT_PARTS

    local = timezone.localtime(moment)
    part = 0 if local.hour < 12 else 1 if local.hour < 18 else 2
    days = [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ]
    return local.weekday(), part, f"{days[local.weekday()]} {SLOT_PARTS[part]}"


class SimpleRanker:
    """Distance, skills and availability to start, weighted (``WEIGHTS``)."""

    def rank(self, need: Need, candidates: Sequence[VolunteerProfile]) -> list[RankedCandidate]:
        wanted = frozenset(s.code for s in need.skills.all())
        if not wanted:
            implied = need.category.skill_code or (
                need.category.parent.skill_code if need.category.parent_id else ""  # type: ignore[union-attr]
            )
            wanted = frozenset({implied}) if implied else frozenset()
        when = need.window_start
        slot: tuple[int, int, str] | None = slot_of(when) if when is not None else None
        ranked = []
        for profile in candidates:
            held = {s.code: str(s) for s in profile.skills.all()}
            km = None
            if (
                need.lat is not None
                and need.lng is not None
                and profile.home_lat is not None
                and profile.home_lng is not None
            ):
                km = distance_km(need.lat, need.lng, profile.home_lat, profile.home_lng)
            facts = Facts(
                distance_km=km,
                max_travel_km=float(profile.max_travel_km),
                skills_wanted=wanted,
                skills_held=frozenset(held),
                skill_names=held,
                free_then=profile.is_free(slot[0], slot[1]) if slot else None,
                emergency=need.urgency == "emergency",
                emergency_ok=profile.emergency_ok,
                slot_label=slot[2] if slot else "",
                same_community=profile.region_id == need.region_id,
                same_street=profile.region_id[:9] == need.region_id[:9],
            )
            score, reasons = score_candidate(facts)
            ranked.append(RankedCandidate(profile, score, reasons, km))
        ranked.sort(
            key=lambda c: (
                -c.score,
                c.distance_km if c.distance_km is not None else 1e9,
                c.volunteer.pk,
            )
        )
        return ranked


def reasons_text(reasons: list[Any]) -> str:
    return "; ".join(str(r) for r in reasons)
