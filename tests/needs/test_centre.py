"""Who records directly dispatched service: the organisation standing for the region's
civilisation-practice centre (NeedPolicy.record_organization), so that a need the centre sent
straight to a volunteer of no organisation becomes a record at once, and hours, points and
stars follow on the centre's confirmation — instead of waiting."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import translation

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.needs import selectors, services
from zhiyuan.needs.models import NeedAssignment, NeedPolicy, RecordStatus
from zhiyuan.organizations.models import Membership, OrganizationKind, OrganizationStatus

pytestmark = pytest.mark.django_db
START = "2026-03-02 09:00 +0800"
JSON = "application/json"


def serve(world, volunteer, minutes=45, **dispatch):
    with time_machine.travel(START, tick=False) as clock:
        need = world.need()
        services.need_dispatch(
            need=need, actor=world.dispatcher, **(dispatch or {"volunteers": [volunteer]})
        )
        services.need_accept(need=need, volunteer=volunteer)
        services.need_start(need=need, volunteer=volunteer)
        clock.shift(dt.timedelta(minutes=minutes))
        services.need_complete(need=need, volunteer=volunteer, note="买好送到了")
    return need, NeedAssignment.objects.get(need=need, volunteer=volunteer)


def test_a_direct_dispatch_to_a_volunteer_of_no_organisation_gives_hours_points_and_stars(
    world, centre
) -> None:
    from zhiyuan.ledger.services import earning_rules_publish
    from zhiyuan.records.models import RecordStatus as Status
    from zhiyuan.records.models import ServiceRecord
    from zhiyuan.records.selectors import hours_summary
    from zhiyuan.records.services import record_confirm

    admin = make_user(Role.REGION_ADMIN, region=world.district)
    earning_rules_publish(
        region=world.district,
        params={"coefficients": {}, "default_coefficient": 10},
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        actor=admin,
    )
    volunteer = world.volunteers[0]
    assert not Membership.objects.filter(user=volunteer).exists()
    _need, part = serve(world, volunteer, minutes=45)
    assert part.record_status == RecordStatus.CREATED and part.organization == centre.organization
    record = ServiceRecord.objects.get(pk=part.record_id)
    assert (record.organization, record.minutes, record.status) == (
        centre.organization,
        45,
        Status.PENDING,
    )
    assert hours_summary(volunteer).pending_minutes == 45
    # The centre's admin certifies it (谁组织谁记录); hours and points follow.
    record_confirm(record=record, actor=centre.admin)
    record.refresh_from_db()
    assert record.status == Status.CONFIRMED and record.points and record.points > 0
    assert hours_summary(volunteer).confirmed_minutes == 45
    # The dispatcher (not an organiser) and the volunteer themselves cannot certify it.
    other = serve(world, volunteer, minutes=30)[1]
    with pytest.raises(PermissionDenied):
        record_confirm(record=ServiceRecord.objects.get(pk=other.record_id), actor=world.dispatcher)


def test_the_centre_records_direct_offers_and_a_team_its_own(world, centre) -> None:
    member = world.volunteers[2]  # a member of world.team
    direct = serve(world, member)[1]
    assert direct.organization == centre.organization  # the centre organised it, not the team
    teamed = serve(world, member, organization=world.team)[1]
    assert teamed.organization == world.team


def test_without_a_centre_service_waits_and_naming_one_records_it(
    world, django_capture_on_commit_callbacks
) -> None:
    volunteer = world.volunteers[0]
    _need, part = serve(world, volunteer)
    assert part.record_status == RecordStatus.WAITING and part.record_id is None
    org = OrganizationFactory(region=world.district, name="东城区新时代文明实践中心")
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    with django_capture_on_commit_callbacks() as callbacks:
        services.need_record_organization_set(region=world.district, organization=org, actor=admin)
    assert callbacks  # the backfill task is enqueued once the choice is committed
    assert services.need_records_backfill() == 1
    part.refresh_from_db()
    assert part.record_status == RecordStatus.CREATED and part.organization == org
    assert AuditEvent.objects.filter(action="need.policy_saved").exists()


def test_a_suspended_centre_records_nothing(world, centre) -> None:
    centre.organization.status = OrganizationStatus.SUSPENDED
    centre.organization.save(update_fields=["status"])
    part = serve(world, world.volunteers[0])[1]
    assert part.record_status == RecordStatus.WAITING


def test_a_street_names_its_own_station_and_keeps_what_it_inherited(world, centre) -> None:
    street = world.community.parent
    NeedPolicy.objects.filter(region=world.district).update(teams_may_grab=True, low_rating=3)
    station = OrganizationFactory(region=street, name="某街道新时代文明实践所")
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    services.need_record_organization_set(region=street, organization=station, actor=admin)
    assert selectors.record_organization_of(world.community.code) == station
    assert selectors.record_organization_of(world.other_community.code) == centre.organization
    policy = selectors.need_policy_for(world.community.code)
    assert (policy.teams_may_grab, policy.low_rating) == (True, 3)


def test_refusals_when_naming_the_centre(world) -> None:
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    street_org = OrganizationFactory(region=world.community.parent)
    shop = OrganizationFactory(region=world.district, kind=OrganizationKind.MERCHANT)
    pending = OrganizationFactory(region=world.district, status=OrganizationStatus.PENDING)
    for org in (street_org, shop, pending):
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            services.need_record_organization_set(
                region=world.district, organization=org, actor=admin
            )
        assert "record_organization" in caught.value.message_dict
    with pytest.raises(PermissionDenied):
        services.need_record_organization_set(
            region=world.district, organization=None, actor=world.dispatcher
        )
    assert not NeedPolicy.objects.filter(record_organization__isnull=False).exists()


def test_the_settings_page_and_the_api(world) -> None:
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    org = OrganizationFactory(region=world.district, name="东城区新时代文明实践中心")
    page = Client()
    page.force_login(admin)
    url = f"/needs/settings/?region={world.district.code}"
    assert "东城区新时代文明实践中心" in page.get(url).content.decode()
    done = page.post(
        url, {"form": "centre", "region": world.district.code, "organization": org.pk}, follow=True
    )
    assert "东城区新时代文明实践中心" in done.content.decode()
    assert selectors.record_organization_of(world.community.code) == org
    api = Client(HTTP_ACCEPT_LANGUAGE="en")
    api.force_login(admin)
    got = api.get(f"/api/v1/needs/record-organization?region={world.community.code}").json()
    assert got["organization_id"] is None and got["in_force_id"] == org.pk
    cleared = api.put(
        "/api/v1/needs/record-organization",
        {"region": world.district.code, "organization": None},
        content_type=JSON,
    )
    assert cleared.status_code == 200 and cleared.json()["in_force_id"] is None
    street_org = OrganizationFactory(region=world.community.parent)
    bad = api.put(
        "/api/v1/needs/record-organization",
        {"region": world.district.code, "organization": street_org.pk},
        content_type=JSON,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    for outsider in (world.dispatcher, world.resident, world.team_admin):
        client = Client()
        client.force_login(outsider)
        assert (
            client.get(f"/api/v1/needs/record-organization?region={world.district.code}")
        ).status_code == 403
        assert (
            client.put(
                "/api/v1/needs/record-organization",
                {"region": world.district.code, "organization": org.pk},
                content_type=JSON,
            ).status_code
            == 403
        )
        assert client.post(url, {"form": "centre", "organization": org.pk}).status_code == 403
    assert selectors.record_organization_of(world.community.code) is None
