"""The exact solver: the assignment as a min-cost flow, solved by OR-Tools.

Network (one unit of flow = one volunteer sent to one task)::

    source --(cap: tasks the volunteer may still take)--> volunteer
    volunteer --(cap 1)--> volunteer-slot        at most one task per weekly slot
    volunteer-slot --(cap 1, cost -utility)--> task
    task --(cap: people needed)--> sink
    source --(cap: all the flow, cost 0)--> sink  the bypass: demand may stay unfilled

The source supplies ``F = min(total room, total need)`` units and the sink absorbs them; a unit
that would earn nothing takes the bypass at cost 0, so minimising cost maximises utility and
never forces a bad pair. The constraint matrix of a flow network is totally unimodular, so the
integer optimum OR-Tools returns is also the optimum of the LP relaxation (the benchmark checks
this with HiGHS).

Fairness (optional) replaces the single source->volunteer arc by parallel unit arcs whose costs
rise with the number of tasks the volunteer holds: flow takes the cheapest arc first, so the
k-th task pays exactly the k-th cost and the convex cost stays a flow problem.

Two reductions keep the graph small without changing the optimum: a volunteer whose remaining
cap is at least the number of slots he has candidates in needs no volunteer node (his cap can
never bind: source feeds his slot nodes directly); and the cap is clipped to that slot count.

Arcs are handed to OR-Tools as numpy arrays in one call; adding them one at a time from Python
would take longer than solving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from .eligibility import Candidates
from .instance import Instance
from .objective import NUM_SLOTS, UTILITY_SCALE, Weights

#: OR-Tools scales costs by (number of nodes + 1) inside its cost-scaling algorithm; keep that
#: product well inside int64.
_COST_LIMIT = 2**62


class SolverError(RuntimeError):
    """OR-Tools did not report an optimal flow (a bug, never bad input: input is validated)."""


@dataclass(frozen=True, slots=True, eq=False)
class FlowNetwork:
    """A flow network as arrays, ready for OR-Tools.

    Arcs ``[pair_arcs_start, pair_arcs_start + n_pairs)`` are the candidate pairs, in the order
    of the :class:`Candidates` they were built from.
    """

    tails: NDArray[np.int32]
    heads: NDArray[np.int32]
    capacities: NDArray[np.int64]
    costs: NDArray[np.int64]
    supply: int
    source: int
    sink: int
    n_nodes: int
    pair_arcs_start: int
    n_pairs: int
    scale: int

    @property
    def n_arcs(self) -> int:
        return int(self.tails.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class FlowSolution:
    """Which candidate pairs carry flow, and what the solver reported.

    chosen: mask over the candidate pairs.
    optimal_cost: OR-Tools' integer objective (scaled utilities, negative = good).
    seconds: time inside OR-Tools only (adding arcs, supplies, solving) — the "bare solver".
    """

    chosen: NDArray[np.bool_]
    optimal_cost: int
    seconds: float


def build_network(
    instance: Instance,
    cands: Candidates,
    weights: Weights,
    *,
    scale: int = UTILITY_SCALE,
) -> FlowNetwork:
    """Lay out nodes and arcs for the candidate pairs of ``instance``."""
    t = cands.task.astype(np.int64)
    v = cands.volunteer.astype(np.int64)
    n_pairs = t.shape[0]
    slot = instance.task_slot[t]

    # Volunteer-slot nodes: one per (volunteer, slot) that has at least one candidate.
    vs_key = v * NUM_SLOTS + slot
    vs_unique, pair_vs = np.unique(vs_key, return_inverse=True)
    vs_vol = vs_unique // NUM_SLOTS
    vols, vs_owner = np.unique(vs_vol, return_inverse=True)
    slots_per_vol = np.bincount(vs_owner, minlength=vols.size)
    room = np.minimum(instance.remaining_cap[vols], slots_per_vol)
    load = instance.load[vols]
    fair = weights.fairness_weight > 0
    # With fairness every volunteer keeps a node (its parallel arcs price each extra task);
    # without it, only those whose cap can bind.
    has_node = np.ones(vols.size, np.bool_) if fair else room < slots_per_vol
    node_vols = np.flatnonzero(has_node)

    tasks, pair_task = np.unique(t, return_inverse=True)
    need = instance.task_need[tasks]

    source, sink = 0, 1
    vol_node = np.full(vols.size, -1, np.int64)
    vol_node[node_vols] = 2 + np.arange(node_vols.size)
    vs_node0 = 2 + node_vols.size
    task_node0 = vs_node0 + vs_unique.size
    n_nodes = task_node0 + tasks.size

    # source -> volunteer: one arc of capacity `room`, or with fairness `room` unit arcs whose
    # cost is the fairness price of the volunteer's (load + j + 1)-th task.
    if fair:
        reps = room[node_vols]
        src_heads = np.repeat(vol_node[node_vols], reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        src_caps = np.ones(src_heads.size, np.int64)
        src_costs = np.rint(
            weights.fairness_weight * (np.repeat(load[node_vols], reps) + within) * scale
        ).astype(np.int64)
    else:
        src_heads = vol_node[node_vols]
        src_caps = room[node_vols]
        src_costs = np.zeros(node_vols.size, np.int64)

    # volunteer -> volunteer-slot (or source -> volunteer-slot when the cap cannot bind).
    owner_node = vol_node[vs_owner]
    vs_tails = np.where(owner_node >= 0, owner_node, source)

    pair_costs = -np.rint(cands.utility * scale).astype(np.int64)
    tails = np.concatenate(
        [
            np.full(src_heads.size, source, np.int64),
            vs_tails,
            vs_node0 + pair_vs,
            task_node0 + np.arange(tasks.size),
            [source],
        ]
    ).astype(np.int32)
    heads = np.concatenate(
        [
            src_heads,
            vs_node0 + np.arange(vs_unique.size),
            task_node0 + pair_task,
            np.full(tasks.size, sink, np.int64),
            [sink],
        ]
    ).astype(np.int32)
    supply = int(min(room.sum(), need.sum()))
    capacities = np.concatenate(
        [src_caps, np.ones(vs_unique.size + n_pairs, np.int64), need, [supply]]
    ).astype(np.int64)
    costs = np.concatenate(
        [
            src_costs,
            np.zeros(vs_unique.size, np.int64),
            pair_costs,
            np.zeros(tasks.size + 1, np.int64),
        ]
    )
    max_cost = int(np.abs(costs).max()) if costs.size else 0
    if max_cost * (n_nodes + 1) >= _COST_LIMIT or max_cost * max(supply, 1) >= _COST_LIMIT:
        raise SolverError(
            f"utilities too large for scale {scale}: max |cost| {max_cost} with {n_nodes} nodes"
        )
    return FlowNetwork(
        tails=tails,
        heads=heads,
        capacities=capacities,
        costs=costs,
        supply=supply,
        source=source,
        sink=sink,
        n_nodes=n_nodes,
        pair_arcs_start=src_heads.size + vs_unique.size,
        n_pairs=n_pairs,
        scale=scale,
    )


def solve_network(net: FlowNetwork) -> FlowSolution:
    """Run OR-Tools' SimpleMinCostFlow on the network and read the flow on the pair arcs."""
    if net.n_pairs == 0 or net.supply == 0:
        return FlowSolution(chosen=np.zeros(net.n_pairs, np.bool_), optimal_cost=0, seconds=0.0)
    started = time.perf_counter()
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.capacities, net.costs)
    mcf.set_nodes_supplies(
        np.array([net.source, net.sink], np.int32),
        np.array([net.supply, -net.supply], np.int64),
    )
    status = mcf.solve()
    seconds = time.perf_counter() - started
    if status != mcf.OPTIMAL:
        raise SolverError(f"min-cost flow ended with status {status!r}")
    pair_arcs = arcs[net.pair_arcs_start : net.pair_arcs_start + net.n_pairs]
    flow = mcf.flows(pair_arcs)
    return FlowSolution(chosen=flow > 0, optimal_cost=int(mcf.optimal_cost()), seconds=seconds)
