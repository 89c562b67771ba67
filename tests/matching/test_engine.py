"""The exact engine against independent optima, and every method against the shared checker."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.matching import generate, instance_from
from tests.matching.reference import brute_force_optimum, eligible_pairs, lp_optimum
from tests.matching.strategies import instances
from zhiyuan.matching.engine import (
    Instance,
    Options,
    Pruning,
    Weights,
    best_utility_first,
    check_assignment,
    evaluate,
    find_candidates,
    match,
    nearest_first,
    random_feasible,
)
from zhiyuan.matching.engine.decompose import spatial_components
from zhiyuan.matching.engine.eligibility import top_per_task

FULL = Options(pruning=None)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The flow optimises utilities rounded to 1e-6 per pair; allow that per assigned pair.
ROUNDING = 1e-6


def no_violations(inst: Instance, volunteer: np.ndarray, task: np.ndarray) -> None:
    counts = check_assignment(inst, volunteer, task)
    assert counts == dict.fromkeys(counts, 0), counts


@SETTINGS
@given(instances())
def test_exact_equals_brute_force(inst: Instance) -> None:
    best = brute_force_optimum(inst)
    result = match(inst, FULL)
    no_violations(inst, result.volunteer, result.task)
    assert result.total_utility == pytest.approx(best, abs=ROUNDING * (result.n_pairs + 1))
    # The result's own bookkeeping agrees with the checker's recomputation.
    assert evaluate(inst, result.volunteer, result.task).total_utility == pytest.approx(
        result.total_utility, abs=1e-9
    )
    assert (
        result.assigned_per_task.tolist()
        == np.bincount(result.task, minlength=inst.n_tasks).tolist()
    )


@SETTINGS
@given(instances())
def test_pruned_engine_is_feasible_and_never_beats_the_optimum(inst: Instance) -> None:
    best = brute_force_optimum(inst)
    # A budget of one candidate per task makes pruning bite on these tiny instances.
    result = match(inst, Options(pruning=Pruning(per_need=0.0, minimum=1)))
    no_violations(inst, result.volunteer, result.task)
    assert result.total_utility <= best + ROUNDING * (result.n_pairs + 1)


@SETTINGS
@given(
    instances(max_volunteers=5, max_tasks=3),
    st.sampled_from([0.5, 3.0, 12.0]),
    st.sampled_from([0.0, 4.0]),
)
def test_fairness_and_continuity_are_optimised_exactly(
    inst: Instance, fairness: float, bonus: float
) -> None:
    weights = Weights(continuity_bonus=bonus, fairness_weight=fairness)
    best = brute_force_optimum(inst, continuity_bonus=bonus, fairness_weight=fairness)
    result = match(inst, Options(pruning=None, weights=weights))
    no_violations(inst, result.volunteer, result.task)
    assert result.objective == pytest.approx(best, abs=ROUNDING * (result.n_pairs + 1))
    # The canonical figure of the same pairs is reported alongside.
    assert result.total_utility == pytest.approx(
        evaluate(inst, result.volunteer, result.task).total_utility, abs=1e-9
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_volunteers=40, max_tasks=14, max_need=5))
def test_exact_equals_lp_optimum_and_lp_vertex_is_integral(inst: Instance) -> None:
    lp = lp_optimum(inst)
    result = match(inst, FULL)
    no_violations(inst, result.volunteer, result.task)
    assert result.total_utility == pytest.approx(lp.value, abs=ROUNDING * (result.n_pairs + 1))
    assert lp.fractional == 0  # total unimodularity: the LP's optimal vertex is 0/1


@SETTINGS
@given(instances(max_volunteers=12, max_tasks=6))
def test_candidates_are_exactly_the_eligible_pairs(inst: Instance) -> None:
    expected = {(p.volunteer, p.task) for p in eligible_pairs(inst)}
    cands = find_candidates(inst, positive_only=False)
    got = set(zip(cands.volunteer.tolist(), cands.task.tolist(), strict=True))
    assert got == expected
    counts = np.zeros(inst.n_tasks, np.int64)
    for _, t in expected:
        counts[t] += 1
    assert cands.n_eligible.tolist() == counts.tolist()


@SETTINGS
@given(instances(max_volunteers=12, max_tasks=6), st.integers(0, 3))
def test_baselines_are_feasible_and_not_better_than_exact(inst: Instance, seed: int) -> None:
    cands = find_candidates(inst, positive_only=False)
    exact = match(inst, FULL).total_utility
    for volunteer, task in (
        random_feasible(inst, cands, seed=seed),
        nearest_first(inst, cands),
        best_utility_first(inst, cands),
    ):
        no_violations(inst, volunteer, task)
        assert evaluate(inst, volunteer, task).total_utility <= exact + 1e-5


def test_pruning_budget_grows_with_need() -> None:
    # One task for 4 people among 30 eligible volunteers: budget 2 + 1 * 4 = 6, the 6 best.
    n = 30
    inst = Instance(
        volunteer_xy_km=np.column_stack([np.arange(n) * 0.1, np.zeros(n)]),
        volunteer_skills=np.zeros(n, np.uint32),
        volunteer_slots=np.ones(n, np.uint32),
        volunteer_cap=np.ones(n, np.int64),
        volunteer_rating=np.full(n, 4.0),
        task_xy_km=np.array([[0.0, 0.0]]),
        task_skills=np.array([0]),
        task_slot=np.array([0]),
        task_need=np.array([4]),
        task_urgency=np.array([1]),
        max_km=10.0,
    )
    cands = find_candidates(inst, pruning=Pruning(per_need=1.0, minimum=2))
    assert sorted(cands.volunteer.tolist()) == [0, 1, 2, 3, 4, 5]  # the nearest, equal ratings
    assert cands.n_eligible.tolist() == [30]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(-3, 3)), min_size=0, max_size=80),
    st.lists(st.integers(1, 6), min_size=6, max_size=6),
)
def test_top_per_task_keeps_exactly_each_tasks_best(
    pairs: list[tuple[int, int]], budget_list: list[int]
) -> None:
    # Few distinct utilities, so ties at a task's budget are frequent (the slow path) and
    # absent in other draws (the fast path); either way each task keeps exactly
    # min(budget, count) pairs and none worse than one it dropped.
    task = np.array([p[0] for p in pairs], np.int64)
    utility = np.array([float(p[1]) for p in pairs])
    budget = np.array(budget_list, np.int64)
    keep = top_per_task(task, utility, budget)
    for t in range(6):
        mine = np.flatnonzero(task == t)
        kept, dropped = mine[keep[mine]], mine[~keep[mine]]
        assert kept.size == min(budget[t], mine.size)
        if kept.size and dropped.size:
            assert utility[kept].min() >= utility[dropped].max()


def test_benchmark_instance_exact_beats_every_baseline_and_pruning_keeps_the_optimum() -> None:
    inst = instance_from(generate(2_000, 500, seed=3))
    exact = match(inst, FULL)
    engine = match(inst)
    full = find_candidates(inst, positive_only=False)
    no_violations(inst, exact.volunteer, exact.task)
    no_violations(inst, engine.volunteer, engine.task)
    assert engine.total_utility <= exact.total_utility + 1e-6
    assert engine.total_utility >= 0.995 * exact.total_utility
    for volunteer, task in (
        random_feasible(inst, full, seed=1),
        nearest_first(inst, full),
        best_utility_first(inst, full),
    ):
        no_violations(inst, volunteer, task)
        # The greedy methods leave value on the table on a realistic instance.
        assert evaluate(inst, volunteer, task).total_utility < exact.total_utility


def test_parallel_decomposition_matches_the_single_process_optimum() -> None:
    inst = instance_from(generate(6_000, 1_200, seed=5))
    comps = spatial_components(inst)
    assert comps.count >= 3
    full = find_candidates(inst, positive_only=False)
    # No eligible pair crosses two parts, so solving them apart is exact.
    assert np.array_equal(comps.volunteer[full.volunteer], comps.task[full.task])
    single = match(inst)
    parallel = match(inst, Options(workers=2, min_job_tasks=1))
    no_violations(inst, parallel.volunteer, parallel.task)
    assert parallel.total_utility == pytest.approx(single.total_utility, abs=1e-3)
    assert parallel.counts["jobs"] == comps.count
    assert parallel.worker_peak_rss_bytes > 0
    assert [u.task for u in parallel.unfilled] == [u.task for u in single.unfilled]


def one_volunteer_three_tasks(load: int) -> Instance:
    """Volunteer 0 (rating 4, cap 3) next to three tasks in three slots, each worth 18."""
    return Instance(
        volunteer_xy_km=np.array([[0.0, 0.0]]),
        volunteer_skills=np.array([0]),
        volunteer_slots=np.array([0b111]),
        volunteer_cap=np.array([3]),
        volunteer_rating=np.array([4.0]),
        volunteer_load=np.array([load]),
        task_xy_km=np.zeros((3, 2)),
        task_skills=np.array([0, 0, 0]),
        task_slot=np.array([0, 1, 2]),
        task_need=np.array([1, 1, 1]),
        task_urgency=np.array([1, 1, 1]),
        max_km=10.0,
    )


@pytest.mark.parametrize(
    ("weight", "load", "tasks", "objective"),
    [
        (0.0, 0, 3, 54.0),  # no fairness: all three
        (7.0, 0, 3, 54.0 - 0 - 7 - 14),  # k-th task costs 7 (k - 1): 0, 7, 14
        (7.0, 1, 2, 36.0 - 7 - 14),  # one task held already: the next cost 7 and 14
        (10.0, 1, 1, 18.0 - 10),  # second-of-week costs 10, third 20 > 18: one only
        (20.0, 1, 0, 0.0),  # even one more costs 20 > 18
    ],
)
def test_fairness_prices_each_further_task_exactly(
    weight: float, load: int, tasks: int, objective: float
) -> None:
    inst = one_volunteer_three_tasks(load)
    result = match(inst, Options(weights=Weights(fairness_weight=weight)))
    assert result.n_pairs == tasks
    assert result.objective == pytest.approx(objective)
    assert result.total_utility == pytest.approx(18.0 * tasks)


def test_fairness_spreads_work_to_a_second_volunteer() -> None:
    inst = Instance(
        volunteer_xy_km=np.zeros((2, 2)),
        volunteer_skills=np.array([0, 0]),
        volunteer_slots=np.array([0b11, 0b11]),
        volunteer_cap=np.array([2, 2]),
        volunteer_rating=np.array([5.0, 4.0]),  # volunteer 0 is worth 20 a task, volunteer 1 18
        task_xy_km=np.zeros((2, 2)),
        task_skills=np.array([0, 0]),
        task_slot=np.array([0, 1]),
        task_need=np.array([1, 1]),
        task_urgency=np.array([1, 1]),
        max_km=10.0,
    )
    assert match(inst).volunteer.tolist() == [0, 0]  # 40 beats 38
    fair = match(inst, Options(weights=Weights(fairness_weight=5.0)))
    assert sorted(fair.volunteer.tolist()) == [0, 1]  # 38 beats 40 - 5
    assert fair.objective == pytest.approx(38.0)
