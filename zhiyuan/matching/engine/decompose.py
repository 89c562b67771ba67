"""Independent parts of the map, solved separately (in threads or processes) and merged.

A volunteer can only serve a task within ``max_km``, so two groups of people and tasks further
apart than that never interact: their optima are independent and the union of the parts'
optima is the optimum of the whole. The parts are found on a grid of ``max_km`` cells: any
eligible pair lies in the same or in touching cells, so connected groups of occupied cells
(8-neighbourhood) are independent. In practice a part is a city, or a district separated from
the next by open country.

Small parts are packed into jobs. The jobs run in this process, two at a time in threads, or,
largest first, in a process pool where each worker receives only its job's arrays, so a
worker's memory grows with the largest part rather than with the whole map. Even in one process
the parts pay off: OR-Tools solves a few small networks faster than their union.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .explain import Unfilled
from .instance import Instance
from .pipeline import Options, PartResult, solve_part


@dataclass(frozen=True, slots=True, eq=False)
class Components:
    """Which independent part each volunteer and each task belongs to (labels 0..count-1)."""

    volunteer: NDArray[np.int64]
    task: NDArray[np.int64]
    count: int


def spatial_components(instance: Instance) -> Components:
    """Label the independent parts of the map (see the module docstring)."""
    n, m = instance.n_volunteers, instance.n_tasks
    if n + m == 0:
        return Components(np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
    xy = np.concatenate([instance.volunteer_xy_km, instance.task_xy_km])
    span = float(np.ptp(xy, axis=0).max())
    # A cell is max_km wide; for max_km = 0 (or tiny) cap the grid at 2**20 cells a side,
    # which still separates anything that is not at the same spot.
    cell_km = max(instance.max_km, span / 2**20, 1e-9)
    cell = np.floor((xy - xy.min(axis=0)) / cell_km).astype(np.int64) + 1
    width = int(cell[:, 1].max()) + 2
    key = cell[:, 0] * width + cell[:, 1]
    cells, of_point = np.unique(key, return_inverse=True)

    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    for dx, dy in ((1, -1), (1, 0), (1, 1), (0, 1)):
        neighbour = cells + dx * width + dy
        pos = np.searchsorted(cells, neighbour)
        pos_clipped = np.minimum(pos, cells.size - 1)
        hit = cells[pos_clipped] == neighbour
        rows.append(np.flatnonzero(hit))
        cols.append(pos_clipped[hit])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(cells.size, cells.size))
    count, cell_label = connected_components(graph, directed=False)
    label = cell_label[of_point].astype(np.int64)
    return Components(volunteer=label[:n], task=label[n:], count=int(count))


def plan_jobs(
    comps: Components, min_tasks: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Group the parts that have tasks into jobs, largest first.

    A part with at least ``min_tasks`` tasks is a job of its own; smaller parts are packed
    together until a job reaches ``min_tasks``, so a region of many villages does not pay the
    per-job overhead hundreds of times. Parts without tasks are left out: their volunteers have
    nothing to do. Every task is in some job, so even a part with no volunteer gets its tasks
    reported as unfilled, with the reason. Returns (volunteer indices, task indices) per job.
    """
    vol_count = np.bincount(comps.volunteer, minlength=comps.count)
    task_count = np.bincount(comps.task, minlength=comps.count)
    parts = np.flatnonzero(task_count > 0)
    parts = parts[np.argsort(-task_count[parts], kind="stable")]
    members: list[list[int]] = []
    open_tasks = min_tasks  # tasks in the job being filled; starts "full" to open a new one
    for p in parts.tolist():
        if open_tasks >= min_tasks:
            members.append([])
            open_tasks = 0
        members[-1].append(p)
        open_tasks += int(task_count[p])
    vol_order = np.argsort(comps.volunteer, kind="stable")
    task_order = np.argsort(comps.task, kind="stable")
    vol_start = np.r_[0, np.cumsum(vol_count)]
    task_start = np.r_[0, np.cumsum(task_count)]
    jobs = []
    for group in members:
        vols = np.concatenate([vol_order[vol_start[p] : vol_start[p + 1]] for p in group])
        tasks = np.concatenate([task_order[task_start[p] : task_start[p + 1]] for p in group])
        jobs.append((np.sort(vols), np.sort(tasks)))
    return jobs


@dataclass(frozen=True, slots=True, eq=False)
class _JobOutput:
    result: PartResult
    volunteers: NDArray[np.int64]
    tasks: NDArray[np.int64]
    peak_rss_bytes: int


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def _run_job(
    part: Instance, volunteers: NDArray[np.int64], tasks: NDArray[np.int64], options: Options
) -> _JobOutput:
    result = solve_part(part, options)
    return _JobOutput(result, volunteers, tasks, _peak_rss_bytes())


def _context() -> multiprocessing.context.BaseContext:
    # forkserver, not fork: the caller may be a threaded web or task worker, and forking a
    # process that holds other threads' locks can deadlock the child. The server preloads
    # the engine so each worker starts with numpy, SciPy and OR-Tools already imported.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True, eq=False)
class Merged:
    """The parts' results in the whole instance's indices."""

    volunteer: NDArray[np.int64]
    task: NDArray[np.int64]
    utility: NDArray[np.float64]
    assigned_per_task: NDArray[np.int64]
    n_eligible: NDArray[np.int64]
    unfilled: list[Unfilled]
    seconds: dict[str, float]
    counts: dict[str, int]
    worker_peak_rss_bytes: int


def solve_by_parts(instance: Instance, options: Options) -> Merged:
    """Solve the independent parts of ``instance`` and merge them.

    With ``options.workers == 1`` the jobs run in this process, ``options.threads`` at a time;
    otherwise in a pool of that many processes, largest job first.
    """
    started = time.perf_counter()
    comps: Components | None = None
    if instance.n_tasks <= options.min_job_tasks:
        # Every part would be packed into the one job anyway: skip finding them.
        jobs = [(np.arange(instance.n_volunteers), np.arange(instance.n_tasks))]
    else:
        comps = spatial_components(instance)
        jobs = plan_jobs(comps, options.min_job_tasks)
    split_seconds = time.perf_counter() - started
    outputs: list[_JobOutput] = []
    workers = 1 if options.workers == 1 else min(options.workers, len(jobs), os.cpu_count() or 1)
    if workers <= 1:

        def run(job: tuple[NDArray[np.int64], NDArray[np.int64]]) -> _JobOutput:
            vols, tasks = job
            clock = time.perf_counter()
            whole = vols.size == instance.n_volunteers and tasks.size == instance.n_tasks
            part = instance if whole else instance.subset(vols, tasks)
            copied = time.perf_counter() - clock
            result = solve_part(part, options)
            result.seconds["decompose"] = copied  # summed over jobs by _merge
            return _JobOutput(result, vols, tasks, 0)

        if options.threads > 1 and len(jobs) > 1:
            # OR-Tools releases the GIL while it solves, so a second thread prepares the next
            # job's candidates meanwhile: the Python side hides behind the solver.
            with ThreadPoolExecutor(max_workers=options.threads) as threads:
                outputs = list(threads.map(run, jobs))
        else:
            outputs = [run(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
            futures = []
            for vols, tasks in jobs:
                clock = time.perf_counter()
                part = instance.subset(vols, tasks)
                split_seconds += time.perf_counter() - clock
                futures.append(pool.submit(_run_job, part, vols, tasks, options))
            outputs = [f.result() for f in futures]
    clock = time.perf_counter()
    merged = _merge(instance, outputs, comps, len(jobs))
    merged.seconds["decompose"] = split_seconds + merged.seconds.get("decompose", 0.0)
    merged.seconds["merge"] = time.perf_counter() - clock
    return merged


def _merge(
    instance: Instance, outputs: list[_JobOutput], comps: Components | None, n_jobs: int
) -> Merged:
    m = instance.n_tasks
    if (
        len(outputs) == 1
        and outputs[0].volunteers.size == instance.n_volunteers
        and outputs[0].tasks.size == m
    ):
        # One job over the whole instance (sorted, distinct indices of full length are the
        # identity): its result is already in the instance's indices and order.
        return _whole(outputs[0], comps, n_jobs)
    n_eligible = np.zeros(m, np.int64)
    unfilled: list[Unfilled] = []
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    vols, tasks, utils = [], [], []
    for out in outputs:
        r = out.result
        vols.append(out.volunteers[r.volunteer])
        tasks.append(out.tasks[r.task])
        utils.append(r.utility)
        n_eligible[out.tasks] = r.n_eligible
        for u in r.unfilled:
            unfilled.append(
                Unfilled(int(out.tasks[u.task]), u.need, u.assigned, u.reason, u.funnel)
            )
        for k, s in r.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + s
        for k, c in r.counts.items():
            counts[k] = counts.get(k, 0) + c
    volunteer = np.concatenate(vols) if vols else np.zeros(0, np.int64)
    task = np.concatenate(tasks) if tasks else np.zeros(0, np.int64)
    utility = np.concatenate(utils) if utils else np.zeros(0)
    order = np.lexsort((volunteer, task))
    assigned = np.bincount(task, minlength=m).astype(np.int64)
    unfilled.sort(key=lambda u: u.task)
    _count_parts(counts, comps, n_jobs)
    return Merged(
        volunteer=volunteer[order],
        task=task[order],
        utility=utility[order],
        assigned_per_task=assigned,
        n_eligible=n_eligible,
        unfilled=unfilled,
        seconds=seconds,
        counts=counts,
        worker_peak_rss_bytes=max((o.peak_rss_bytes for o in outputs), default=0),
    )


def _count_parts(counts: dict[str, int], comps: Components | None, n_jobs: int) -> None:
    counts["jobs"] = n_jobs
    if comps is not None:  # not computed for instances small enough to be one job
        counts["components"] = comps.count
        counts["largest_component_volunteers"] = (
            int(np.bincount(comps.volunteer, minlength=1).max()) if comps.volunteer.size else 0
        )
        counts["largest_component_tasks"] = (
            int(np.bincount(comps.task, minlength=1).max()) if comps.task.size else 0
        )


def _whole(out: _JobOutput, comps: Components | None, n_jobs: int) -> Merged:
    """The merge of a single job that covered the whole instance: nothing to re-index."""
    r = out.result
    counts = dict(r.counts)
    _count_parts(counts, comps, n_jobs)
    return Merged(
        volunteer=r.volunteer,
        task=r.task,
        utility=r.utility,
        assigned_per_task=r.assigned_per_task,
        n_eligible=r.n_eligible,
        unfilled=list(r.unfilled),
        seconds=dict(r.seconds),
        counts=counts,
        worker_peak_rss_bytes=out.peak_rss_bytes,
    )
