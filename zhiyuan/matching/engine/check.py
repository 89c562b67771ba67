"""One feasibility checker and one objective evaluator, shared by every method and every test.

They read nothing but the instance and the list of assigned pairs, recomputing eligibility from
the raw arrays, so a bug in candidate generation or in the solver cannot hide behind itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .eligibility import has_skills
from .instance import Instance
from .objective import CANONICAL, Weights, base_utility, distance_km

#: Every kind of violation the checker counts; a valid assignment has zero of each.
VIOLATION_KINDS = (
    "index_out_of_range",  # a volunteer or task index that does not exist
    "duplicate_pair",  # the same volunteer sent to the same task twice
    "missing_skill",  # the volunteer lacks a skill the task requires
    "not_free_in_slot",  # the volunteer is not available in the task's slot
    "too_far",  # further than max_km
    "sanctioned",  # a sanctioned volunteer was sent
    "over_cap",  # more tasks than cap minus current load (counted per volunteer)
    "slot_clash",  # two tasks in the same slot for one volunteer (counted per extra task)
    "over_need",  # more people than the task needs (counted per task)
)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The figures the benchmark reports for one assignment.

    total_utility: sum of pair utilities under the given weights (canonical by default).
    n_pairs: pairs assigned.
    filled_share: people assigned (up to each task's need) / people needed in total;
        1.0 when nothing is needed.
    mean_distance_km, p95_distance_km: over assigned pairs (0.0 when none).
    jain_fairness: Jain's index (sum x)^2 / (N * sum x^2) of x = (load + assigned) / cap over
        the volunteers who could work at all (cap > 0, a free slot, not sanctioned); 1.0 means
        every such volunteer is used to the same share of his cap. 1.0 when nobody works.
    violations: count per kind (see VIOLATION_KINDS); all zero for a feasible assignment.
    """

    total_utility: float
    n_pairs: int
    filled_share: float
    mean_distance_km: float
    p95_distance_km: float
    jain_fairness: float
    violations: dict[str, int]

    @property
    def n_violations(self) -> int:
        return sum(self.violations.values())

    @property
    def feasible(self) -> bool:
        return self.n_violations == 0


def _as_index(values: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(f"pair indices must be a 1-d integer array, got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64)


def check_assignment(instance: Instance, volunteer: ArrayLike, task: ArrayLike) -> dict[str, int]:
    """Count the constraint violations of the pairs ``(volunteer[i], task[i])``."""
    v = _as_index(volunteer)
    t = _as_index(task)
    if v.shape != t.shape:
        raise ValueError(f"volunteer and task differ in length: {v.shape} vs {t.shape}")
    counts = dict.fromkeys(VIOLATION_KINDS, 0)
    in_range = (v >= 0) & (v < instance.n_volunteers) & (t >= 0) & (t < instance.n_tasks)
    counts["index_out_of_range"] = int((~in_range).sum())
    v, t = v[in_range], t[in_range]
    if v.size == 0:
        return counts

    key = v * max(instance.n_tasks, 1) + t
    unique_keys = np.unique(key)
    counts["duplicate_pair"] = int(key.size - unique_keys.size)

    counts["missing_skill"] = int(
        (~has_skills(instance.volunteer_skills[v], instance.task_skills[t])).sum()
    )
    slot = instance.task_slot[t]
    free = (instance.volunteer_slots[v] >> slot.astype(np.uint32)) & np.uint32(1)
    counts["not_free_in_slot"] = int((free == 0).sum())
    dist = distance_km(instance.volunteer_xy_km[v], instance.task_xy_km[t])
    counts["too_far"] = int((dist > instance.max_km).sum())
    counts["sanctioned"] = int(instance.sanctioned[v].sum())

    per_volunteer = np.bincount(v, minlength=instance.n_volunteers)
    counts["over_cap"] = int((per_volunteer > instance.remaining_cap).sum())
    vol_slot = v * 32 + slot
    counts["slot_clash"] = int(vol_slot.size - np.unique(vol_slot).size)
    per_task = np.bincount(t, minlength=instance.n_tasks)
    counts["over_need"] = int((per_task > instance.task_need).sum())
    return counts


def pair_utilities(
    instance: Instance,
    volunteer: NDArray[np.int64],
    task: NDArray[np.int64],
    weights: Weights = CANONICAL,
) -> NDArray[np.float64]:
    """Utility of each pair under ``weights`` (the fairness term is per volunteer, not here)."""
    dist = distance_km(instance.volunteer_xy_km[volunteer], instance.task_xy_km[task])
    u = base_utility(instance.task_urgency[task], instance.volunteer_rating[volunteer], dist)
    if weights.continuity_bonus:
        u = u + weights.continuity_bonus * (instance.preferred[task] == volunteer)
    return u


def fairness_cost(instance: Instance, volunteer: NDArray[np.int64], weights: Weights) -> float:
    """Total fairness price of the assignment: the k-th task of a week costs weight * (k - 1)."""
    if not weights.fairness_weight or volunteer.size == 0:
        return 0.0
    new = np.bincount(volunteer, minlength=instance.n_volunteers).astype(np.float64)
    load = instance.load.astype(np.float64)
    # sum_{k=load+1}^{load+new} (k - 1) = new*load + new*(new-1)/2
    return float(weights.fairness_weight * (new * load + new * (new - 1) / 2).sum())


def evaluate(
    instance: Instance,
    volunteer: ArrayLike,
    task: ArrayLike,
    weights: Weights = CANONICAL,
) -> Evaluation:
    """Check and score an assignment. Scores count only in-range pairs; check ``violations``."""
    v_all = _as_index(volunteer)
    t_all = _as_index(task)
    violations = check_assignment(instance, v_all, t_all)
    ok = (v_all >= 0) & (v_all < instance.n_volunteers) & (t_all >= 0) & (t_all < instance.n_tasks)
    v, t = v_all[ok], t_all[ok]

    utilities = pair_utilities(instance, v, t, weights)
    total = float(utilities.sum()) - fairness_cost(instance, v, weights)
    dist = distance_km(instance.volunteer_xy_km[v], instance.task_xy_km[t])
    need_total = int(instance.task_need.sum())
    per_task = np.bincount(t, minlength=instance.n_tasks)
    filled = int(np.minimum(per_task, instance.task_need).sum())
    filled_share = filled / need_total if need_total else 1.0

    can_work = (instance.volunteer_cap > 0) & (instance.volunteer_slots != 0) & ~instance.sanctioned
    per_volunteer = np.bincount(v, minlength=instance.n_volunteers)
    x = (instance.load + per_volunteer)[can_work] / instance.volunteer_cap[can_work]
    sq = float((x * x).sum())
    jain = float(x.sum() ** 2 / (x.size * sq)) if sq > 0 else 1.0

    return Evaluation(
        total_utility=total,
        n_pairs=int(v.size),
        filled_share=filled_share,
        mean_distance_km=float(dist.mean()) if dist.size else 0.0,
        p95_distance_km=float(np.percentile(dist, 95)) if dist.size else 0.0,
        jain_fairness=jain,
        violations=violations,
    )
