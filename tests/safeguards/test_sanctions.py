"""Sanctions: who may impose them, what they stop, the status they give, their end."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import override

from tests.factories import OrganizationFactory, make_user, make_volunteer
from tests.organizations.helpers import org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.organizations.models import OrganizationStatus
from zhiyuan.organizations.selectors import organization_can_operate
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import SanctionKind
from zhiyuan.safeguards.selectors import (
    sanction_active,
    sanction_list_public,
    volunteer_can_serve,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(district):
    return make_user(Role.REGION_ADMIN, region=district)


def suspend(org, admin, days=10, **kw):
    return services.sanction_impose(
        party=org,
        kind=SanctionKind.SUSPENSION,
        reason="向服务对象收费",
        ends_at=timezone.now() + timedelta(days=days),
        actor=admin,
        **kw,
    )


def test_a_suspension_sets_the_status_and_is_active_until_its_end(district, admin) -> None:
    org = OrganizationFactory(region=district)
    sanction = suspend(org, admin)
    org.refresh_from_db()
    assert org.status == OrganizationStatus.SUSPENDED
    assert sanction_active(org) == sanction
    assert sanction_active(org, sanction.ends_at) is None
    assert sanction_active(org, sanction.ends_at - timedelta(seconds=1)) == sanction


def test_a_warning_is_on_record_but_stops_nothing(district, admin) -> None:
    org = OrganizationFactory(region=district)
    services.sanction_impose(party=org, kind=SanctionKind.WARNING, reason="记录不规范", actor=admin)
    org.refresh_from_db()
    assert org.status == OrganizationStatus.VERIFIED
    assert sanction_active(org) is None
    assert organization_can_operate(org) is None
    assert [s.kind for s in sanction_list_public()] == ["warning"]


def test_lifting_reinstates_and_keeps_the_row(district, admin) -> None:
    org = OrganizationFactory(region=district)
    sanction = suspend(org, admin)
    services.sanction_lift(sanction=sanction, reason="已整改", actor=admin)
    org.refresh_from_db()
    sanction.refresh_from_db()
    assert org.status == OrganizationStatus.VERIFIED
    assert sanction.lifted_at is not None and sanction.lift_reason == "已整改"
    assert organization_can_operate(org) is None
    with pytest.raises(ValidationError):
        services.sanction_lift(sanction=sanction, reason="again", actor=admin)


def test_lifting_one_of_two_suspensions_keeps_the_other(district, admin) -> None:
    org = OrganizationFactory(region=district)
    first = suspend(org, admin, days=5)
    suspend(org, admin, days=20)
    services.sanction_lift(sanction=first, reason="x", actor=admin)
    org.refresh_from_db()
    assert org.status == OrganizationStatus.SUSPENDED


def test_deregistration_is_permanent(district, admin) -> None:
    org = OrganizationFactory(region=district)
    sanction = services.sanction_impose(
        party=org,
        kind=SanctionKind.DEREGISTRATION,
        reason="以志愿服务名义营利",
        ends_at=timezone.now() + timedelta(days=1),  # ignored: deregistration has no end
        actor=admin,
    )
    org.refresh_from_db()
    assert sanction.ends_at is None and org.status == OrganizationStatus.DEREGISTERED
    with override("en"):
        assert organization_can_operate(org).message.startswith(f"{org.name} has been deregistered")


def test_kinds_fit_the_party_and_a_suspension_names_its_end(district, admin) -> None:
    org = OrganizationFactory(region=district)
    volunteer = make_volunteer(district).user
    with pytest.raises(ValidationError):
        services.sanction_impose(party=org, kind=SanctionKind.BAN, reason="x", actor=admin)
    with pytest.raises(ValidationError):
        services.sanction_impose(
            party=volunteer, kind=SanctionKind.DEREGISTRATION, reason="x", actor=admin
        )
    with pytest.raises(ValidationError) as caught:
        services.sanction_impose(party=org, kind=SanctionKind.SUSPENSION, reason="x", actor=admin)
    assert "ends_at" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.sanction_impose(party=org, kind=SanctionKind.WARNING, reason=" ", actor=admin)


def test_volunteer_sanctions_stop_service_with_a_clear_message(district, admin) -> None:
    volunteer = make_volunteer(district).user
    with time_machine.travel("2026-05-01 10:00 +0800", tick=False):
        sanction = services.sanction_impose(
            party=volunteer,
            kind=SanctionKind.SUSPENSION,
            reason="多次爽约",
            ends_at=timezone.now() + timedelta(days=14),
            actor=admin,
        )
        with override("en"):
            refusal = volunteer_can_serve(volunteer)
    assert refusal.code == "suspended"
    assert refusal.message == (
        f"Your volunteer service is suspended until 2026-05-15 10:00 "
        f"(sanction no. {sanction.pk}: 多次爽约)."
    )
    with time_machine.travel("2026-05-15 10:00 +0800", tick=False):
        assert volunteer_can_serve(volunteer) is None


def test_only_region_admins_of_the_area_sanction(district, other_district) -> None:
    org, org_admin = org_with_admin(district)
    outsider = make_user(Role.REGION_ADMIN, region=other_district)
    for actor in (org_admin, outsider):
        with pytest.raises(PermissionDenied) as caught:
            services.sanction_impose(party=org, kind=SanctionKind.WARNING, reason="x", actor=actor)
        record_refusal(caught.value)
    assert (
        AuditEvent.objects.filter(action="access.denied", object_type="sanction.impose").count()
        == 2
    )


def test_every_sanction_is_audited(district, admin) -> None:
    org = OrganizationFactory(region=district)
    sanction = suspend(org, admin)
    services.sanction_lift(sanction=sanction, reason="x", actor=admin)
    assert list(
        AuditEvent.objects.filter(object_type="safeguards.sanction").values_list(
            "action", flat=True
        )
    ) == ["sanction.imposed", "sanction.lifted"]


def test_sync_brings_statuses_in_line_with_time(district, admin) -> None:
    org = OrganizationFactory(region=district)
    with time_machine.travel("2026-06-01 09:00 +0800", tick=False):
        services.sanction_impose(
            party=org,
            kind=SanctionKind.SUSPENSION,
            reason="x",
            starts_at=timezone.now() + timedelta(days=1),
            ends_at=timezone.now() + timedelta(days=3),
            actor=admin,
        )
        org.refresh_from_db()
        assert org.status == OrganizationStatus.VERIFIED  # not started yet
        assert organization_can_operate(org) is None
    with time_machine.travel("2026-06-02 09:00 +0800", tick=False):
        assert organization_can_operate(org).code == "suspended"
        assert services.sanction_sync_statuses() == 1
        org.refresh_from_db()
        assert org.status == OrganizationStatus.SUSPENDED
    with time_machine.travel("2026-06-04 09:00 +0800", tick=False):
        assert services.sanction_sync_statuses() == 1
        org.refresh_from_db()
        assert org.status == OrganizationStatus.VERIFIED
        assert services.sanction_sync_statuses() == 0
    reinstated = AuditEvent.objects.filter(action="organization.reinstated").get()
    assert reinstated.actor is None


def test_public_list_shows_current_sanctions_against_organisations_only(district, admin) -> None:
    org = OrganizationFactory(region=district, name="公开的队")
    volunteer = make_volunteer(district).user
    suspend(org, admin)
    services.sanction_impose(party=volunteer, kind=SanctionKind.BAN, reason="x", actor=admin)
    ended = OrganizationFactory(region=district)
    lifted = suspend(ended, admin)
    services.sanction_lift(sanction=lifted, reason="x", actor=admin)
    assert [s.organization.name for s in sanction_list_public()] == ["公开的队"]
