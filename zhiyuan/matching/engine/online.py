"""Online mode: the best volunteers for one new task, in milliseconds, without re-solving.

When a need comes in, the dispatcher wants a ranked list at once; the batch optimum for the
whole region can wait for the next "fill all". The index keeps the same per-slot KD-trees that
candidate generation uses (only volunteers free in that slot and able to work), so a query is
one radius search plus bitmask tests on the few hundred people it returns. The current load is
kept in the index and updated as offers are accepted, so nobody at the cap is suggested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .eligibility import free_in_slot, has_skills, search_radius
from .explain import PairExplanation, explain_offer
from .instance import Instance
from .objective import CANONICAL, NUM_SLOTS, Weights, base_utility


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task that is not part of any instance yet (same meaning as the ``task_*`` arrays)."""

    xy_km: tuple[float, float]
    slot: int
    skills: int = 0
    urgency: float = 1.0
    preferred_volunteer: int = -1

    def __post_init__(self) -> None:
        if not (0 <= self.slot < NUM_SLOTS):
            raise ValueError(f"slot: must be in 0..{NUM_SLOTS - 1}, got {self.slot}")
        if not all(np.isfinite(self.xy_km)) or len(self.xy_km) != 2:
            raise ValueError(f"xy_km: must be two finite numbers, got {self.xy_km!r}")
        if not (0 <= self.skills < 2**32):
            raise ValueError(f"skills: must be a 32-bit mask, got {self.skills}")
        if not (np.isfinite(self.urgency) and self.urgency >= 0):
            raise ValueError(f"urgency: must be a finite number >= 0, got {self.urgency}")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One ranked candidate: who, how much the pair is worth, and why."""

    rank: int
    volunteer: int
    utility: float
    explanation: PairExplanation


class OnlineIndex:
    """Per-slot spatial index over the volunteers of an instance, queried one task at a time."""

    def __init__(self, instance: Instance, weights: Weights = CANONICAL) -> None:
        self.instance = instance
        self.weights = weights
        self.load = instance.load.copy()
        # Slots taken by accepted offers since the index was built: a volunteer serves one task
        # per slot, so a taken slot removes them from that slot's answers.
        self.busy = np.zeros(instance.volunteer_slots.shape[0], dtype=np.uint32)
        # Membership ignores the load, which changes; the query tests load < cap instead.
        base = (instance.volunteer_cap > 0) & ~instance.sanctioned
        self._slot_ids: list[NDArray[np.int64]] = []
        self._slot_trees: list[cKDTree | None] = []
        for slot in range(NUM_SLOTS):
            ids = np.flatnonzero(base & free_in_slot(instance.volunteer_slots, slot))
            self._slot_ids.append(ids)
            self._slot_trees.append(cKDTree(instance.volunteer_xy_km[ids]) if ids.size else None)
        self._all_tree: cKDTree | None = None
        self._radius = search_radius(instance.max_km)

    def record_assignment(self, volunteer: int, slot: int) -> None:
        """An offer in ``slot`` was accepted: one more task against the cap, and the slot busy."""
        if not (0 <= slot < NUM_SLOTS):
            raise ValueError(f"slot: must be in 0..{NUM_SLOTS - 1}, got {slot}")
        self.load[volunteer] += 1
        self.busy[volunteer] |= np.uint32(1 << slot)

    def top(self, task: NewTask, k: int = 20) -> list[Suggestion]:
        """The ``k`` eligible volunteers of highest utility for ``task``, best first.

        Ties are broken by distance, then by volunteer index, so the list is reproducible.
        """
        inst = self.instance
        tree = self._slot_trees[task.slot]
        if tree is None or k <= 0:
            return []
        near = tree.query_ball_point(task.xy_km, self._radius)
        if not near:
            return []
        ids = self._slot_ids[task.slot][np.asarray(near, np.int64)]
        ok = (
            has_skills(inst.volunteer_skills[ids], np.uint32(task.skills))
            & (self.load[ids] < inst.volunteer_cap[ids])
            & ((self.busy[ids] >> np.uint32(task.slot)) & np.uint32(1) == 0)
        )
        ids = ids[ok]
        delta = inst.volunteer_xy_km[ids] - np.asarray(task.xy_km)
        dist = np.hypot(delta[:, 0], delta[:, 1])
        within = dist <= inst.max_km
        ids, dist = ids[within], dist[within]
        utility = base_utility(
            np.full(ids.size, float(task.urgency)), inst.volunteer_rating[ids], dist
        )
        if self.weights.continuity_bonus:
            utility = utility + self.weights.continuity_bonus * (ids == task.preferred_volunteer)
        worth = utility > 0
        ids, dist, utility = ids[worth], dist[worth], utility[worth]
        if ids.size > k:
            # Partition first so the full sort only touches the k best (plus ties at the edge).
            cut = np.partition(-utility, k - 1)[k - 1]
            head = -utility <= cut
            ids, dist, utility = ids[head], dist[head], utility[head]
        order = np.lexsort((ids, dist, -utility))[:k]
        return [
            Suggestion(
                rank=r + 1,
                volunteer=int(ids[i]),
                utility=float(utility[i]),
                explanation=self._explain(int(ids[i]), task),
            )
            for r, i in enumerate(order.tolist())
        ]

    def excluded_nearby(self, task: NewTask, k: int = 5, scan: int = 64) -> list[PairExplanation]:
        """The nearest volunteers who cannot take ``task``, each with the reasons.

        Answers "why not her, she lives next door?": among the ``scan`` nearest volunteers of
        any kind, the first ``k`` who are not eligible.
        """
        inst = self.instance
        if inst.n_volunteers == 0 or k <= 0:
            return []
        if self._all_tree is None:
            self._all_tree = cKDTree(inst.volunteer_xy_km)
        _, nearest = self._all_tree.query(task.xy_km, k=min(scan, inst.n_volunteers))
        out: list[PairExplanation] = []
        for v in np.atleast_1d(nearest).tolist():
            explanation = self._explain(int(v), task)
            if not explanation.eligible:
                out.append(explanation)
                if len(out) == k:
                    break
        return out

    def _explain(self, volunteer: int, task: NewTask) -> PairExplanation:
        return explain_offer(
            self.instance,
            volunteer,
            task=-1,
            xy_km=(float(task.xy_km[0]), float(task.xy_km[1])),
            skills=task.skills,
            slot=task.slot,
            urgency=float(task.urgency),
            preferred_volunteer=task.preferred_volunteer,
            weights=self.weights,
            load=int(self.load[volunteer]),
        )
