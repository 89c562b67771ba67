"""The objective every part of the engine agrees on.

The canonical utility of sending volunteer ``v`` to task ``t`` is::

    urgency[t] * (10 + 2 * rating[v]) - distance_km(v, t)

and an assignment is scored by the sum over its pairs. Urgent work done by well-rated people
close by is worth most; a long trip eats into the value. The benchmark, the checker and the
tests use exactly this formula so that anyone can recompute a reported total.

Two optional terms exist for dispatch (both off by default, and off in the benchmark):

* continuity of care: a bonus when the task's preferred volunteer (the one who served the same
  resident before) is the one sent;
* fairness: a volunteer's k-th task of the week costs ``fairness_weight * (k - 1)``, so work is
  spread instead of piling on the best-rated few. The cost rises with every task, which keeps
  the model a convex-cost flow and the solution exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Utilities are real numbers, min-cost-flow costs are integers: a pair's cost is
#: ``-round(utility * UTILITY_SCALE)``. At 10**6 the rounding moves a pair by at most 5e-7, so
#: the flow optimum is within ``assigned pairs * 1e-6`` of the real-valued optimum (well below
#: the third decimal of any reported ratio), and costs still fit int64 with room to spare.
UTILITY_SCALE = 1_000_000

#: Weekly time slots: 7 days x 3 parts of the day (morning, afternoon, evening).
NUM_SLOTS = 21

#: Skill and slot masks are 32-bit; skill ``k`` is bit ``k``.
MASK_BITS = 32


@dataclass(frozen=True, slots=True)
class Weights:
    """Optional terms on top of the canonical utility (all zero = the canonical objective).

    continuity_bonus: utility added when a task gets its preferred volunteer.
    fairness_weight: utility subtracted for each task a volunteer already holds this week
        (counting ``volunteer_load``), applied per task: the k-th task costs ``weight * (k - 1)``.
    """

    continuity_bonus: float = 0.0
    fairness_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("continuity_bonus", "fairness_weight"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")

    @property
    def canonical(self) -> bool:
        """True when no optional term is switched on."""
        return self.continuity_bonus == 0.0 and self.fairness_weight == 0.0


CANONICAL = Weights()


def distance_km(a_xy: NDArray[np.float64], b_xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean distance in projected kilometres, row by row (shapes (k, 2) and (k, 2))."""
    d = a_xy - b_xy
    # hypot rather than sqrt(dx*dx + dy*dy): it is the correctly rounded distance, so the
    # eligibility test ``distance <= max_km`` does not depend on how the terms were summed.
    return np.hypot(d[:, 0], d[:, 1])


def base_utility(
    urgency: NDArray[np.float64],
    rating: NDArray[np.float64],
    dist_km: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The canonical utility ``urgency * (10 + 2 * rating) - distance_km``, elementwise."""
    return urgency * (10.0 + 2.0 * rating) - dist_km
