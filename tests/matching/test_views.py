"""The matching pages and API: what a dispatcher and an organiser see, that outsiders are
refused on every page and endpoint, and that list pages read a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.activities.fixtures import first_shift, give_identity
from tests.matching.world import EVERY_SLOT, MWorld, at, slot
from zhiyuan.activities import services as activity_services
from zhiyuan.needs.models import AssignmentState, NeedAssignment
from zhiyuan.needs.states import NeedState

pytestmark = pytest.mark.django_db
JSON = "application/json"


def as_(user: Any, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        client.force_login(user)
    return client


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def scene(mworld: MWorld) -> dict[str, Any]:
    """Three volunteers near a need on Tuesday afternoon: one best, one further, one whose
    nursing qualification lapsed, one busy then."""
    people = {
        "best": mworld.volunteer("李明", 0.4, qualifications=[("nurse", dt.date(2026, 12, 31))]),
        "further": mworld.volunteer("周华", 2.5, qualifications=[("nurse", dt.date(2026, 12, 31))]),
        "lapsed": mworld.volunteer("吴芳", 0.1, qualifications=[("nurse", dt.date(2026, 2, 1))]),
        "busy": mworld.volunteer("郑强", 0.2, availability=EVERY_SLOT & ~slot(1, 1)),
    }
    need = mworld.need(qualifications=["nurse"], window_start=at(3, 14), window_end=at(3, 17))
    return {"need": need, **people}


def test_a_dispatcher_sees_a_needs_ranked_volunteers_with_reasons(
    mworld: MWorld, scene: dict[str, Any]
) -> None:
    need = scene["need"]
    page = text(as_(mworld.dispatcher).get(f"/matching/needs/{need.pk}/"))
    assert page.index("李明") < page.index("周华")  # best match first
    assert "0.4 km away (travels up to 5 km)" in page
    assert "Has what is asked for: Nurse" in page
    assert "Free on Tuesday afternoon" in page
    assert "No ratings yet (counted as 4.0)" in page
    assert "0 of 3 tasks this week" in page
    # Why the obvious ones, who live closer, are not suggested.
    cannot = page[page.index("Nearby, but cannot go") :]
    assert "吴芳" in cannot and "Qualification expired before the day: Nurse" in cannot
    assert "郑强" in cannot and "Not usually free on Tuesday afternoon" in cannot
    # In Chinese too (the default language).
    chinese = text(as_(mworld.dispatcher, "zh-hans").get(f"/matching/needs/{need.pk}/"))
    assert "公里" in chinese and "李明" in chinese


def test_the_ranking_page_reads_a_fixed_number_of_queries(
    mworld: MWorld, scene: dict[str, Any]
) -> None:
    client = as_(mworld.dispatcher)
    url = f"/matching/needs/{scene['need'].pk}/"
    client.get(url)  # warm caches (grants, sessions)
    with CaptureQueriesContext(connection) as few:
        text(client.get(url))
    for k in range(6):
        mworld.volunteer(f"加{k}", 0.3 * k, qualifications=[("nurse", dt.date(2026, 12, 31))])
    with CaptureQueriesContext(connection) as many:
        page = text(client.get(url))
    assert "加5" in page
    assert len(many) == len(few)


def test_one_click_fills_all_open_needs_of_a_community(
    mworld: MWorld, scene: dict[str, Any]
) -> None:
    errand = mworld.need(0.3, window_start=at(3, 15))
    client = as_(mworld.dispatcher)
    listing = text(client.get("/matching/fill/"))
    assert "Fill all open needs of 东城区1街道1社区" in listing
    assert f"/matching/needs/{errand.pk}/" in listing
    page = text(client.post("/matching/fill/", {"region": mworld.community.code}))
    result = page[page.index("Result for 东城区1街道1社区") :]
    assert "needs dispatched" in result
    # The nurse need went to 李明, the errand to someone free and near (not the same slot).
    for need in (scene["need"], errand):
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED
    nurse_offer = NeedAssignment.objects.get(need=scene["need"])
    assert (nurse_offer.volunteer_id, nurse_offer.state) == (
        scene["best"].pk,
        AssignmentState.OFFERED,
    )
    errand_offer = NeedAssignment.objects.get(need=errand)
    assert errand_offer.volunteer_id not in (scene["best"].pk, scene["busy"].pk)
    assert "Match value" in result


def test_fill_page_reports_a_need_left_short(mworld: MWorld) -> None:
    mworld.volunteer("李明", 0.4)
    short = mworld.need(skills=["sign-language"], window_start=at(3, 14))
    page = text(as_(mworld.dispatcher).post("/matching/fill/", {"region": mworld.community.code}))
    assert "Left short, and why" in page
    assert f"#{short.pk}" in page
    assert "No volunteer within reach has the skills or qualifications asked for." in page


def test_fill_page_explains_a_solve_too_big(mworld: MWorld) -> None:
    mworld.volunteer("李明", 0.4)
    for k in range(33):
        mworld.need(skills=[f"s{k}"], window_start=at(3, 14))
    response = as_(mworld.dispatcher).post("/matching/fill/", {"region": mworld.community.code})
    assert response.status_code == 422
    assert "33 different skills and qualifications" in response.content.decode()
    assert not NeedAssignment.objects.exists()


def test_the_api_ranks_and_fills(mworld: MWorld, scene: dict[str, Any]) -> None:
    client = as_(mworld.dispatcher)
    ranking = client.get(f"/api/v1/matching/needs/{scene['need'].pk}/ranking").json()
    assert [p["name"] for p in ranking["ranked"]] == ["李明", "周华"]
    assert ranking["ranked"][0]["eligible"] and 0 < ranking["ranked"][0]["score"] <= 1
    assert {p["name"]: p["codes"] for p in ranking["excluded"]} == {
        "吴芳": ["qualification_expired"],
        "郑强": ["missing_skill", "not_free"],
    }
    filled = client.post(f"/api/v1/matching/regions/{mworld.community.code}/fill")
    assert filled.status_code == 200, filled.content
    body = filled.json()
    assert body["offers"] == 1 and body["violations"] == 0
    assert body["dispatched"][0]["need"] == scene["need"].pk
    assert body["dispatched"][0]["volunteers"][0]["name"] == "李明"
    assert client.post("/api/v1/matching/regions/999999999999/fill").status_code == 404
    assert client.get("/api/v1/matching/needs/999999/ranking").status_code == 404


# --- outsiders ------------------------------------------------------------------------------


def test_outsiders_are_refused_the_ranking(mworld: MWorld, scene: dict[str, Any]) -> None:
    need = scene["need"]
    for outsider in (mworld.outsider_dispatcher, mworld.org_admin, mworld.resident, scene["best"]):
        assert as_(outsider).get(f"/matching/needs/{need.pk}/").status_code == 403
        api = as_(outsider).get(f"/api/v1/matching/needs/{need.pk}/ranking")
        assert api.status_code == 403 and api.json()["code"] == "forbidden"
    assert as_(None).get(f"/matching/needs/{need.pk}/").status_code == 302
    assert as_(None).get(f"/api/v1/matching/needs/{need.pk}/ranking").status_code == 401


def test_outsiders_cannot_fill(mworld: MWorld, scene: dict[str, Any]) -> None:
    code = mworld.community.code
    for outsider in (mworld.org_admin, mworld.resident, scene["best"]):
        assert as_(outsider).get("/matching/fill/").status_code == 403
    for outsider in (mworld.outsider_dispatcher, mworld.org_admin, mworld.resident):
        assert as_(outsider).post("/matching/fill/", {"region": code}).status_code == 403
        assert as_(outsider).post(f"/api/v1/matching/regions/{code}/fill").status_code == 403
    assert as_(None).post("/matching/fill/", {"region": code}).status_code == 302
    assert as_(None).post(f"/api/v1/matching/regions/{code}/fill").status_code == 401
    # The outsider dispatcher's own page lists only their district: nothing of ours.
    page = text(as_(mworld.outsider_dispatcher).get("/matching/fill/"))
    assert mworld.community.name not in page
    assert not NeedAssignment.objects.exists()
    scene["need"].refresh_from_db()
    assert scene["need"].state == NeedState.SUBMITTED


# --- staffing --------------------------------------------------------------------------------


@pytest.fixture
def shift(clock: Any, make_activity: Any) -> Any:
    activity = make_activity(
        capacity=4, shifts=[activity_services.ShiftSpec(at(4, 9), at(4, 12), 4, min_staff=3)]
    )
    return first_shift(activity)


def test_an_organiser_sees_whom_to_invite(mworld: MWorld, shift: Any, organiser: Any) -> None:
    near = mworld.volunteer("李明", 0.4)
    give_identity(near, "19900101", sequence=near.pk % 1000)
    client = as_(organiser)
    listing = text(client.get("/matching/staffing/"))
    assert f"/matching/shifts/{shift.pk}/" in listing and "0 of 3 places taken" in listing
    page = text(client.get(f"/matching/shifts/{shift.pk}/"))
    assert "李明" in page and "Free on Wednesday morning" in page
    body = client.get(f"/api/v1/matching/shifts/{shift.pk}/suggestions").json()
    assert body["missing"] == 3 and [p["name"] for p in body["suggestions"]] == ["李明"]


def test_outsiders_are_refused_staffing(mworld: MWorld, shift: Any) -> None:
    for outsider in (mworld.outsider_org_admin, mworld.dispatcher, mworld.resident):
        assert as_(outsider).get(f"/matching/shifts/{shift.pk}/").status_code == 403
        assert (
            as_(outsider).get(f"/api/v1/matching/shifts/{shift.pk}/suggestions").status_code == 403
        )
    for outsider in (mworld.dispatcher, mworld.resident):
        assert as_(outsider).get("/matching/staffing/").status_code == 403
    # Another organisation's admin sees only their own shifts.
    assert f"/matching/shifts/{shift.pk}/" not in text(
        as_(mworld.outsider_org_admin).get("/matching/staffing/")
    )
    assert as_(None).get(f"/matching/shifts/{shift.pk}/").status_code == 302
    assert as_(None).get(f"/api/v1/matching/shifts/{shift.pk}/suggestions").status_code == 401


def test_home_pages_link_to_matching(mworld: MWorld, organiser: Any) -> None:
    assert "/matching/fill/" in text(as_(mworld.dispatcher).get("/", follow=True))
    assert "/matching/staffing/" in text(as_(organiser).get("/", follow=True))
