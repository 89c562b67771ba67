"""Fixtures of the matching integration tests (tests/matching/world.py) and the activities
fixtures the staffing tests use. None is autouse: the engine's pure tests stay free of the
database and of the frozen clock."""

from tests.activities.fixtures import (  # noqa: F401
    community,
    make_activity,
    org,
    organiser,
    policy,
)
from tests.matching.world import clock, mworld  # noqa: F401
