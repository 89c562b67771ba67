"""The ``world`` fixture of the records tests (imported by conftest)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.activities.fixtures import at, first_shift, new_volunteer
from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services as activities
from zhiyuan.records import services
from zhiyuan.records.models import ServiceRecord


@pytest.fixture
def world(
    make_activity: Any,
    volunteer: Any,
    organiser: Any,
    community: Any,
    district: Any,
    frozen_clock: Any,
) -> dict[str, Any]:
    """A confirmed record with a certificate, a pending manual record, a correction request,
    and outsiders."""
    shift = first_shift(make_activity())
    activities.signup_create(shift=shift, volunteer=volunteer)
    frozen_clock.move_to(at(4, 9, 0))
    activities.checkin_scan(volunteer=volunteer, code=activities.checkin_code(shift))
    frozen_clock.move_to(at(4, 11, 0))
    activities.checkout_scan(volunteer=volunteer, code=activities.checkin_code(shift))
    confirmed = services.record_confirm(
        record=ServiceRecord.objects.get(volunteer=volunteer), actor=organiser
    )
    # A second, pending record of another volunteer.
    other = new_volunteer(community)
    pending = services.record_manual_create(
        activity=shift.activity,
        shift=shift,
        volunteer=other,
        started_at=at(4, 9),
        ended_at=at(4, 10),
        content="补录",
        actor=organiser,
    )
    correction = services.correction_request(
        record=confirmed,
        actor=volunteer,
        reason="少记了半小时",
        started_at=at(4, 8, 30),
        ended_at=at(4, 11, 0),
    )
    certificate = services.certificate_issue(
        volunteer=volunteer,
        organization=shift.activity.organization,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 3, 31),
        actor=volunteer,
    )
    other_org = OrganizationFactory(region=district, name="别的志愿队")
    return {
        "shift": shift,
        "volunteer": volunteer,
        "organiser": organiser,
        "record": confirmed,
        "pending": pending,
        "correction": correction,
        "certificate": certificate,
        "stranger_admin": make_user(Role.ORG_ADMIN, organization=other_org),
        "resident": make_user(Role.RESIDENT, region=community),
        "other_volunteer": other,
    }
