"""Fixtures shared by the activities and records tests (see tests/activities/fixtures.py), and
``world`` (tests/records/world.py)."""

from tests.activities.fixtures import (  # noqa: F401
    community,
    earning_rules,
    frozen_clock,
    make_activity,
    org,
    organiser,
    policy,
    region_admin,
    volunteer,
)
from tests.records.world import world  # noqa: F401
