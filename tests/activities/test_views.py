"""The activity pages and API: what a volunteer and an organiser see and do, and every page and
endpoint refusing outsiders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils.translation import override

from tests.activities.fixtures import PLACE, at, first_shift, new_volunteer
from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import token_create
from zhiyuan.activities import geo, services
from zhiyuan.activities.models import ServiceSession, Signup, SignupStatus
from zhiyuan.records.models import ServiceRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_activity, volunteer, organiser, community, district) -> dict[str, Any]:
    activity = make_activity(capacity=1)
    shift = first_shift(activity)
    signup = services.signup_create(shift=shift, volunteer=volunteer)
    other_org = OrganizationFactory(region=district, name="别的志愿队")
    return {
        "activity": activity,
        "shift": shift,
        "signup": signup,
        "volunteer": volunteer,
        "organiser": organiser,
        "stranger_admin": make_user(Role.ORG_ADMIN, organization=other_org),
        "resident": make_user(Role.RESIDENT, region=community),
        "draft": make_activity(publish=False, title="草稿活动"),
    }


def bearer(user: Any) -> dict[str, str]:
    _, key = token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


# --- pages ------------------------------------------------------------------------------------


def test_volunteer_finds_signs_up_and_sees_why_not(client: Client, world, community):
    newcomer = new_volunteer(community, home_lat=PLACE[0] + 0.01, home_lng=PLACE[1])
    client.force_login(newcomer)
    page = client.get("/activities/")
    assert world["activity"].title in page.content.decode()
    assert "1.11 km" in page.content.decode()
    detail = client.get(f"/activities/{world['activity'].pk}/")
    text = detail.content.decode()
    assert 'data-code="full"' in text
    response = client.post(f"/activities/shifts/{world['shift'].pk}/signup/", follow=True)
    assert response.status_code == 200
    signup = Signup.objects.get(volunteer=newcomer)
    assert signup.status == SignupStatus.WAITLISTED
    mine = client.get("/activities/mine/").content.decode()
    assert world["activity"].title in mine


def test_scan_page_checks_in_and_out(client: Client, world, frozen_clock):
    frozen_clock.move_to(at(4, 9, 0))
    client.force_login(world["volunteer"])
    code = services.checkin_code(world["shift"])
    page = client.get(f"/activities/scan/?c={code}")
    assert page.status_code == 200 and world["activity"].title in page.content.decode()
    client.post("/activities/scan/", {"code": code, "action": "in"})
    client.post("/activities/scan/", {"code": code, "action": "in"})  # a double tap
    assert ServiceSession.objects.filter(volunteer=world["volunteer"]).count() == 1
    frozen_clock.move_to(at(4, 11, 30))
    client.force_login(world["volunteer"])  # sessions end after 30 idle minutes
    code = services.checkin_code(world["shift"])
    client.post("/activities/scan/", {"code": code, "action": "out"})
    assert ServiceRecord.objects.get(volunteer=world["volunteer"]).minutes == 150


def test_an_expired_code_is_explained_and_the_code_kept(client: Client, world, frozen_clock):
    frozen_clock.move_to(at(4, 9, 0))
    client.force_login(world["volunteer"])
    code = services.checkin_code(world["shift"])
    frozen_clock.move_to(at(4, 9, 2))
    with override("en"):
        page = client.post(
            "/activities/scan/", {"code": code, "action": "in"}, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert page.status_code == 200
    assert code in page.content.decode()
    assert not ServiceSession.objects.exists()


def test_geofence_page(client: Client, world, frozen_clock):
    frozen_clock.move_to(at(4, 9, 0))
    client.force_login(world["volunteer"])
    url = f"/activities/shifts/{world['shift'].pk}/here/"
    assert client.get(url).status_code == 200
    g_lat, g_lng = geo.wgs84_to_gcj02(*PLACE)
    client.post(url, {"lat": g_lat, "lng": g_lng, "datum": "gcj02", "action": "in"})
    session = ServiceSession.objects.get(volunteer=world["volunteer"])
    assert session.checkin_method == "geofence"


def test_organiser_creates_publishes_and_runs_the_roster(
    client: Client, world, community, frozen_clock
):
    client.force_login(world["organiser"])
    response = client.post(
        "/activities/manage/new/",
        {
            "organization": world["activity"].organization_id,
            "title": "周末清洁",
            "activity_type": "general",
            "region": community.pk,
            "place_name": "社区广场",
            "lat": PLACE[0],
            "lng": PLACE[1],
            "datum": "wgs84",
            "checkin_radius_m": 150,
            "starts_at": "2026-03-07T09:00",
            "ends_at": "2026-03-07T11:00",
            "capacity": 8,
            "min_staff": 3,
            "recurrence": "once",
            "approval": "automatic",
        },
    )
    assert response.status_code == 302
    from zhiyuan.activities.models import Activity

    created = Activity.objects.get(title="周末清洁")
    assert created.status == "draft" and not created.insurance_required
    client.post(f"/activities/manage/{created.pk}/publish/")
    created.refresh_from_db()
    assert created.status == "published"
    roster = client.get(f"/activities/manage/shifts/{world['shift'].pk}/")
    assert roster.status_code == 200
    frozen_clock.move_to(at(4, 9, 0))
    client.force_login(world["organiser"])
    qr_page = client.get(f"/activities/manage/shifts/{world['shift'].pk}/qr/").content.decode()
    code = services.checkin_code(world["shift"])
    assert code in qr_page and "<svg" in qr_page and 'hx-trigger="every 5s"' in qr_page
    fragment = client.get(f"/activities/manage/shifts/{world['shift'].pk}/qr/code/")
    assert code in fragment.content.decode()
    client.post(f"/activities/manage/shifts/{world['shift'].pk}/mark/{world['volunteer'].pk}/in/")
    live = client.get(f"/activities/manage/shifts/{world['shift'].pk}/live/").content.decode()
    assert world["volunteer"].name in live


def test_invalid_activity_form_keeps_what_was_typed(client: Client, world):
    client.force_login(world["organiser"])
    page = client.post(
        "/activities/manage/new/",
        {"title": "还没写完的活动", "lat": "abc", "capacity": 0},
    )
    assert page.status_code == 200
    assert "还没写完的活动" in page.content.decode()


ORGANISER_PAGES = [
    "/activities/manage/{activity}/",
    "/activities/manage/shifts/{shift}/",
    "/activities/manage/shifts/{shift}/live/",
    "/activities/manage/shifts/{shift}/qr/",
    "/activities/manage/shifts/{shift}/qr/code/",
]
ORGANISER_POSTS = [
    "/activities/manage/{draft}/publish/",
    "/activities/manage/{activity}/cancel/",
    "/activities/manage/shifts/{shift}/mark/{volunteer}/in/",
    "/activities/manage/signups/{signup}/approve/",
]


def _fill(url: str, world: dict[str, Any]) -> str:
    return url.format(
        activity=world["activity"].pk,
        draft=world["draft"].pk,
        shift=world["shift"].pk,
        volunteer=world["volunteer"].pk,
        signup=world["signup"].pk,
    )


@pytest.mark.parametrize("url", ORGANISER_PAGES)
def test_organiser_pages_refuse_outsiders(client: Client, world, url):
    for outsider in (world["stranger_admin"], world["volunteer"]):
        client.force_login(outsider)
        assert client.get(_fill(url, world)).status_code == 403
    client.logout()
    assert client.get(_fill(url, world)).status_code == 302  # to the log-in page


@pytest.mark.parametrize("url", ORGANISER_POSTS)
def test_organiser_actions_refuse_outsiders(client: Client, world, url):
    client.force_login(world["stranger_admin"])
    assert client.post(_fill(url, world), {"reason": "x"}).status_code == 403
    world["draft"].refresh_from_db()
    assert world["draft"].status == "draft"


@pytest.mark.parametrize(
    "url",
    [
        "/activities/",
        "/activities/mine/",
        "/activities/scan/",
        "/activities/manage/",
        "/activities/manage/new/",
        "/activities/manage/projects/new/",
    ],
)
def test_role_pages_refuse_other_roles(client: Client, world, url):
    client.force_login(world["resident"])
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


def test_drafts_and_other_peoples_signups_do_not_leak(client: Client, world, community):
    other = new_volunteer(community)
    client.force_login(other)
    assert client.get(f"/activities/{world['draft'].pk}/").status_code == 404
    assert client.post(f"/activities/signups/{world['signup'].pk}/cancel/").status_code == 404
    assert client.post(f"/activities/signups/{world['signup'].pk}/offer/accept/").status_code == 404
    assert client.get(f"/activities/shifts/{world['shift'].pk}/here/").status_code == 404
    world["signup"].refresh_from_db()
    assert world["signup"].status == SignupStatus.CONFIRMED


# --- API --------------------------------------------------------------------------------------


def test_api_signup_refusal_lists_every_reason(client: Client, world, community):
    teen = new_volunteer(community, birth="20100301")
    world["activity"].min_age = 18
    world["activity"].save()
    response = client.post(
        f"/api/v1/activities/shifts/{world['shift'].pk}/signups",
        json.dumps({"waitlist": False}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(teen),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "signup_refused"
    assert [r["code"] for r in body["reasons"]] == ["age", "full"]


def test_api_checkin_is_idempotent_and_refusals_are_coded(client: Client, world, frozen_clock):
    headers = bearer(world["volunteer"])
    frozen_clock.move_to(at(4, 9, 0))
    code = services.checkin_code(world["shift"])
    statuses = [
        client.post(
            "/api/v1/activities/checkins",
            json.dumps({"code": code, "client_at": "2026-03-04T08:59:00+08:00"}),
            content_type="application/json",
            **headers,
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [201, 200, 200, 200, 200]
    forged = client.post(
        "/api/v1/activities/checkins",
        json.dumps({"code": code[:-4] + "AAAA"}),
        content_type="application/json",
        **headers,
    )
    assert forged.status_code == 422 and forged.json()["code"] == "forged"
    far = client.post(
        "/api/v1/activities/checkouts",
        json.dumps({"shift": world["shift"].pk, "lat": PLACE[0] + 0.05, "lng": PLACE[1]}),
        content_type="application/json",
        **headers,
    )
    assert far.status_code == 422 and far.json()["code"] == "too_far"
    frozen_clock.move_to(at(4, 11, 0))
    out = client.post(
        "/api/v1/activities/checkouts",
        json.dumps({"shift": world["shift"].pk, "lat": PLACE[0], "lng": PLACE[1]}),
        content_type="application/json",
        **headers,
    )
    assert out.status_code == 201 and out.json()["checkout_method"] == "geofence"


def test_api_browse_and_detail(client: Client, world):
    headers = bearer(world["volunteer"])
    found = client.get(f"/api/v1/activities?lat={PLACE[0]}&lng={PLACE[1]}&km=2", **headers)
    assert [a["id"] for a in found.json()] == [world["activity"].pk]
    assert found.json()[0]["distance_km"] == 0.0
    detail = client.get(f"/api/v1/activities/{world['activity'].pk}", **headers).json()
    assert detail["shifts"][0]["capacity"] == 1
    assert client.get(f"/api/v1/activities/{world['draft'].pk}", **headers).status_code == 404


def test_api_organiser_endpoints_refuse_outsiders(client: Client, world):
    for outsider in (world["stranger_admin"], world["volunteer"]):
        headers = bearer(outsider)
        shift = world["shift"].pk
        for url in (
            f"/api/v1/activities/shifts/{shift}/roster",
            f"/api/v1/activities/shifts/{shift}/code",
            f"/api/v1/activities/shifts/{shift}/live",
        ):
            assert client.get(url, **headers).status_code == 403, url
        for url in (
            f"/api/v1/activities/{world['draft'].pk}/publish",
            f"/api/v1/activities/shifts/{shift}/roster/{world['volunteer'].pk}/checkin",
            f"/api/v1/activities/signups/{world['signup'].pk}/approve",
        ):
            assert client.post(url, content_type="application/json", **headers).status_code in (
                403,
                404,
            ), url
        response = client.post(
            "/api/v1/activities",
            json.dumps(
                {
                    "organization": world["activity"].organization_id,
                    "title": "x",
                    "region": world["activity"].region_id,
                    "place_name": "x",
                    "lat": 39.9,
                    "lng": 116.4,
                    "shifts": [],
                }
            ),
            content_type="application/json",
            **headers,
        )
        assert response.status_code == 403


def test_api_volunteer_endpoints_refuse_non_volunteers(client: Client, world):
    headers = bearer(world["resident"])
    assert client.get("/api/v1/activities/signups/mine", **headers).status_code == 403
    assert (
        client.post(
            f"/api/v1/activities/shifts/{world['shift'].pk}/signups",
            json.dumps({}),
            content_type="application/json",
            **headers,
        ).status_code
        == 403
    )
    assert client.get("/api/v1/activities/signups/mine").status_code == 401


def test_api_organiser_sees_the_roster_and_code(client: Client, world, frozen_clock):
    headers = bearer(world["organiser"])
    roster = client.get(f"/api/v1/activities/shifts/{world['shift'].pk}/roster", **headers).json()
    assert [p["volunteer"] for p in roster["coming"]] == [world["volunteer"].pk]
    assert "*" in roster["coming"][0]["name"]
    code = client.get(f"/api/v1/activities/shifts/{world['shift'].pk}/code", **headers).json()
    assert code["code"] == services.checkin_code(world["shift"])
