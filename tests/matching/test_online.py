"""Online mode: the top-20 list equals a brute-force ranking over every volunteer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.matching import generate, instance_from
from zhiyuan.matching.engine import Instance, NewTask, OnlineIndex, Weights


def brute_force_top(
    inst: Instance, task: NewTask, load: np.ndarray, k: int, bonus: float = 0.0
) -> list[tuple[int, float]]:
    """Rank every volunteer by the rule, without any index."""
    d = np.hypot(
        inst.volunteer_xy_km[:, 0] - task.xy_km[0], inst.volunteer_xy_km[:, 1] - task.xy_km[1]
    )
    ok = (
        ((np.uint32(task.skills) & ~inst.volunteer_skills) == 0)
        & (((inst.volunteer_slots >> np.uint32(task.slot)) & 1) == 1)
        & (d <= inst.max_km)
        & (load < inst.volunteer_cap)
        & ~inst.sanctioned
    )
    u = task.urgency * (10 + 2 * inst.volunteer_rating) - d
    u = u + bonus * (np.arange(inst.n_volunteers) == task.preferred_volunteer)
    ids = np.flatnonzero(ok & (u > 0))
    ranked = sorted(ids.tolist(), key=lambda v: (-u[v], d[v], v))[:k]
    return [(v, float(u[v])) for v in ranked]


@pytest.fixture(scope="module")
def region() -> Instance:
    arrays = generate(4_000, 400, seed=11)
    sanctioned = np.zeros(4_000, bool)
    sanctioned[::17] = True
    fields: dict[str, Any] = {**instance_from(arrays).arrays(), "volunteer_sanctioned": sanctioned}
    return Instance(**fields)


def new_tasks(inst: Instance, count: int, seed: int) -> list[NewTask]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        near = inst.task_xy_km[rng.integers(inst.n_tasks)] + rng.uniform(-2, 2, 2)
        out.append(
            NewTask(
                xy_km=(float(near[0]), float(near[1])),
                slot=int(rng.integers(21)),
                skills=int(inst.task_skills[rng.integers(inst.n_tasks)]),
                urgency=float(rng.integers(1, 4)),
                preferred_volunteer=int(rng.integers(inst.n_volunteers)),
            )
        )
    return out


def test_top_20_equals_brute_force_ranking(region: Instance) -> None:
    index = OnlineIndex(region)
    lengths = []
    for task in new_tasks(region, 60, seed=1):
        got = [(s.volunteer, s.utility) for s in index.top(task, 20)]
        expected = brute_force_top(region, task, region.load, 20)
        assert [v for v, _ in got] == [v for v, _ in expected]
        assert [u for _, u in got] == pytest.approx([u for _, u in expected])
        lengths.append(len(got))
    assert max(lengths) == 20  # the comparison covered full lists, not only short ones


def test_suggestions_carry_their_explanations(region: Instance) -> None:
    index = OnlineIndex(region)
    task = new_tasks(region, 1, seed=2)[0]
    suggestions = index.top(task, 20)
    assert [s.rank for s in suggestions] == list(range(1, len(suggestions) + 1))
    for s in suggestions:
        e = s.explanation
        assert e.eligible
        assert e.volunteer == s.volunteer
        assert e.utility == pytest.approx(s.utility)
        assert e.reasons()[0].endswith(f"(limit {region.max_km:g} km)")


def test_recorded_assignments_count_against_the_cap(region: Instance) -> None:
    index = OnlineIndex(region)
    task = new_tasks(region, 1, seed=3)[0]
    first = index.top(task, 20)[0].volunteer
    free_slots = [s for s in range(21) if int(region.volunteer_slots[first]) >> s & 1]
    for slot in free_slots[: int(region.volunteer_cap[first])]:
        index.record_assignment(first, slot)
    assert first not in [s.volunteer for s in index.top(task, 20)]
    load = region.load.copy()
    load[first] = region.volunteer_cap[first]
    assert [s.volunteer for s in index.top(task, 20)] == [
        v for v, _ in brute_force_top(region, task, load, 20)
    ]


def test_continuity_bonus_lifts_the_preferred_volunteer(region: Instance) -> None:
    task = new_tasks(region, 1, seed=4)[0]
    plain = OnlineIndex(region).top(task, 20)
    preferred = plain[-1].volunteer
    task = NewTask(
        xy_km=task.xy_km,
        slot=task.slot,
        skills=task.skills,
        urgency=task.urgency,
        preferred_volunteer=preferred,
    )
    lifted = OnlineIndex(region, Weights(continuity_bonus=100.0)).top(task, 20)
    assert lifted[0].volunteer == preferred
    assert lifted[0].explanation.preferred


def test_excluded_nearby_are_the_nearest_ineligible_with_reasons(region: Instance) -> None:
    index = OnlineIndex(region)
    task = new_tasks(region, 1, seed=5)[0]
    excluded = index.excluded_nearby(task, k=5)
    assert len(excluded) == 5
    assert all(not e.eligible and e.reasons() for e in excluded)
    distances = [e.distance_km for e in excluded]
    assert distances == sorted(distances)
    eligible = {s.volunteer for s in index.top(task, 10_000)}
    assert not eligible & {e.volunteer for e in excluded}


def test_a_volunteer_busy_in_a_slot_is_not_offered_that_slot_again(region: Instance) -> None:
    index = OnlineIndex(region)
    task = new_tasks(region, 1, seed=5)[0]
    suggestions = index.top(task, 20)
    first = next(s.volunteer for s in suggestions if region.volunteer_cap[s.volunteer] > 1)
    index.record_assignment(first, task.slot)
    assert first not in [s.volunteer for s in index.top(task, 20)]
    other = next(
        s for s in range(21) if s != task.slot and int(region.volunteer_slots[first]) >> s & 1
    )
    elsewhere = NewTask(xy_km=task.xy_km, slot=other, skills=task.skills, urgency=task.urgency)
    assert index.busy[first] == 1 << task.slot
    # Another slot is unaffected (the cap leaves room): the answer is the fresh index's.
    fresh = first in [s.volunteer for s in OnlineIndex(region).top(elsewhere, 500)]
    assert (first in [s.volunteer for s in index.top(elsewhere, 500)]) == fresh
