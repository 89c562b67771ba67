"""Bad input: malformed arrays are refused by name; awkward but valid input is handled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zhiyuan.matching.engine import (
    NPZ_FIELDS,
    Instance,
    InstanceError,
    NewTask,
    OnlineIndex,
    Options,
    UnfilledReason,
    best_utility_first,
    evaluate,
    find_candidates,
    match,
    nearest_first,
    random_feasible,
)
from zhiyuan.matching.engine.decompose import spatial_components


def arrays(n: int = 3, m: int = 2) -> dict[str, Any]:
    """A valid little instance: everyone at the origin, free in slot 0, no skills needed."""
    return {
        "volunteer_xy_km": np.zeros((n, 2)),
        "volunteer_skills": np.zeros(n, np.uint32),
        "volunteer_slots": np.ones(n, np.uint32),
        "volunteer_cap": np.ones(n, np.int64),
        "volunteer_rating": np.full(n, 4.0),
        "task_xy_km": np.zeros((m, 2)),
        "task_skills": np.zeros(m, np.uint32),
        "task_slot": np.zeros(m, np.int64),
        "task_need": np.ones(m, np.int64),
        "task_urgency": np.ones(m, np.int64),
        "max_km": 10.0,
    }


def with_(**changes: Any) -> dict[str, Any]:
    a = arrays()
    a.update(changes)
    return a


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("volunteer_xy_km", np.array([[0.0, 0.0], [np.nan, 1.0], [0.0, 0.0]]), "non-finite"),
        ("task_xy_km", np.array([[0.0, np.inf], [0.0, 0.0]]), "non-finite"),
        ("volunteer_xy_km", np.zeros((3, 3)), "shape"),
        ("volunteer_xy_km", np.zeros(3), "shape"),
        ("volunteer_skills", np.zeros(4, np.uint32), "shape"),
        ("volunteer_skills", np.zeros(3, np.float64), "integers"),
        ("volunteer_skills", np.array([0, -1, 0]), ">= 0"),
        ("volunteer_skills", np.array([0, 2**32, 0], np.int64), "<="),
        ("volunteer_slots", np.array([0, 1 << 21, 0]), "<="),
        ("volunteer_cap", np.array([1, -1, 1]), ">= 0"),
        ("volunteer_cap", np.array([1.0, 1.0, 1.0]), "integers"),
        ("volunteer_rating", np.array([4.0, np.nan, 4.0]), "non-finite"),
        ("volunteer_rating", np.array(["a", "b", "c"]), "real numbers"),
        ("task_slot", np.array([0, 21]), "<= 20"),
        ("task_slot", np.array([0, -1]), ">= 0"),
        ("task_need", np.array([1, -2]), ">= 0"),
        ("task_urgency", np.array([1.0, -0.5]), ">= 0"),
        ("task_urgency", np.array([1.0, np.nan]), "non-finite"),
        ("max_km", float("nan"), "finite"),
        ("max_km", -1.0, "finite"),
        ("max_km", np.array([1.0, 2.0]), "one real number"),
        ("volunteer_load", np.array([0, -1, 0]), ">= 0"),
        ("volunteer_sanctioned", np.array([0, 2, 0]), "booleans"),
        ("volunteer_sanctioned", np.array([True, False]), "shape"),
        ("task_preferred_volunteer", np.array([-1, 3]), "<= 2"),
        ("task_preferred_volunteer", np.array([-2, 0]), ">= -1"),
    ],
)
def test_malformed_arrays_are_refused_naming_the_field(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(InstanceError) as caught:
        Instance(**with_(**{field: value}))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_empty_instance_solves_to_nothing_everywhere() -> None:
    for n, m in ((0, 0), (0, 2), (3, 0)):
        inst = Instance(**arrays(n, m))
        result = match(inst)
        assert result.n_pairs == 0
        assert result.total_utility == 0.0
        cands = find_candidates(inst, positive_only=False)
        for v, t in (
            random_feasible(inst, cands),
            nearest_first(inst, cands),
            best_utility_first(inst, cands),
        ):
            assert v.size == t.size == 0
        ev = evaluate(inst, result.volunteer, result.task)
        assert ev.n_violations == 0
        assert ev.filled_share == (1.0 if m == 0 else 0.0)
        offers = OnlineIndex(inst).top(NewTask(xy_km=(0.0, 0.0), slot=0))
        assert [s.volunteer for s in offers] == list(range(n))
        assert spatial_components(inst).volunteer.size == n
        # With nobody at all, every task is unfilled because nobody is within reach.
        assert [u.reason for u in result.unfilled] == [UnfilledReason.NOBODY_IN_REACH] * (
            m if n == 0 else 0
        )


def test_plain_lists_are_accepted_and_empty_ones_mean_no_rows() -> None:
    # The annotations ask for arrays; at run time anything numpy can read is validated.
    empty: dict[str, Any] = {name: [] for name in NPZ_FIELDS if name != "max_km"}
    inst = Instance(**empty, max_km=5)
    assert (inst.n_volunteers, inst.n_tasks) == (0, 0)
    assert inst.volunteer_xy_km.shape == (0, 2)
    lists: dict[str, Any] = {k: np.asarray(v).tolist() for k, v in arrays().items()}
    assert match(Instance(**lists)).n_pairs == 2


def test_cap_zero_and_no_free_slot_volunteers_are_never_sent() -> None:
    a = with_(
        volunteer_cap=np.array([0, 1, 1]),
        volunteer_slots=np.array([1, 0, 1], np.uint32),
        task_need=np.array([3, 0]),
    )
    inst = Instance(**a)
    result = match(inst)
    assert result.volunteer.tolist() == [2]
    assert result.task.tolist() == [0]
    [short] = result.unfilled
    assert short.task == 0
    assert (short.need, short.assigned) == (3, 1)
    assert short.reason is UnfilledReason.TOO_FEW_ELIGIBLE


def test_task_nobody_can_serve_is_reported_with_the_reason() -> None:
    a = with_(
        task_xy_km=np.array([[0.0, 0.0], [50.0, 0.0]]),  # the second task is 50 km away
        task_skills=np.array([1, 0], np.uint32),  # the first needs skill 0, nobody has it
        volunteer_expired_skills=np.array([0, 1, 0], np.uint32),  # one let it lapse
    )
    result = match(Instance(**a))
    reasons = {u.task: u.reason for u in result.unfilled}
    assert reasons == {
        0: UnfilledReason.QUALIFICATIONS_EXPIRED,
        1: UnfilledReason.NOBODY_IN_REACH,
    }
    funnel = {u.task: u.funnel for u in result.unfilled}
    assert funnel[0] == {"within_reach": 3, "qualified": 0}
    assert funnel[1] == {"within_reach": 0}
    assert all(u.text.startswith("1 of 1 still needed: ") for u in result.unfilled)


def test_npz_round_trip_keeps_every_field(tmp_path: Path) -> None:
    a = with_(
        volunteer_load=np.array([0, 1, 0]),
        volunteer_sanctioned=np.array([False, False, True]),
        task_preferred_volunteer=np.array([1, -1]),
    )
    inst = Instance(**a)
    inst.save_npz(tmp_path / "full.npz")
    back = Instance.load_npz(tmp_path / "full.npz")
    for name, value in inst.arrays().items():
        assert np.array_equal(value, back.arrays()[name]), name

    inst.save_npz(tmp_path / "canonical.npz", canonical_only=True)
    with np.load(tmp_path / "canonical.npz") as data:
        assert sorted(data.files) == sorted(NPZ_FIELDS)
        assert data["task_urgency"].dtype == np.int64
        assert data["volunteer_skills"].dtype == np.uint32


def test_load_npz_names_a_missing_array(tmp_path: Path) -> None:
    a = arrays()
    del a["task_need"]
    np.savez(tmp_path / "broken.npz", **a)
    with pytest.raises(InstanceError, match=r"^task_need: missing"):
        Instance.load_npz(tmp_path / "broken.npz")


def test_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="workers"):
        Options(workers=0)
    with pytest.raises(ValueError, match="slot"):
        NewTask(xy_km=(0.0, 0.0), slot=21)


def test_with_load_counts_held_tasks_against_the_cap() -> None:
    inst = Instance(**with_(task_need=np.array([2, 1]), task_slot=np.array([0, 0])))
    assert match(inst).n_pairs == 3
    busy = inst.with_load(np.array([1, 0, 0]))  # volunteer 0 already has his one task
    result = match(busy)
    assert result.n_pairs == 2
    assert 0 not in result.volunteer.tolist()
    with pytest.raises(InstanceError, match="volunteer_load"):
        inst.with_load(np.array([1, 0]))
