"""One graph, start to finish: candidates, network, solve, read back, explain the shortfalls.

:func:`solve_part` is what a worker process runs on one component, and what :func:`match` runs
in-process on the whole instance when no parallelism is asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .eligibility import Pruning, find_candidates
from .explain import Unfilled, unfilled_tasks
from .instance import Instance
from .objective import CANONICAL, UTILITY_SCALE, Weights
from .solver import build_network, solve_network

#: The production pruning: see :class:`Pruning` for what the numbers mean.
DEFAULT_PRUNING = Pruning()


@dataclass(frozen=True, slots=True)
class Options:
    """How to solve.

    weights: optional objective terms (canonical when left alone).
    pruning: per-task candidate budget; ``None`` solves the full eligible graph.
    workers: processes for the independent parts of the map; 1 solves them in this process.
    threads: when the jobs run in this process, how many run at once in threads. OR-Tools
        releases the GIL while solving, so with 2 one job's candidate generation overlaps
        another's solve.
    min_job_tasks: parts with fewer tasks are packed together into one job, so many small
        villages do not each pay the per-job overhead.
    scale: integer cost per unit of utility in the flow network.
    explain_unfilled: classify every task left short (costs one spatial query per task that
        had no eligible volunteer at all).
    """

    weights: Weights = CANONICAL
    pruning: Pruning | None = DEFAULT_PRUNING
    workers: int = 1
    threads: int = 2
    min_job_tasks: int = 500
    scale: int = UTILITY_SCALE
    explain_unfilled: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers: must be >= 1, got {self.workers}")
        if self.threads < 1:
            raise ValueError(f"threads: must be >= 1, got {self.threads}")
        if self.min_job_tasks < 1:
            raise ValueError(f"min_job_tasks: must be >= 1, got {self.min_job_tasks}")
        if self.scale < 1:
            raise ValueError(f"scale: must be >= 1, got {self.scale}")


@dataclass(frozen=True, slots=True, eq=False)
class PartResult:
    """The solution of one graph, in the indices of the instance it was given.

    volunteer, task, utility: the assigned pairs and their utility (weights applied, without
        the fairness price, which belongs to the volunteer rather than the pair).
    assigned_per_task: people assigned to each task.
    n_eligible: per task, eligible volunteers before pruning.
    unfilled: tasks left short, with reasons.
    seconds: per stage (candidates, build, solve = inside OR-Tools, extract, explain_unfilled).
    counts: sizes of the graph (eligible pairs, candidate pairs, nodes, arcs).
    """

    volunteer: NDArray[np.int64]
    task: NDArray[np.int64]
    utility: NDArray[np.float64]
    assigned_per_task: NDArray[np.int64]
    n_eligible: NDArray[np.int64]
    unfilled: list[Unfilled]
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def solve_part(instance: Instance, options: Options) -> PartResult:
    """Solve one instance as one flow network (no decomposition)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    cands = find_candidates(instance, weights=options.weights, pruning=options.pruning)
    now = time.perf_counter()
    seconds["candidates"] = now - clock
    clock = now

    net = build_network(instance, cands, options.weights, scale=options.scale)
    now = time.perf_counter()
    seconds["build"] = now - clock

    sol = solve_network(net)
    clock = time.perf_counter()
    seconds["solve"] = sol.seconds

    chosen = np.flatnonzero(sol.chosen)
    volunteer = cands.volunteer[chosen].astype(np.int64)
    task = cands.task[chosen].astype(np.int64)
    utility = cands.utility[chosen]
    order = np.lexsort((volunteer, task))  # stable output: by task, then volunteer
    volunteer, task, utility = volunteer[order], task[order], utility[order]
    assigned = np.bincount(task, minlength=instance.n_tasks).astype(np.int64)
    now = time.perf_counter()
    seconds["extract"] = now - clock
    clock = now

    unfilled = unfilled_tasks(instance, cands, assigned) if options.explain_unfilled else []
    seconds["explain_unfilled"] = time.perf_counter() - clock

    counts = {
        "eligible_pairs": int(cands.n_eligible.sum()),
        "candidate_pairs": cands.n_pairs,
        "nodes": net.n_nodes,
        "arcs": net.n_arcs,
    }
    return PartResult(
        volunteer=volunteer,
        task=task,
        utility=utility,
        assigned_per_task=assigned,
        n_eligible=cands.n_eligible,
        unfilled=unfilled,
        seconds=seconds,
        counts=counts,
    )
