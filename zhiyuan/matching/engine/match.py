"""The engine's front door: an instance in, the optimal assignment out.

``match(instance)`` splits the map into independent parts, runs candidate generation and the
exact min-cost flow on each (in this process, or in ``Options(workers=k)`` processes), and
returns the merged assignment with its objective, the tasks left short and why, and how long
each stage took.

Note for scripts: with ``workers > 1`` the pool starts processes with ``forkserver``, which
re-imports the calling script's ``__main__`` module — guard its entry point with
``if __name__ == "__main__":``, as every Python multiprocessing program must.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .check import fairness_cost
from .decompose import solve_by_parts
from .explain import Unfilled
from .instance import Instance
from .pipeline import Options


@dataclass(frozen=True, slots=True, eq=False)
class MatchResult:
    """An optimal assignment of volunteers to tasks.

    volunteer, task: the assigned pairs (0-based indices), sorted by task then volunteer.
    utility: each pair's utility under the options' weights (fairness excluded).
    objective: what was maximised — sum of ``utility`` minus the fairness price; equal to
        ``total_utility`` under the canonical weights.
    total_utility: the canonical objective of the same pairs (the benchmark's figure).
    assigned_per_task: people assigned to each task.
    n_eligible: eligible volunteers per task before pruning.
    unfilled: every task with fewer people than it needs, with the reason.
    seconds: time per stage. ``candidates``, ``build``, ``solve`` (inside OR-Tools),
        ``extract`` and ``explain_unfilled`` are summed over the jobs (so with several
        workers they are processor time and may add up to more than the wall time);
        ``decompose`` (finding parts, copying their arrays) and ``merge`` run in the calling
        process; ``total`` is the wall time of the call.
    counts: graph sizes summed over jobs (eligible and candidate pairs, nodes, arcs), the
        number of independent parts and of jobs, and the largest part.
    worker_peak_rss_bytes: the largest resident size any worker process reached (0 when the
        jobs ran in this process).
    """

    volunteer: NDArray[np.int64]
    task: NDArray[np.int64]
    utility: NDArray[np.float64]
    objective: float
    total_utility: float
    assigned_per_task: NDArray[np.int64]
    n_eligible: NDArray[np.int64]
    unfilled: list[Unfilled]
    seconds: dict[str, float]
    counts: dict[str, int]
    worker_peak_rss_bytes: int = 0

    @property
    def n_pairs(self) -> int:
        return int(self.volunteer.shape[0])


def match(instance: Instance, options: Options | None = None) -> MatchResult:
    """Solve ``instance`` to optimality on the (pruned, by default) candidate graph."""
    options = options or Options()
    started = time.perf_counter()
    merged = solve_by_parts(instance, options)
    volunteer, task, utility = merged.volunteer, merged.task, merged.utility
    seconds = dict(merged.seconds)

    objective = float(utility.sum()) - fairness_cost(instance, volunteer, options.weights)
    if options.weights.continuity_bonus:
        bonus = options.weights.continuity_bonus * (instance.preferred[task] == volunteer)
        total = float((utility - bonus).sum())
    else:
        total = float(utility.sum())
    seconds["total"] = time.perf_counter() - started
    return MatchResult(
        volunteer=volunteer,
        task=task,
        utility=utility,
        objective=objective,
        total_utility=total,
        assigned_per_task=merged.assigned_per_task,
        n_eligible=merged.n_eligible,
        unfilled=merged.unfilled,
        seconds=seconds,
        counts=merged.counts,
        worker_peak_rss_bytes=merged.worker_peak_rss_bytes,
    )
