"""Why a pair scored what it did, why someone was left out, and why a task stayed unfilled.

Everything here returns codes plus the numbers behind them; :meth:`PairExplanation.reasons` and
:attr:`Unfilled.text` render them as short English sentences. The dispatch adapter translates
the codes for the dispatcher's screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .eligibility import TREE_OPTIONS, Candidates, has_skills, search_radius
from .instance import Instance
from .objective import CANONICAL, MASK_BITS, Weights, distance_km

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PARTS = ("morning", "afternoon", "evening")


def slot_name(slot: int) -> str:
    """Weekly slot s is day s // 3 and part of day s % 3, e.g. 4 = "Tuesday afternoon"."""
    return f"{_DAYS[slot // 3]} {_PARTS[slot % 3]}"


def bits(mask: int) -> tuple[int, ...]:
    """The set bits of a mask, lowest first (skill numbers)."""
    return tuple(k for k in range(MASK_BITS) if mask >> k & 1)


class Exclusion(StrEnum):
    """Why a volunteer cannot be sent to a task."""

    MISSING_SKILL = "missing_skill"
    QUALIFICATION_EXPIRED = "qualification_expired"
    NOT_FREE_IN_SLOT = "not_free_in_slot"
    TOO_FAR = "too_far"
    CAP_ZERO = "cap_zero"
    AT_CAP = "at_cap"
    SANCTIONED = "sanctioned"


class UnfilledReason(StrEnum):
    """Why a task got fewer people than it needs, from the first step that came up empty."""

    NOBODY_IN_REACH = "nobody_in_reach"
    NOBODY_QUALIFIED = "nobody_qualified"
    QUALIFICATIONS_EXPIRED = "qualifications_expired"
    NOBODY_FREE_IN_SLOT = "nobody_free_in_slot"
    NOBODY_WITH_ROOM = "nobody_with_room"
    ALL_SANCTIONED = "all_sanctioned"
    NOT_WORTH_THE_TRIP = "not_worth_the_trip"
    TOO_FEW_ELIGIBLE = "too_few_eligible"
    NEEDED_ELSEWHERE = "needed_elsewhere"


@dataclass(frozen=True, slots=True)
class PairExplanation:
    """The facts behind one (volunteer, task) pair and the utility they add up to.

    utility = value - distance_km + continuity_bonus, where value = urgency * (10 + 2 * rating).
    ``exclusions`` is empty exactly when the pair is eligible.
    """

    volunteer: int
    task: int
    distance_km: float
    max_km: float
    skills_required: tuple[int, ...]
    skills_matched: tuple[int, ...]
    skills_missing: tuple[int, ...]
    skills_expired: tuple[int, ...]
    slot: int
    free_in_slot: bool
    rating: float
    urgency: float
    current_load: int
    cap: int
    sanctioned: bool
    preferred: bool
    value: float
    continuity_bonus: float
    utility: float
    exclusions: tuple[Exclusion, ...]

    @property
    def eligible(self) -> bool:
        return not self.exclusions

    def reasons(self) -> list[str]:
        """Plain sentences a dispatcher can read, the deciding facts first."""
        out: list[str] = []
        if self.eligible:
            out.append(f"{self.distance_km:.1f} km away (limit {self.max_km:g} km)")
            if self.skills_required:
                out.append(f"holds all required skills {list(self.skills_matched)}")
            else:
                out.append("the task needs no special skill")
            out.append(f"free on {slot_name(self.slot)}")
            out.append(f"rated {self.rating:.1f}")
            out.append(f"{self.current_load} of {self.cap} tasks this week")
            if self.preferred:
                out.append("served this resident before (continuity of care)")
            out.append(
                f"utility {self.utility:.2f} = urgency {self.urgency:g} x (10 + 2 x rating) "
                f"- {self.distance_km:.2f} km"
                + (f" + {self.continuity_bonus:g} continuity" if self.continuity_bonus else "")
            )
            return out
        for code in self.exclusions:
            out.append(_EXCLUSION_TEXT[code](self))
        return out


_EXCLUSION_TEXT: dict[Exclusion, Callable[[PairExplanation], str]] = {
    Exclusion.MISSING_SKILL: lambda e: f"lacks required skills {list(e.skills_missing)}",
    Exclusion.QUALIFICATION_EXPIRED: lambda e: (
        f"qualification expired for skills {list(e.skills_expired)}"
    ),
    Exclusion.NOT_FREE_IN_SLOT: lambda e: f"not free on {slot_name(e.slot)}",
    Exclusion.TOO_FAR: lambda e: f"{e.distance_km:.1f} km away, over the {e.max_km:g} km limit",
    Exclusion.CAP_ZERO: lambda e: "takes no tasks (weekly cap is 0)",
    Exclusion.AT_CAP: lambda e: f"already busy: {e.current_load} of {e.cap} tasks this week",
    Exclusion.SANCTIONED: lambda e: "barred from new tasks (sanctioned)",
}


def explain_pair(
    instance: Instance, volunteer: int, task: int, weights: Weights = CANONICAL
) -> PairExplanation:
    """Every fact about one pair of the instance, whether or not it is eligible."""
    v, t = int(volunteer), int(task)
    if not (0 <= v < instance.n_volunteers and 0 <= t < instance.n_tasks):
        raise IndexError(
            f"no pair ({v}, {t}) in an instance of {instance.n_volunteers} volunteers and "
            f"{instance.n_tasks} tasks"
        )
    return explain_offer(
        instance,
        v,
        task=t,
        xy_km=(float(instance.task_xy_km[t, 0]), float(instance.task_xy_km[t, 1])),
        skills=int(instance.task_skills[t]),
        slot=int(instance.task_slot[t]),
        urgency=float(instance.task_urgency[t]),
        preferred_volunteer=int(instance.preferred[t]),
        weights=weights,
        load=int(instance.load[v]),
    )


def explain_offer(
    instance: Instance,
    volunteer: int,
    *,
    task: int,
    xy_km: tuple[float, float],
    skills: int,
    slot: int,
    urgency: float,
    preferred_volunteer: int,
    weights: Weights,
    load: int,
) -> PairExplanation:
    """Every fact about sending ``volunteer`` to a task described by its attributes.

    Used for tasks of the instance and for new tasks that are not (``task=-1``); ``load`` is
    the volunteer's current load, which the online index keeps more current than the instance.
    """
    v = int(volunteer)
    required = int(skills)
    held = int(instance.volunteer_skills[v])
    expired_mask = int(instance.expired_skills[v])
    missing = required & ~held
    free = bool(int(instance.volunteer_slots[v]) >> slot & 1)
    dx = float(instance.volunteer_xy_km[v, 0]) - xy_km[0]
    dy = float(instance.volunteer_xy_km[v, 1]) - xy_km[1]
    dist = float(np.hypot(dx, dy))
    rating = float(instance.volunteer_rating[v])
    cap = int(instance.volunteer_cap[v])
    sanctioned = bool(instance.sanctioned[v])
    preferred = preferred_volunteer == v
    bonus = weights.continuity_bonus if preferred else 0.0
    value = urgency * (10.0 + 2.0 * rating)

    exclusions: list[Exclusion] = []
    if missing & expired_mask:
        exclusions.append(Exclusion.QUALIFICATION_EXPIRED)
    if missing & ~expired_mask:
        exclusions.append(Exclusion.MISSING_SKILL)
    if not free:
        exclusions.append(Exclusion.NOT_FREE_IN_SLOT)
    if dist > instance.max_km:
        exclusions.append(Exclusion.TOO_FAR)
    if cap == 0:
        exclusions.append(Exclusion.CAP_ZERO)
    elif load >= cap:
        exclusions.append(Exclusion.AT_CAP)
    if sanctioned:
        exclusions.append(Exclusion.SANCTIONED)

    return PairExplanation(
        volunteer=v,
        task=task,
        distance_km=dist,
        max_km=instance.max_km,
        skills_required=bits(required),
        skills_matched=bits(required & held),
        skills_missing=bits(missing & ~expired_mask),
        skills_expired=bits(missing & expired_mask),
        slot=slot,
        free_in_slot=free,
        rating=rating,
        urgency=urgency,
        current_load=load,
        cap=cap,
        sanctioned=sanctioned,
        preferred=preferred,
        value=value,
        continuity_bonus=bonus,
        utility=value - dist + bonus,
        exclusions=tuple(exclusions),
    )


def explain_assignment(
    instance: Instance,
    volunteer: NDArray[np.int64],
    task: NDArray[np.int64],
    weights: Weights = CANONICAL,
) -> list[PairExplanation]:
    """An explanation for every assigned pair (meant for one task's or one region's list)."""
    return [
        explain_pair(instance, int(v), int(t), weights)
        for v, t in zip(volunteer, task, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Unfilled:
    """A task that got fewer people than it needs, and why.

    funnel: when nobody was eligible, how many volunteers survive each step in order, up to the
    one that left nobody: within_reach, qualified, free_in_slot, with_room, not_sanctioned.
    Otherwise the counts from candidate generation: eligible, worth_the_trip (utility > 0).
    """

    task: int
    need: int
    assigned: int
    reason: UnfilledReason
    funnel: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        missing = self.need - self.assigned
        return f"{missing} of {self.need} still needed: {_UNFILLED_TEXT[self.reason]}"


_UNFILLED_TEXT = {
    UnfilledReason.NOBODY_IN_REACH: "no volunteer lives within the travel limit",
    UnfilledReason.NOBODY_QUALIFIED: "no volunteer within reach holds the required skills",
    UnfilledReason.QUALIFICATIONS_EXPIRED: (
        "the volunteers within reach who had the required skills let the qualification expire"
    ),
    UnfilledReason.NOBODY_FREE_IN_SLOT: "no qualified volunteer within reach is free then",
    UnfilledReason.NOBODY_WITH_ROOM: "every qualified, free volunteer is at the weekly cap",
    UnfilledReason.ALL_SANCTIONED: "the only possible volunteers are barred (sanctioned)",
    UnfilledReason.NOT_WORTH_THE_TRIP: "every possible volunteer is too far for the task's value",
    UnfilledReason.TOO_FEW_ELIGIBLE: "fewer eligible volunteers than needed; all were sent",
    UnfilledReason.NEEDED_ELSEWHERE: (
        "the eligible volunteers are used on other tasks where they add more"
    ),
}


def unfilled_tasks(
    instance: Instance,
    cands: Candidates,
    assigned_per_task: NDArray[np.int64],
) -> list[Unfilled]:
    """Every task with ``assigned < need``, with the reason it is short.

    Tasks that had eligible volunteers are classified from the candidate counts. Tasks that had
    none get a funnel computed from scratch (one spatial query over all volunteers), so the
    dispatcher sees which requirement emptied the list.
    """
    short = np.flatnonzero(assigned_per_task < instance.task_need)
    if short.size == 0:
        return []
    out: list[Unfilled] = []
    nobody = short[cands.n_eligible[short] == 0]
    funnels = _funnels(instance, nobody) if nobody.size else {}
    for t in short.tolist():
        need = int(instance.task_need[t])
        got = int(assigned_per_task[t])
        if t in funnels:
            reason, funnel = funnels[t]
            out.append(Unfilled(t, need, got, reason, funnel))
            continue
        positive = int(cands.n_positive[t])
        if positive == 0:
            reason = UnfilledReason.NOT_WORTH_THE_TRIP
        elif got >= positive:
            reason = UnfilledReason.TOO_FEW_ELIGIBLE
        else:
            reason = UnfilledReason.NEEDED_ELSEWHERE
        out.append(
            Unfilled(
                t,
                need,
                got,
                reason,
                {"eligible": int(cands.n_eligible[t]), "worth_the_trip": positive},
            )
        )
    return out


#: Above this many (task, volunteer) combinations the funnels use KD-trees.
_DENSE_FUNNEL_PAIRS = 200_000


def _funnels(
    instance: Instance, tasks: NDArray[np.int64]
) -> dict[int, tuple[UnfilledReason, dict[str, int]]]:
    """For tasks nobody is eligible for: how many volunteers pass each step, and which step
    emptied the list. All tasks are measured in one spatial join."""
    k = tasks.size
    counts: dict[str, NDArray[np.int64]] = {}
    if instance.n_volunteers == 0:
        counts["within_reach"] = np.zeros(k, np.int64)
        row = v = np.zeros(0, np.int64)
    elif k * instance.n_volunteers <= _DENSE_FUNNEL_PAIRS:
        # Few tasks (the usual case): every distance at once costs less than two trees.
        txy = instance.task_xy_km[tasks]
        dx = txy[:, 0, None] - instance.volunteer_xy_km[None, :, 0]
        dy = txy[:, 1, None] - instance.volunteer_xy_km[None, :, 1]
        dx *= dx
        dy *= dy
        dx += dy
        row, v = np.nonzero(dx <= search_radius(instance.max_km) ** 2)
        # The limit itself with the checker's formula, on the few pairs in range.
        d = distance_km(instance.volunteer_xy_km[v], txy[row])
        keep = d <= instance.max_km
        row, v = row[keep], v[keep]
    else:
        vol_tree = cKDTree(instance.volunteer_xy_km, **TREE_OPTIONS)
        task_tree = cKDTree(instance.task_xy_km[tasks], **TREE_OPTIONS)
        near = task_tree.sparse_distance_matrix(
            vol_tree, search_radius(instance.max_km), output_type="ndarray"
        )
        row, v = near["i"], near["j"]
        d = distance_km(instance.volunteer_xy_km[v], instance.task_xy_km[tasks[row]])
        keep = d <= instance.max_km
        row, v = row[keep], v[keep]
    t = tasks[row]
    required = instance.task_skills[t]
    qualified = has_skills(instance.volunteer_skills[v], required)
    lapsed = ~qualified & has_skills(
        instance.volunteer_skills[v] | instance.expired_skills[v], required
    )
    free = qualified & (
        ((instance.volunteer_slots[v] >> instance.task_slot[t].astype(np.uint32)) & 1) == 1
    )
    roomy = free & (instance.remaining_cap[v] > 0)
    allowed = roomy & ~instance.sanctioned[v]
    steps = [
        ("within_reach", np.ones(row.size, np.bool_), UnfilledReason.NOBODY_IN_REACH),
        ("qualified", qualified, UnfilledReason.NOBODY_QUALIFIED),
        ("free_in_slot", free, UnfilledReason.NOBODY_FREE_IN_SLOT),
        ("with_room", roomy, UnfilledReason.NOBODY_WITH_ROOM),
        # Candidate generation found nobody, so the funnel must empty at the sanction step
        # at the latest.
        ("not_sanctioned", allowed, UnfilledReason.ALL_SANCTIONED),
    ]
    for name, mask, _ in steps:
        counts[name] = np.bincount(row[mask], minlength=k)
    n_lapsed = np.bincount(row[lapsed], minlength=k)

    out: dict[int, tuple[UnfilledReason, dict[str, int]]] = {}
    for i, task in enumerate(tasks.tolist()):
        funnel: dict[str, int] = {}
        reason = UnfilledReason.ALL_SANCTIONED
        for name, _, empty_reason in steps:
            funnel[name] = int(counts[name][i])
            if funnel[name] == 0:
                reason = empty_reason
                if name == "qualified" and n_lapsed[i]:
                    reason = UnfilledReason.QUALIFICATIONS_EXPIRED
                break
        out[task] = (reason, funnel)
    return out
