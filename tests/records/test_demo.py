"""The demo district's activities and records: on first log-in the demo volunteer has hours,
a star and a certificate, earned through the real record services and credited by the ledger."""

from __future__ import annotations

import pytest
from django.utils import timezone

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.activities.models import Activity, Shift, Signup, SignupStatus
from zhiyuan.demo.builder import DemoBuilder
from zhiyuan.ledger.models import Earning
from zhiyuan.records.models import (
    Certificate,
    CorrectionRequest,
    RecordRuleVersion,
    RecordStatus,
    ServiceRecord,
)
from zhiyuan.records.services import certificate_standing, star_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock() -> None:
    """The demo is built at the real time (the shared fixture freezes the clock: not here)."""


def test_demo_volunteer_has_hours_stars_and_a_certificate() -> None:
    DemoBuilder(seed=5, volunteers=400).build()
    volunteer = User.objects.get(phone_index=phone_index("13900000002"))
    organiser = User.objects.get(phone_index=phone_index("13900000003"))
    stars = star_status(volunteer)
    assert stars.hours >= 100 and stars.level >= 1
    assert [a.level for a in stars.awards] == list(range(1, stars.level + 1))
    confirmed = ServiceRecord.objects.filter(volunteer=volunteer, status=RecordStatus.CONFIRMED)
    assert confirmed.filter(confirmed_by=organiser).count() >= 30
    # The ledger really credited the confirmed records, once each.
    sources = set(
        Earning.objects.filter(volunteer=volunteer, source__startswith="record:").values_list(
            "source", flat=True
        )
    )
    assert len(sources) == confirmed.count()
    certificate = Certificate.objects.get(volunteer=volunteer)
    assert certificate_standing(certificate).stands
    assert CorrectionRequest.objects.filter(requested_by=volunteer).count() == 1
    # The organiser has records to confirm, one flagged record waits for a second confirmer.
    pending = ServiceRecord.objects.filter(status=RecordStatus.PENDING, activity__isnull=False)
    assert pending.exists()
    assert pending.filter(first_confirmed_by=organiser).exclude(flags=[]).exists()
    # Upcoming activities: open seats, and a full one with a waitlist.
    upcoming = Shift.objects.filter(
        starts_at__gt=timezone.now(), activity__status="published"
    ).select_related("activity")
    assert any(s.seats_left > 0 for s in upcoming)
    assert any(
        s.seats_left == 0 and s.signups.filter(status=SignupStatus.WAITLISTED).exists()
        for s in upcoming
    )
    assert Activity.objects.filter(emergency=True, status="published").exists()
    # The district's rules have a history; a revoked certificate says why it no longer stands.
    assert list(
        RecordRuleVersion.objects.order_by("version").values_list("version", flat=True)
    ) == [1, 2]
    revoked = Certificate.objects.get(revoked_at__isnull=False)
    assert not certificate_standing(revoked).stands and revoked.revoke_category == "replaced"
    assert Certificate.objects.filter(volunteer=revoked.volunteer, revoked_at__isnull=True).exists()
    # The organiser's pages beside the activities have something to show.
    assert Signup.objects.filter(team__isnull=False).exists()
    assert Signup.objects.filter(late_cancel=True).exists()
