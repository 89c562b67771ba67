"""Candidate generation: every eligible (volunteer, task) pair first, then pruning per task.

A pair is *eligible* when the volunteer

* holds every skill the task requires (``task_skills & ~volunteer_skills == 0``),
* is free in the task's slot (bit ``task_slot`` of ``volunteer_slots``),
* is within ``max_km`` (Euclidean, projected kilometres),
* is not sanctioned and still has room under the weekly cap (``cap - load > 0``).

Eligibility is decided before anything is thrown away. Keeping the k nearest volunteers and
then filtering by skill and time loses a large share of the optimum (the issue measured 55% kept
at k = 16), because the nearest people are mostly busy or unqualified. So the spatial query runs
on a separate KD-tree per weekly slot, holding only volunteers free in that slot and able to
work; the skill test is a bitmask AND on the pairs it returns; and only then are a task's
eligible candidates ranked by utility and cut to ``minimum + per_need * need``, a budget that
grows with the people the task needs (a task for ten competes for more volunteers than a task
for one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .instance import Instance
from .objective import CANONICAL, NUM_SLOTS, Weights, base_utility, distance_km

#: Tasks per KD-tree query: bounds the raw in-range pairs one query returns (a slot's tasks
#: are always settled together, so the settle batch may exceed _SETTLE_PAIRS by one slot).
_TASK_CHUNK = 8192

#: Eligible pairs of small slots scored together. A batch's arrays stay under 100 kB, below
#: the C allocator's 128 kB threshold for giving memory back to the system: larger batches
#: fault their pages in afresh on every call (measured at S: a thousand page faults and twice
#: the time at 16,384 pairs or more), smaller ones pay more numpy calls.
_SCORE_PAIRS = 8192

#: A slot with at most this many (task, volunteer) combinations is joined by computing every
#: distance instead of through KD-trees.
_DENSE_PAIRS = 200_000

#: Raw in-range pairs gathered before they are filtered, scored and pruned together.
_SETTLE_PAIRS = 4_000_000

#: Trees are built once per query batch and thrown away, so build speed beats query balance:
#: the unbalanced, non-compacted build is about twice as fast at the same query cost.
TREE_OPTIONS = {"balanced_tree": False, "compact_nodes": False}


@dataclass(frozen=True, slots=True)
class Pruning:
    """Keep each task's best ``minimum + ceil(per_need * need)`` eligible candidates by utility.

    The defaults keep at least 99.9% of the optimum on the benchmark's M scale (measured
    retention is reported by every benchmark run).
    """

    per_need: float = 3.0
    minimum: int = 10

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_need) and self.per_need >= 0):
            raise ValueError(f"per_need: must be a finite number >= 0, got {self.per_need!r}")
        if self.minimum < 1:
            raise ValueError(f"minimum: must be >= 1, got {self.minimum!r}")

    def budget(self, need: NDArray[np.int64]) -> NDArray[np.int64]:
        """Candidates kept per task."""
        kept: NDArray[np.int64] = self.minimum + np.ceil(self.per_need * need).astype(np.int64)
        return kept


@dataclass(frozen=True, slots=True, eq=False)
class Candidates:
    """The pairs the solver may use, plus per-task counts that explain unfilled tasks.

    task, volunteer: int32 indices of each candidate pair.
    distance_km: Euclidean distance of the pair.
    utility: the pair's utility including the continuity bonus (not the fairness cost, which
        depends on how many tasks the volunteer ends up with and lives in the flow network).
    n_eligible: per task, volunteers eligible before pruning (any utility).
    n_positive: per task, eligible volunteers with utility > 0 (worth sending at all).
    pruned: whether the per-task budget was applied.
    """

    task: NDArray[np.int32]
    volunteer: NDArray[np.int32]
    distance_km: NDArray[np.float64]
    utility: NDArray[np.float64]
    n_eligible: NDArray[np.int64]
    n_positive: NDArray[np.int64]
    pruned: bool

    @property
    def n_pairs(self) -> int:
        return int(self.task.shape[0])


def able_volunteers(instance: Instance) -> NDArray[np.bool_]:
    """Volunteers who can take any task at all: room under the cap, a free slot, no sanction."""
    able: NDArray[np.bool_] = (
        (instance.remaining_cap > 0) & ~instance.sanctioned & (instance.volunteer_slots != 0)
    )
    return able


def free_in_slot(slots: NDArray[np.uint32], slot: int) -> NDArray[np.bool_]:
    """Which volunteers have bit ``slot`` of their availability mask set."""
    return ((slots >> np.uint32(slot)) & np.uint32(1)).astype(np.bool_)


def has_skills(
    volunteer_skills: NDArray[np.uint32], required: NDArray[np.uint32] | np.uint32
) -> NDArray[np.bool_]:
    """Elementwise: does the volunteer hold every required skill bit?"""
    held: NDArray[np.bool_] = (required & ~volunteer_skills) == 0
    return held


def search_radius(max_km: float) -> float:
    """The KD-tree radius: a hair above ``max_km`` so the tree's own rounding never drops a
    pair at exactly ``max_km``; every pair is then re-tested with :func:`distance_km`."""
    return max_km * (1.0 + 1e-9) + 1e-9


def _descending_key(
    task_local: NDArray[np.int64], utility: NDArray[np.float64]
) -> NDArray[np.int64]:
    """One int64 per pair that sorts by task, then by utility from high to low.

    A single argsort of int64 is many times faster than ``np.lexsort`` on two columns. The
    utility enters as the bit pattern of its float32 value mapped to a monotone signed integer
    (float32 keeps 7 digits; pairs closer than that are ties, and which of two tied pairs the
    budget keeps does not matter).
    """
    bits = utility.astype(np.float32).view(np.int32).astype(np.int64)
    monotone = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # negative floats: reverse order
    descending = np.int64(0x7FFFFFFF) - monotone  # in [0, 2**32)
    result: NDArray[np.int64] = (task_local << np.int64(32)) | descending
    return result


def top_per_task(
    task: NDArray[np.int64],
    utility: NDArray[np.float64],
    budget: NDArray[np.int64],
    counts: NDArray[np.int64] | None = None,
) -> NDArray[np.bool_]:
    """Mask of the pairs kept when each task keeps its ``budget[task]`` best by utility.

    ``task`` holds indices into ``budget``; ``counts``, if known, is its bincount. Tasks within
    budget are kept whole without sorting.
    """
    keep = np.ones(task.shape[0], np.bool_)
    if task.size == 0:
        return keep
    if counts is None:
        counts = np.bincount(task, minlength=budget.shape[0])
    over = counts > budget
    if not over.any():
        return keep
    idx = np.flatnonzero(over[task])
    sub_task = task[idx]
    key = _descending_key(sub_task, utility[idx])
    # Sorting the keys (not their positions) is several times faster; each over-budget task
    # then keeps the keys up to its budget-th. Only when that key is shared by the next one (a
    # tie in float32 utility) could it keep too many: then rank by positions, as below.
    ordered = np.sort(key)
    tasks_over = np.flatnonzero(over)
    last = np.searchsorted(ordered, tasks_over.astype(np.int64) << np.int64(32))
    last += budget[tasks_over] - 1
    if not np.any(ordered[last] == ordered[last + 1]):
        limit = np.zeros(budget.shape[0], np.int64)
        limit[tasks_over] = ordered[last]
        keep[idx[key > limit[sub_task]]] = False
        return keep
    order = np.argsort(key)
    sorted_task = sub_task[order]
    group_start = np.flatnonzero(np.r_[True, sorted_task[1:] != sorted_task[:-1]])
    group_len = np.diff(np.r_[group_start, sorted_task.size])
    rank = np.arange(sorted_task.size) - np.repeat(group_start, group_len)
    keep[idx[order[rank >= budget[sorted_task]]]] = False
    return keep


class _Scratch:
    """Buffers for the all-distances join of small slots, reused from one slot to the next.

    Fresh temporaries of a hundred kilobytes or more for every slot make the C allocator give
    memory back to the system and fault it in again on the next slot: about a thousand page
    faults per call at the benchmark's S scale, a third of candidate generation's time. One
    set of buffers, grown to the largest block, touches its pages once.
    """

    __slots__ = ("ok", "passes", "size", "skills", "sq", "sq_y")

    def __init__(self) -> None:
        self.size = 0

    def grow(self, size: int) -> None:
        if size > self.size:
            self.size = size
            self.sq = np.empty(size)
            self.sq_y = np.empty(size)
            self.ok = np.empty(size, np.bool_)
            self.skills = np.empty(size, np.uint32)
            self.passes = np.empty(size, np.bool_)


def _dense_join(
    instance: Instance,
    tasks: NDArray[np.int64],
    vols: NDArray[np.int64],
    radius: float,
    scratch: _Scratch,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Pairs of ``tasks`` x ``vols`` within ``radius`` whose volunteer holds the required skills.

    Every squared distance of the block is computed at once into ``scratch``; the skill test
    runs on the same block before anything is gathered, so only eligible pairs (a half to a
    third of those in range) are copied out. Pairs come out by task, then volunteer, in the
    order of the two index arrays.
    """
    rows, cols = tasks.size, vols.size
    n = rows * cols
    scratch.grow(n)
    sq = scratch.sq[:n].reshape(rows, cols)
    sq_y = scratch.sq_y[:n].reshape(rows, cols)
    ok = scratch.ok[:n].reshape(rows, cols)
    vxy = instance.volunteer_xy_km[vols]
    txy = instance.task_xy_km[tasks]
    np.subtract.outer(txy[:, 0], vxy[:, 0], out=sq)
    np.multiply(sq, sq, out=sq)
    np.subtract.outer(txy[:, 1], vxy[:, 1], out=sq_y)
    np.multiply(sq_y, sq_y, out=sq_y)
    np.add(sq, sq_y, out=sq)
    np.less_equal(sq, radius * radius, out=ok)
    required = instance.task_skills[tasks]
    if required.any():
        missing = scratch.skills[:n].reshape(rows, cols)
        passes = scratch.passes[:n].reshape(rows, cols)
        np.bitwise_and.outer(required, ~instance.volunteer_skills[vols], out=missing)
        np.equal(missing, 0, out=passes)
        np.logical_and(ok, passes, out=ok)
    flat = np.flatnonzero(ok)
    row = flat // cols
    return tasks[row], vols[flat - row * cols], np.sqrt(sq.ravel()[flat])


def find_candidates(
    instance: Instance,
    *,
    weights: Weights = CANONICAL,
    pruning: Pruning | None = None,
    positive_only: bool = True,
) -> Candidates:
    """All eligible pairs (optionally only those with utility > 0), then the per-task budget.

    ``pruning=None`` returns the full eligible graph: the exact reference the pruned graph is
    measured against. ``positive_only=False`` also keeps pairs whose utility is <= 0, which the
    optimum never uses but a naive baseline might.
    """
    m = instance.n_tasks
    n_eligible = np.zeros(m, np.int64)
    n_positive = np.zeros(m, np.int64)
    empty = Candidates(
        task=np.zeros(0, np.int32),
        volunteer=np.zeros(0, np.int32),
        distance_km=np.zeros(0),
        utility=np.zeros(0),
        n_eligible=n_eligible,
        n_positive=n_positive,
        pruned=pruning is not None,
    )
    if m == 0 or instance.n_volunteers == 0:
        return empty

    able = able_volunteers(instance)
    active_task = instance.task_need > 0
    radius = search_radius(instance.max_km)
    budget = pruning.budget(instance.task_need) if pruning is not None else None
    parts: list[
        tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]
    ] = []
    raw: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
    pending = 0
    scratch = _Scratch()

    def score(t: NDArray[np.int64], v: NDArray[np.int64], d: NDArray[np.float64]) -> None:
        """Apply the exact distance limit, score and prune pairs that passed the skill test.

        All pairs of a task arrive in the same call (a task sits in one slot, and a slot is
        settled whole), so pruning call by call is the same as pruning the whole graph.
        """
        # The tree's (or the block's) distance may differ from distance_km() in the last bit;
        # only pairs within that margin of the limit are re-measured, so the limit is applied
        # with the formula the checker uses.
        edge = np.flatnonzero(d > instance.max_km * (1.0 - 1e-9))
        if edge.size:
            d[edge] = distance_km(instance.volunteer_xy_km[v[edge]], instance.task_xy_km[t[edge]])
            ok = np.flatnonzero(d <= instance.max_km)
            t, v, d = t[ok], v[ok], d[ok]
        u = base_utility(instance.task_urgency[t], instance.volunteer_rating[v], d)
        if weights.continuity_bonus:
            u = u + weights.continuity_bonus * (instance.preferred[t] == v)
        counts = np.bincount(t, minlength=m)
        n_eligible[:] += counts
        positive = u > 0
        if positive.all():
            n_positive[:] += counts
        else:
            n_positive[:] += np.bincount(t[positive], minlength=m)
            if positive_only:
                t, v, d, u = t[positive], v[positive], d[positive], u[positive]
                counts = np.bincount(t, minlength=m)
        if budget is not None:
            keep = top_per_task(t, u, budget, counts)
            if not keep.all():
                t, v, d, u = t[keep], v[keep], d[keep], u[keep]
        parts.append((t, v, d, u))

    dense: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
    dense_pending = 0

    def flush_dense() -> None:
        """Score the eligible pairs of the small slots joined so far."""
        if len(dense) == 1:
            score(*dense[0])
        else:
            score(*(np.concatenate([d[k] for d in dense]) for k in range(3)))
        dense.clear()

    def settle() -> None:
        """Skill-test and score the raw in-range pairs the KD-trees returned so far."""
        t = np.concatenate([r[0] for r in raw])
        v = np.concatenate([r[1] for r in raw])
        d = np.concatenate([r[2] for r in raw])
        raw.clear()
        ok = np.flatnonzero(has_skills(instance.volunteer_skills[v], instance.task_skills[t]))
        score(t[ok], v[ok], d[ok])

    for slot in range(NUM_SLOTS):
        tasks_here = np.flatnonzero(active_task & (instance.task_slot == slot))
        if tasks_here.size == 0:
            continue
        vols_here = np.flatnonzero(able & free_in_slot(instance.volunteer_slots, slot))
        if vols_here.size == 0:
            continue
        if tasks_here.size * vols_here.size <= _DENSE_PAIRS:
            # A small slot: one block of all distances is cheaper than building two trees.
            dense.append(_dense_join(instance, tasks_here, vols_here, radius, scratch))
            dense_pending += dense[-1][0].size
            if dense_pending >= _SCORE_PAIRS:
                flush_dense()
                dense_pending = 0
            continue
        vol_tree = cKDTree(instance.volunteer_xy_km[vols_here], **TREE_OPTIONS)
        for start in range(0, tasks_here.size, _TASK_CHUNK):
            chunk = tasks_here[start : start + _TASK_CHUNK]
            task_tree = cKDTree(instance.task_xy_km[chunk], **TREE_OPTIONS)
            near = task_tree.sparse_distance_matrix(vol_tree, radius, output_type="ndarray")
            raw.append((chunk[near["i"]], vols_here[near["j"]], near["v"]))
            pending += near.shape[0]
        # The trees' raw pairs are settled in batches rather than per slot: few numpy calls
        # on mid-size instances, bounded memory for the raw pairs on large ones.
        if pending >= _SETTLE_PAIRS:
            settle()
            pending = 0
    if raw:
        settle()
    if dense:
        flush_dense()

    if not parts:
        return empty
    return Candidates(
        task=np.concatenate([p[0] for p in parts]).astype(np.int32),
        volunteer=np.concatenate([p[1] for p in parts]).astype(np.int32),
        distance_km=np.concatenate([p[2] for p in parts]),
        utility=np.concatenate([p[3] for p in parts]),
        n_eligible=n_eligible,
        n_positive=n_positive,
        pruned=pruning is not None,
    )
