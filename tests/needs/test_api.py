"""The needs API: the loop for app clients, its 409s and 422s, and outsiders refused."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.utils import translation

from tests.needs.helpers import snapshot
from zhiyuan.needs import services
from zhiyuan.needs.states import NeedState

pytestmark = pytest.mark.django_db
JSON = "application/json"


def as_(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def test_the_loop_through_the_api(world) -> None:
    member = world.volunteers[2]
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        cats = (
            as_(world.resident)
            .get(f"/api/v1/needs/categories?community={world.community.code}")
            .json()
        )
        item = next(
            i for group in cats for i in group["items"] if i["code"] == "daily_living.shopping"
        )
        posted = as_(world.resident).post(
            "/api/v1/needs",
            {
                "community": world.community.code,
                "category": item["id"],
                "description": "买菜",
                "address": "东城区东四北大街107号1号楼",
            },
            content_type=JSON,
        )
        assert posted.status_code == 201, posted.content
        need = posted.json()
        assert need["state"] == "submitted" and need["next_step"]
        assert (
            need["address"] == "东城区东四北…" and not need["contact_visible"]
        )  # the poster sees it masked
        nid = need["id"]
        dispatcher = as_(world.dispatcher)
        queue = dispatcher.get("/api/v1/needs/queue").json()
        assert [n["id"] for n in queue["items"]] == [nid]
        assert (
            queue["items"][0]["contact_visible"]
            and queue["items"][0]["phone"] == world.resident.phone
        )
        ranked = dispatcher.get(f"/api/v1/needs/{nid}/candidates").json()
        assert ranked[0]["reasons"]
        assert dispatcher.post(f"/api/v1/needs/{nid}/review").json()["state"] == "under_review"
        sent = dispatcher.post(
            f"/api/v1/needs/{nid}/dispatch", {"organization": world.team.pk}, content_type=JSON
        )
        assert sent.status_code == 200 and sent.json()["state"] == "dispatched"
        volunteer = as_(member)
        offers = volunteer.get("/api/v1/needs/offers").json()
        assert [n["id"] for n in offers] == [nid] and not offers[0]["contact_visible"]
        assert offers[0]["address"] == "" and offers[0]["phone"] == ""  # hidden until accepted
        assert offers[0]["lat"] == round(39.925, 2) or offers[0]["lat"] is None
        accepted = volunteer.post(f"/api/v1/needs/{nid}/accept").json()
        assert (
            accepted["state"] == "accepted" and accepted["address"] == "东城区东四北大街107号1号楼"
        )
        assert (
            volunteer.post(
                f"/api/v1/needs/{nid}/start", {"lat": 39.9, "lng": 116.4}, content_type=JSON
            ).status_code
            == 200
        )
        clock.shift(25 * 60)  # within the session's idle limit
        done = volunteer.post(
            f"/api/v1/needs/{nid}/complete", {"note": "买好了"}, content_type=JSON
        ).json()
        assert done["state"] == "completed" and not done["contact_visible"]
        rated = as_(world.resident).post(
            f"/api/v1/needs/{nid}/rate", {"score": 5, "tags": ["kind"]}, content_type=JSON
        )
        assert rated.json()["state"] == "rated" and rated.json()["rating"] == 5
        again = as_(world.resident).post(
            f"/api/v1/needs/{nid}/rate", {"score": 1}, content_type=JSON
        )
        assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
        board = dispatcher.get("/api/v1/needs/dashboard?days=7").json()
        assert board["total"] == 1 and board["satisfaction"] == 1.0


def test_illegal_transitions_are_409_with_a_message_and_change_nothing(world) -> None:
    need = world.need()
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]])
    stranger = as_(world.volunteers[1])
    # Not offered to this volunteer: they cannot see it at all.
    assert stranger.post(f"/api/v1/needs/{need.pk}/accept").status_code == 404
    services.need_cancel(need=need, actor=world.resident)
    before = snapshot()
    response = as_(world.volunteers[0]).post(f"/api/v1/needs/{need.pk}/accept")
    assert response.status_code == 409
    assert response.json() == {
        "code": "illegal_transition",
        "message": "This need is cancelled: acceptance is not possible now.",
    }
    assert snapshot() == before


def test_a_volunteer_of_the_team_offered_elsewhere_gets_409_not_offered(world) -> None:
    need = world.need()
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=world.volunteers[:2])
    services.need_decline(need=need, volunteer=world.volunteers[1], reason="没空")
    response = as_(world.volunteers[1]).post(f"/api/v1/needs/{need.pk}/accept")
    assert response.status_code == 409 and response.json()["code"] == "not_offered"


def test_posting_without_a_way_to_reach_is_422_naming_it(world) -> None:
    response = as_(world.resident).post(
        "/api/v1/needs",
        {
            "community": world.community.code,
            "category": world.category.pk,
            "description": "x",
            "use_my_phone": False,
        },
        content_type=JSON,
    )
    assert response.status_code == 422
    assert "no way to reach the person" in response.json()["message"]


def test_an_unverified_team_is_refused_with_its_reason(world) -> None:
    from tests.factories import OrganizationFactory
    from zhiyuan.core.models import AuditEvent
    from zhiyuan.organizations.models import OrganizationStatus

    pending = OrganizationFactory(
        region=world.district, status=OrganizationStatus.PENDING, name="未认证队"
    )
    need = world.need()
    with translation.override("en"):
        response = as_(world.dispatcher).post(
            f"/api/v1/needs/{need.pk}/dispatch", {"organization": pending.pk}, content_type=JSON
        )
    assert response.status_code == 403 and response.json()["code"] == "organization_unverified"
    assert AuditEvent.objects.filter(action="organization.refused").exists()


def need_endpoints(nid: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/api/v1/needs/{nid}", {}),
        ("get", f"/api/v1/needs/{nid}/candidates", {}),
        ("post", f"/api/v1/needs/{nid}/review", {}),
        ("post", f"/api/v1/needs/{nid}/reject", {"reason": "x"}),
        ("post", f"/api/v1/needs/{nid}/dispatch", {"volunteers": []}),
        ("post", f"/api/v1/needs/{nid}/grab", {"organization": 1}),
        ("post", f"/api/v1/needs/{nid}/accept", {}),
        ("post", f"/api/v1/needs/{nid}/decline", {"reason": "x"}),
        ("post", f"/api/v1/needs/{nid}/withdraw", {"reason": "x"}),
        ("post", f"/api/v1/needs/{nid}/return", {"reason": "x"}),
        ("post", f"/api/v1/needs/{nid}/start", {}),
        ("post", f"/api/v1/needs/{nid}/complete", {"note": "x"}),
        ("post", f"/api/v1/needs/{nid}/rate", {"score": 5}),
        ("post", f"/api/v1/needs/{nid}/cancel", {"reason": "x"}),
    ]


ROLE_ENDPOINTS = [
    ("get", "/api/v1/needs/queue", {}),
    ("get", "/api/v1/needs/offers", {}),
    ("get", "/api/v1/needs/dashboard", {}),
    ("post", "/api/v1/needs/batch", {"needs": []}),
    ("get", "/api/v1/needs/follow-ups", {}),
]


def test_outsiders_are_refused_by_every_endpoint(world) -> None:
    need = world.need()
    before = snapshot()
    outsider = as_(world.outsider)
    for method, url, body in need_endpoints(need.pk):
        response = (
            getattr(outsider, method)(url, body, content_type=JSON)
            if method == "post"
            else outsider.get(url)
        )
        assert response.status_code == 404, url  # a need they may not see does not exist for them
    for method, url, body in ROLE_ENDPOINTS:
        response = (
            getattr(outsider, method)(url, body, content_type=JSON)
            if method == "post"
            else outsider.get(url)
        )
        assert response.status_code == 403, url
    rating_close = outsider.post(
        "/api/v1/needs/follow-ups/1/close", {"note": "x"}, content_type=JSON
    )
    assert rating_close.status_code == 404
    anonymous = Client()
    for method, url, body in need_endpoints(need.pk) + ROLE_ENDPOINTS:
        response = (
            getattr(anonymous, method)(url, body, content_type=JSON)
            if method == "post"
            else anonymous.get(url)
        )
        assert response.status_code == 401, url
    assert anonymous.post("/api/v1/needs", {}, content_type=JSON).status_code == 401
    assert snapshot() == before


def test_a_party_without_the_role_is_refused_403(world) -> None:
    need = world.need()
    resident = as_(world.resident)  # the poster: may see the need, may not dispatch it
    assert resident.get(f"/api/v1/needs/{need.pk}/candidates").status_code == 403
    response = resident.post(
        f"/api/v1/needs/{need.pk}/dispatch",
        {"volunteers": [world.volunteers[0].pk]},
        content_type=JSON,
    )
    assert response.status_code == 403
    response = resident.post(f"/api/v1/needs/{need.pk}/accept")
    assert response.status_code == 403
    assert NeedState(type(need).objects.get(pk=need.pk).state) == NeedState.SUBMITTED


def test_batch_dispatch_through_the_api(world) -> None:
    needs = [world.need(), world.need()]
    response = as_(world.dispatcher).post(
        "/api/v1/needs/batch", {"needs": [n.pk for n in needs]}, content_type=JSON
    )
    assert response.status_code == 200
    rows = response.json()
    assert all(r["dispatched_to"] for r in rows) and all(not r["problem"] for r in rows)
