"""What people do without an optimiser, run on the same eligible pairs for comparison.

* random feasible: go through the eligible pairs in random order, send whoever still fits;
* nearest first: the dispatcher's habit — closest pair first, anywhere on the map;
* best utility first: the greedy an engineer would write — highest-utility pair first.

Each walks the pairs once and keeps a pair when the volunteer has room, is still free in that
slot and the task still needs someone; so every result is feasible by construction (and the
shared checker confirms it in the tests and the benchmark).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .eligibility import Candidates
from .instance import Instance

#: Pairs examined per vectorised pre-filter. Later chunks are mostly pairs whose task is full or
#: whose volunteer is used up; dropping those with numpy leaves the Python loop little to do.
_CHUNK = 1 << 15


def greedy_in_order(
    instance: Instance, cands: Candidates, order: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Keep each pair of ``cands`` in the given order if it still fits; return the kept pairs."""
    room = instance.remaining_cap.copy()
    need = instance.task_need.copy()
    busy = np.zeros(instance.n_volunteers, np.int64)  # bit s set = already sent in slot s
    slot_bit = np.left_shift(np.int64(1), instance.task_slot)
    kept: list[NDArray[np.int64]] = []
    for start in range(0, order.size, _CHUNK):
        idx = order[start : start + _CHUNK]
        v = cands.volunteer[idx].astype(np.int64)
        t = cands.task[idx].astype(np.int64)
        bit = slot_bit[t]
        alive = np.flatnonzero((need[t] > 0) & (room[v] > 0) & ((busy[v] & bit) == 0))
        taken: list[int] = []
        for i, vi, ti, bi in zip(
            alive.tolist(),
            v[alive].tolist(),
            t[alive].tolist(),
            bit[alive].tolist(),
            strict=True,
        ):
            # Re-check: an earlier pair of this chunk may have used the room up.
            if need[ti] > 0 and room[vi] > 0 and not busy[vi] & bi:
                need[ti] -= 1
                room[vi] -= 1
                busy[vi] |= bi
                taken.append(i)
        kept.append(idx[np.asarray(taken, np.int64)])
    chosen = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return cands.volunteer[chosen].astype(np.int64), cands.task[chosen].astype(np.int64)


def random_feasible(
    instance: Instance, cands: Candidates, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A random maximal feasible assignment (eligible pairs in a seeded random order)."""
    order = np.random.default_rng(seed).permutation(cands.n_pairs).astype(np.int64)
    return greedy_in_order(instance, cands, order)


def nearest_first(
    instance: Instance, cands: Candidates
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Closest eligible pair first, whatever its value."""
    order = np.argsort(cands.distance_km, kind="stable").astype(np.int64)
    return greedy_in_order(instance, cands, order)


def best_utility_first(
    instance: Instance, cands: Candidates
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Highest-utility pair first; pairs worth nothing (utility <= 0) are never taken."""
    positive = np.flatnonzero(cands.utility > 0)
    order = positive[np.argsort(-cands.utility[positive], kind="stable")].astype(np.int64)
    return greedy_in_order(instance, cands, order)
