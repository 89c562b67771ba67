"""Explanations: every reason a pair is in or out, and every reason a task stays short."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zhiyuan.matching.engine import (
    Exclusion,
    Instance,
    UnfilledReason,
    Weights,
    explain_assignment,
    explain_pair,
    match,
    slot_name,
)


def one_task(**volunteer: Any) -> Instance:
    """One volunteer and one task at (0, 0) needing skill 0 in slot 4 (Tuesday afternoon)."""
    fields: dict[str, Any] = {
        "xy": [0.0, 0.0],
        "skills": 0b11,
        "slots": 1 << 4,
        "cap": 2,
        "rating": 4.5,
        "load": 0,
        "sanctioned": False,
        "expired": 0,
    }
    fields.update(volunteer)
    return Instance(
        volunteer_xy_km=np.array([fields["xy"]]),
        volunteer_skills=np.array([fields["skills"]]),
        volunteer_slots=np.array([fields["slots"]]),
        volunteer_cap=np.array([fields["cap"]]),
        volunteer_rating=np.array([fields["rating"]]),
        volunteer_load=np.array([fields["load"]]),
        volunteer_sanctioned=np.array([fields["sanctioned"]]),
        volunteer_expired_skills=np.array([fields["expired"]]),
        task_xy_km=np.array([[0.0, 0.0]]),
        task_skills=np.array([0b01]),
        task_slot=np.array([4]),
        task_need=np.array([1]),
        task_urgency=np.array([2]),
        max_km=10.0,
        task_preferred_volunteer=np.array([0]),
    )


def test_eligible_pair_explains_its_utility() -> None:
    inst = one_task(xy=[3.0, 4.0])
    e = explain_pair(inst, 0, 0, Weights(continuity_bonus=5.0))
    assert e.eligible
    assert e.distance_km == 5.0
    assert e.skills_required == (0,)
    assert e.skills_matched == (0,)
    assert e.free_in_slot
    assert e.value == 2 * (10 + 2 * 4.5)
    assert e.utility == e.value - 5.0 + 5.0
    assert e.preferred
    text = e.reasons()
    assert text[0] == "5.0 km away (limit 10 km)"
    assert "free on Tuesday afternoon" in text
    assert "0 of 2 tasks this week" in text
    assert any("continuity" in line for line in text)


@pytest.mark.parametrize(
    ("volunteer", "expected"),
    [
        ({"skills": 0b10}, [Exclusion.MISSING_SKILL]),
        ({"skills": 0b10, "expired": 0b01}, [Exclusion.QUALIFICATION_EXPIRED]),
        ({"slots": 1 << 5}, [Exclusion.NOT_FREE_IN_SLOT]),
        ({"xy": [6.0, 8.0001]}, [Exclusion.TOO_FAR]),
        ({"cap": 0}, [Exclusion.CAP_ZERO]),
        ({"cap": 2, "load": 2}, [Exclusion.AT_CAP]),
        ({"sanctioned": True}, [Exclusion.SANCTIONED]),
        (
            {"skills": 0, "slots": 0, "xy": [20.0, 0.0], "sanctioned": True},
            [
                Exclusion.MISSING_SKILL,
                Exclusion.NOT_FREE_IN_SLOT,
                Exclusion.TOO_FAR,
                Exclusion.SANCTIONED,
            ],
        ),
    ],
)
def test_every_exclusion_is_named(volunteer: dict[str, Any], expected: list[Exclusion]) -> None:
    inst = one_task(**volunteer)
    e = explain_pair(inst, 0, 0)
    assert list(e.exclusions) == expected
    assert not e.eligible
    assert len(e.reasons()) == len(expected)
    # The engine agrees: an excluded volunteer is not sent.
    assert match(inst).n_pairs == 0


def test_exactly_at_the_limit_is_eligible() -> None:
    inst = one_task(xy=[6.0, 8.0])  # 10 km, the limit itself
    assert explain_pair(inst, 0, 0).eligible
    assert match(inst).n_pairs == 1


def test_explain_assignment_covers_every_assigned_pair() -> None:
    inst = one_task()
    result = match(inst)
    [e] = explain_assignment(inst, result.volunteer, result.task)
    assert (e.volunteer, e.task, e.eligible) == (0, 0, True)
    assert e.utility == pytest.approx(result.utility[0])


def test_slot_names() -> None:
    assert slot_name(0) == "Monday morning"
    assert slot_name(20) == "Sunday evening"


def test_unfilled_reasons_cover_every_case() -> None:
    # Volunteers 0-3 live at the origin with skill 0, free in slot 0, cap 1. Each task below is
    # short for a different reason.
    n = 4
    inst = Instance(
        volunteer_xy_km=np.zeros((n, 2)),
        volunteer_skills=np.full(n, 0b001, np.uint32),
        volunteer_slots=np.full(n, 0b1, np.uint32),
        volunteer_cap=np.array([1, 1, 1, 1]),
        volunteer_rating=np.full(n, 3.0),
        volunteer_load=np.array([0, 0, 0, 1]),  # volunteer 3 is already at his cap
        volunteer_sanctioned=np.array([False, False, True, False]),  # volunteer 2 is barred
        task_xy_km=np.array(
            [[0, 0], [0, 0], [0, 0], [0, 0], [60, 0], [0, 0], [0, 18]], dtype=float
        ),
        task_skills=np.array([0, 0, 0b010, 0b001, 0, 0, 0], np.uint32),
        task_slot=np.array([0, 0, 0, 1, 0, 0, 0]),
        task_need=np.array([1, 3, 1, 1, 1, 0, 1]),
        task_urgency=np.array([3, 1, 3, 3, 3, 3, 1]),
        max_km=20.0,
    )
    result = match(inst)
    # Two able volunteers (0 and 1) and one slot: one goes to urgent task 0, the other to
    # task 1, which needed three and could have had both.
    reasons = {u.task: u.reason for u in result.unfilled}
    assert reasons[1] is UnfilledReason.NEEDED_ELSEWHERE
    assert reasons[2] is UnfilledReason.NOBODY_QUALIFIED
    assert reasons[3] is UnfilledReason.NOBODY_FREE_IN_SLOT
    assert reasons[4] is UnfilledReason.NOBODY_IN_REACH
    assert 5 not in reasons  # needs nobody
    assert reasons[6] is UnfilledReason.NOT_WORTH_THE_TRIP  # 16 - 18 km < 0
    assert result.assigned_per_task[0] == 1


def test_needed_elsewhere_and_room_and_sanction_reasons() -> None:
    # One volunteer, two tasks in different slots, cap 1: the urgent task gets him.
    base: dict[str, Any] = {
        "volunteer_xy_km": [[0.0, 0.0]],
        "volunteer_skills": [0],
        "volunteer_slots": [0b11],
        "volunteer_cap": [1],
        "volunteer_rating": [4.0],
        "task_xy_km": [[0.0, 0.0], [1.0, 0.0]],
        "task_skills": [0, 0],
        "task_slot": [0, 1],
        "task_need": [1, 1],
        "task_urgency": [3, 1],
        "max_km": 5.0,
    }
    result = match(Instance(**base))
    assert result.task.tolist() == [0]
    assert [(u.task, u.reason) for u in result.unfilled] == [(1, UnfilledReason.NEEDED_ELSEWHERE)]
    at_cap = match(Instance(**{**base, "volunteer_load": [1]}))
    assert {u.reason for u in at_cap.unfilled} == {UnfilledReason.NOBODY_WITH_ROOM}
    barred = match(Instance(**{**base, "volunteer_sanctioned": [True]}))
    assert {u.reason for u in barred.unfilled} == {UnfilledReason.ALL_SANCTIONED}
