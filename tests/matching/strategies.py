"""Hypothesis strategies for small matching instances that exercise every rule.

Coordinates sit on a half-kilometre grid so distances of exactly ``max_km`` occur (3-4-5
triangles); skills and slots use three bits so volunteers clash on slots and miss skills; urgency
may be 0 so some eligible pairs are worth nothing; caps of 0 and current loads appear.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from zhiyuan.matching.engine import Instance


@st.composite
def instances(
    draw: st.DrawFn,
    *,
    max_volunteers: int = 6,
    max_tasks: int = 4,
    max_need: int = 3,
    optional_fields: bool = True,
) -> Instance:
    # Hypothesis favours the first choice of every sampled_from (and shrinks towards it), so
    # the first choice is always the one that makes pairs eligible. Sizes lean to the maximum:
    # the interesting cases have many competing pairs. Empty and tiny instances still come up
    # (and tests/matching/test_instance.py covers them too).
    n = draw(st.sampled_from([0, 1, *range(2, max_volunteers + 1), *[max_volunteers] * 3]))
    m = draw(st.sampled_from([0, 1, *range(2, max_tasks + 1), *[max_tasks] * 3]))
    max_km = draw(st.sampled_from([2.5, 5.0, 10.0, 10.0]))
    coord = st.integers(0, 12).map(lambda k: k / 2)  # 0 .. 6 km in steps of 0.5

    def xy(k: int) -> np.ndarray:
        points = draw(st.lists(st.tuples(coord, coord), min_size=k, max_size=k))
        return np.array(points, dtype=float).reshape(k, 2)

    def pick(k: int, choices: list[int]) -> np.ndarray:
        values = draw(st.lists(st.sampled_from(choices), min_size=k, max_size=k))
        return np.array(values, dtype=np.int64)

    kwargs: dict[str, Any] = {
        "volunteer_xy_km": xy(n),
        "volunteer_skills": pick(n, [7, 0, 1, 3, 5, 7]).astype(np.uint32),
        # Slots 0-2 only, often several: volunteers clash on slots and caps both bind.
        "volunteer_slots": pick(n, [7, 1, 2, 3, 5, 6, 7, 0]).astype(np.uint32),
        "volunteer_cap": pick(n, [1, 2, 1, 2, 3, 0]),
        "volunteer_rating": np.array(
            draw(st.lists(st.sampled_from([3.0, 3.5, 4.2, 5.0]), min_size=n, max_size=n))
        ),
        "task_xy_km": xy(m),
        "task_skills": pick(m, [0, 0, 1, 2, 4, 3]).astype(np.uint32),
        "task_slot": pick(m, [0, 1, 2]),
        "task_need": pick(m, [*range(1, max_need + 1), 0]),
        "task_urgency": pick(m, [3, 1, 2, 3, 0]),
        "max_km": max_km,
    }
    ints = pick
    if optional_fields and draw(st.booleans()):
        kwargs["volunteer_load"] = ints(n, [0, 0, 1, 2])
        kwargs["volunteer_sanctioned"] = np.array(
            draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool
        )
        kwargs["task_preferred_volunteer"] = ints(m, list(range(-1, n)))
    return Instance(**kwargs)
