"""Independent references for the engine's tests: plain-Python eligibility, brute force, LP.

Nothing here calls the engine's own candidate generation or solver, so a shared bug cannot make
engine and reference agree by accident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from zhiyuan.matching.engine import Instance


@dataclass(frozen=True)
class Pair:
    volunteer: int
    task: int
    slot: int
    utility: float


def eligible_pairs(inst: Instance, continuity_bonus: float = 0.0) -> list[Pair]:
    """Every eligible pair, by the rule as written in the issue, one pair at a time."""
    pairs = []
    for v in range(inst.n_volunteers):
        room = int(inst.volunteer_cap[v]) - int(inst.load[v])
        if room <= 0 or bool(inst.sanctioned[v]):
            continue
        held = int(inst.volunteer_skills[v])
        free = int(inst.volunteer_slots[v])
        vx, vy = (float(c) for c in inst.volunteer_xy_km[v])
        for t in range(inst.n_tasks):
            if int(inst.task_need[t]) == 0:
                continue
            required = int(inst.task_skills[t])
            slot = int(inst.task_slot[t])
            if required & ~held or not (free >> slot) & 1:
                continue
            tx, ty = (float(c) for c in inst.task_xy_km[t])
            dist = math.hypot(vx - tx, vy - ty)
            if dist > inst.max_km:
                continue
            utility = (
                float(inst.task_urgency[t]) * (10 + 2 * float(inst.volunteer_rating[v])) - dist
            )
            if int(inst.preferred[t]) == v:
                utility += continuity_bonus
            pairs.append(Pair(v, t, slot, utility))
    return pairs


def brute_force_optimum(
    inst: Instance, *, continuity_bonus: float = 0.0, fairness_weight: float = 0.0
) -> float:
    """The best objective over every feasible subset of eligible pairs (exponential: tiny only).

    Objective: sum of pair utilities minus, per volunteer, fairness_weight * (k - 1) for each
    of his tasks this week (k counting his current load).
    """
    # Best pairs first, so good solutions are found early and the bound below prunes hard.
    pairs = sorted(eligible_pairs(inst, continuity_bonus), key=lambda p: -p.utility)
    # bound[i]: the most that pairs i.. could still add (fairness prices only subtract).
    bound = [0.0] * (len(pairs) + 1)
    for i in range(len(pairs) - 1, -1, -1):
        bound[i] = bound[i + 1] + max(pairs[i].utility, 0.0)
    room = [int(c) - int(ld) for c, ld in zip(inst.volunteer_cap, inst.load, strict=True)]
    need = [int(x) for x in inst.task_need]
    load = [int(x) for x in inst.load]
    used_slots: set[tuple[int, int]] = set()
    taken = [0] * inst.n_volunteers
    best = 0.0

    def rec(i: int, value: float) -> None:
        nonlocal best
        if value + bound[i] <= best + 1e-12:
            return
        if i == len(pairs):
            best = value
            return
        p = pairs[i]
        if room[p.volunteer] > 0 and need[p.task] > 0 and (p.volunteer, p.slot) not in used_slots:
            room[p.volunteer] -= 1
            need[p.task] -= 1
            used_slots.add((p.volunteer, p.slot))
            price = fairness_weight * (load[p.volunteer] + taken[p.volunteer])
            taken[p.volunteer] += 1
            rec(i + 1, value + p.utility - price)
            taken[p.volunteer] -= 1
            used_slots.discard((p.volunteer, p.slot))
            room[p.volunteer] += 1
            need[p.task] += 1
        rec(i + 1, value)

    rec(0, 0.0)
    return best


@dataclass(frozen=True)
class LpResult:
    value: float
    fractional: int
    n_vars: int


def lp_optimum(inst: Instance) -> LpResult:
    """The LP relaxation of the canonical problem, solved by HiGHS (dual simplex, a vertex)."""
    pairs = [p for p in eligible_pairs(inst) if p.utility > 0]
    if not pairs:
        return LpResult(0.0, 0, 0)
    rows, cols = [], []
    slot_row: dict[tuple[int, int], int] = {}
    n, m = inst.n_volunteers, inst.n_tasks
    for j, p in enumerate(pairs):
        key = (p.volunteer, p.slot)
        if key not in slot_row:
            slot_row[key] = n + m + len(slot_row)
        rows += [p.volunteer, n + p.task, slot_row[key]]
        cols += [j, j, j]
    n_rows = n + m + len(slot_row)
    a = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, len(pairs))).tocsr()
    b = np.concatenate(
        [
            np.maximum(inst.volunteer_cap - inst.load, 0),
            inst.task_need,
            np.ones(len(slot_row)),
        ]
    ).astype(float)
    res = linprog(
        -np.array([p.utility for p in pairs]), A_ub=a, b_ub=b, bounds=(0, 1), method="highs-ds"
    )
    assert res.status == 0, res.message
    frac = int(np.sum(np.minimum(res.x, 1 - res.x) > 1e-9))
    return LpResult(float(-res.fun), frac, len(pairs))
