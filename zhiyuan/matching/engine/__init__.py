"""The pure matching engine: numpy, SciPy and OR-Tools, never Django.

Start at :func:`match`; docs/matching.md describes the model, the objective and the benchmark.
"""

from .baselines import best_utility_first, nearest_first, random_feasible
from .check import VIOLATION_KINDS, Evaluation, check_assignment, evaluate
from .eligibility import Candidates, Pruning, find_candidates
from .explain import (
    Exclusion,
    PairExplanation,
    Unfilled,
    UnfilledReason,
    explain_assignment,
    explain_pair,
    slot_name,
)
from .instance import NPZ_FIELDS, Instance, InstanceError
from .match import MatchResult, match
from .objective import CANONICAL, NUM_SLOTS, UTILITY_SCALE, Weights
from .online import NewTask, OnlineIndex, Suggestion
from .pipeline import DEFAULT_PRUNING, Options

__all__ = [
    "CANONICAL",
    "DEFAULT_PRUNING",
    "NPZ_FIELDS",
    "NUM_SLOTS",
    "UTILITY_SCALE",
    "VIOLATION_KINDS",
    "Candidates",
    "Evaluation",
    "Exclusion",
    "Instance",
    "InstanceError",
    "MatchResult",
    "NewTask",
    "OnlineIndex",
    "Options",
    "PairExplanation",
    "Pruning",
    "Suggestion",
    "Unfilled",
    "UnfilledReason",
    "Weights",
    "best_utility_first",
    "check_assignment",
    "evaluate",
    "explain_assignment",
    "explain_pair",
    "find_candidates",
    "match",
    "nearest_first",
    "random_feasible",
    "slot_name",
]
