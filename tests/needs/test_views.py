"""The needs pages: what each person sees and can do, errors that keep what was typed, and
every page refusing an outsider."""

from __future__ import annotations

import base64
import re

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.needs import services
from zhiyuan.needs.models import NeedPhoto, NeedPolicy
from zhiyuan.needs.states import NeedState

pytestmark = pytest.mark.django_db
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ADDRESS = "东城区东四北大街107号2单元301"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def as_(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(response) -> str:
    return response.content.decode()


def test_posting_keeps_what_was_typed_and_says_what_is_missing(world) -> None:
    resident = as_(world.resident)
    form = page(resident.get("/needs/new/"))
    assert "代购代办" in form and 'name="community" value="110101001001"' in form
    data = {
        "category": world.category.pk,
        "description": "请帮我买米和油",
        "urgency": "routine",
        "community": world.community.code,
        "address": "",
        "people_needed": 1,
        # no account number, no other number, no address: no way to reach
    }
    response = resident.post("/needs/new/", data)
    text = page(response)
    assert response.status_code == 200
    assert "请帮我买米和油" in text and "无法联系到" in text
    response = resident.post(
        "/needs/new/", {**data, "address": ADDRESS, "use_my_phone": "on"}, follow=True
    )
    text = page(response)
    assert "您的需求已发布" in text and "服务中心将审核您的需求" in text


def test_the_resident_sees_where_it_stands_with_details_masked(world) -> None:
    need = world.need(address=ADDRESS)
    text = page(as_(world.resident).get(f"/needs/{need.pk}/"))
    assert "已提交" in text and "接下来服务中心会审核您的需求" in text
    assert ADDRESS not in text and "东城区东四北…" in text
    assert world.resident.phone not in text


def test_a_volunteer_sees_the_address_only_once_accepted_and_not_after_completion(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        need = world.need(address=ADDRESS)
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        client = as_(volunteer)
        offer = page(client.get(f"/needs/{need.pk}/"))
        assert ADDRESS not in offer and "接单后显示准确位置" in offer
        client.post(f"/needs/{need.pk}/act/accept/")
        accepted = page(client.get(f"/needs/{need.pk}/"))
        assert ADDRESS in accepted and f'href="tel:{world.resident.phone}"' in accepted
        client.post(f"/needs/{need.pk}/act/start/", {"lat": "39.92", "lng": "116.41"})
        clock.shift(20 * 60)
        client.post(f"/needs/{need.pk}/act/complete/", {"note": "米和油已送到"})
        done = page(client.get(f"/needs/{need.pk}/"))
        assert ADDRESS not in done and "已完成" in done


def test_an_illegal_step_on_a_page_is_a_409_with_the_reason(world) -> None:
    need = world.need()
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]])
    services.need_cancel(need=need, actor=world.resident)
    response = as_(world.volunteers[0]).post(f"/needs/{need.pk}/act/accept/")
    assert response.status_code == 409 and 'role="alert"' in page(response)


def test_declining_without_a_reason_keeps_the_page(world) -> None:
    need = world.need()
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]])
    response = as_(world.volunteers[0]).post(f"/needs/{need.pk}/act/decline/", {"reason": ""})
    assert response.status_code == 422
    need.refresh_from_db()
    assert need.state == NeedState.DISPATCHED


def test_the_dispatcher_ranks_finds_and_dispatches(world) -> None:
    need = world.need()
    dispatcher = as_(world.dispatcher)
    text = page(dispatcher.get(f"/needs/{need.pk}/dispatch/"))
    assert "志愿者0" in text and "公里" in text  # reasons in words
    found = page(dispatcher.get(f"/needs/{need.pk}/dispatch/?q=志愿者1"))
    assert "找到的志愿者" in found
    response = dispatcher.post(
        f"/needs/{need.pk}/dispatch/",
        {"target": "volunteers", "volunteers": [world.volunteers[1].pk]},
    )
    assert response.status_code == 302
    need.refresh_from_db()
    assert need.state == NeedState.DISPATCHED
    assert need.assignments.get(volunteer=world.volunteers[1]).score is not None


def test_the_queue_shows_overdue_and_reads_a_fixed_number_of_queries(world) -> None:
    dispatcher = as_(world.dispatcher)
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        for _ in range(2):
            world.need()
        clock.shift(25 * 3600)
        world.need(urgency="urgent")
        dispatcher.force_login(world.dispatcher)
        with CaptureQueriesContext(connection) as few:
            text = page(dispatcher.get("/needs/queue/"))
        assert "审核已超时" in text
        for _ in range(8):
            world.need()
        with CaptureQueriesContext(connection) as many:
            dispatcher.get("/needs/queue/")
        assert len(many) == len(few)
        overdue = page(dispatcher.get("/needs/queue/?state=active&overdue=on"))
        assert overdue.count('name="needs"') == 2


def test_batch_dispatch_from_the_queue(world) -> None:
    needs = [world.need(), world.need()]
    response = as_(world.dispatcher).post(
        "/needs/queue/batch/", {"needs": [n.pk for n in needs]}, follow=True
    )
    assert "2 个需求中的 2 个已派单" in page(response)
    for need in needs:
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED


def test_photos_where_allowed_checked_and_served_to_the_parties(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        need = world.need(photos_allowed=True)
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        client = as_(volunteer)
        client.post(f"/needs/{need.pk}/act/accept/")
        client.post(f"/needs/{need.pk}/act/start/")
        clock.shift(15 * 60)
        bad = client.post(
            f"/needs/{need.pk}/act/complete/",
            {
                "note": "好了",
                "photos": [SimpleUploadedFile("x.png", b"<script>alert(1)</script>", "image/png")],
            },
        )
        assert bad.status_code == 422 and not NeedPhoto.objects.exists()
        ok = client.post(
            f"/needs/{need.pk}/act/complete/",
            {"note": "好了", "photos": [SimpleUploadedFile("p.png", PNG, "image/png")]},
        )
        assert ok.status_code == 302
    photo = NeedPhoto.objects.get()
    url = f"/needs/{need.pk}/photos/{photo.pk}/"
    download = as_(world.resident).get(url)
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment")
    assert as_(world.outsider).get(url).status_code == 404


def test_rating_page_and_dashboard_with_charts(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        need = world.need()
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        services.need_accept(need=need, volunteer=volunteer)
        services.need_start(need=need, volunteer=volunteer)
        clock.shift(20 * 60)
        services.need_complete(need=need, volunteer=volunteer, note="好了")
        resident = as_(world.resident)
        assert "确认并评价" in page(resident.get(f"/needs/{need.pk}/"))
        response = resident.post(
            f"/needs/{need.pk}/rate/", {"score": "2", "tags": ["late"], "comment": "晚了"}
        )
        assert response.status_code == 302
        # Rated: the form does not open again; the need's page says it was rated.
        again = resident.get(f"/needs/{need.pk}/rate/", follow=True)
        assert again.redirect_chain[-1][0] == f"/needs/{need.pk}/"
        assert "您已评价过这次服务" in page(again)
        board = page(as_(world.dispatcher).get("/needs/dashboard/?period=7"))
        assert board.count("<svg") == 4
        assert not re.search(r"<script(?![^>]*\bsrc=)", board)  # no inline script (CSP)
        assert not re.search(r"\son[a-z]+=", board)
        followups = page(as_(world.dispatcher).get("/needs/follow-ups/"))
        assert "待回访的低分评价" in followups and "晚了" in followups


def test_a_region_admin_sets_the_rules(world) -> None:
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    client = as_(admin)
    assert client.get("/needs/settings/").status_code == 200
    data = {
        "form": "policy",
        "region": world.district.code,
        "teams_may_grab": "on",
        "low_rating": "3",
    }
    for urgency in ("routine", "urgent", "emergency"):
        data.update({f"{urgency}_review": 60, f"{urgency}_accept": 30, f"{urgency}_start": 120})
    assert client.post("/needs/settings/", data).status_code == 302
    policy = NeedPolicy.objects.get(region=world.district)
    assert policy.teams_may_grab and policy.low_rating == 3
    added = client.post(
        "/needs/settings/",
        {
            "form": "category",
            "region": world.district.code,
            "name_zh": "理发",
            "name_en": "Haircuts",
        },
    )
    assert added.status_code == 302


def test_role_homes_show_the_way_in(world) -> None:
    assert "发布需求" in page(as_(world.resident).get("/home/resident/"))
    assert "需求队列" in page(as_(world.dispatcher).get("/home/dispatcher/"))
    assert "我的派单与任务" in page(as_(world.volunteers[0]).get("/home/volunteer/"))


def test_every_page_refuses_an_outsider(world) -> None:
    need = world.need()
    outsider = as_(world.outsider)  # a resident of another street
    for url in [
        f"/needs/{need.pk}/",
        f"/needs/{need.pk}/dispatch/",
        f"/needs/{need.pk}/rate/",
        f"/needs/{need.pk}/photos/1/",
    ]:
        assert outsider.get(url).status_code == 404, url
    for action in (
        "review",
        "reject",
        "return",
        "cancel",
        "accept",
        "decline",
        "withdraw",
        "start",
        "complete",
        "grab",
    ):
        assert (
            outsider.post(f"/needs/{need.pk}/act/{action}/", {"reason": "x"}).status_code == 404
        ), action
    for url in [
        "/needs/queue/",
        "/needs/follow-ups/",
        "/needs/dashboard/",
        "/needs/offers/",
        "/needs/team/",
        "/needs/settings/",
    ]:
        assert outsider.get(url).status_code == 403, url
    assert outsider.post("/needs/queue/batch/", {"needs": [need.pk]}).status_code == 403
    assert outsider.post("/needs/follow-ups/1/close/", {"note": "x"}).status_code == 404
    assert outsider.post("/needs/settings/categories/1/retire/").status_code == 404
    volunteer_only = as_(world.volunteers[0])
    assert volunteer_only.get("/needs/new/").status_code == 403
    assert world.resident.pk not in [
        n for n in page(outsider.get("/needs/")).split() if n.isdigit()
    ]
    assert f"#{need.pk}" not in page(outsider.get("/needs/"))
    anonymous = Client()
    for url in [
        "/needs/",
        "/needs/new/",
        f"/needs/{need.pk}/",
        "/needs/queue/",
        "/needs/dashboard/",
    ]:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    need.refresh_from_db()
    assert need.state == NeedState.SUBMITTED


def test_the_poster_cannot_dispatch_or_see_candidates(world) -> None:
    need = world.need()
    resident = as_(world.resident)
    assert resident.get(f"/needs/{need.pk}/dispatch/").status_code == 403
    dispatcher = as_(world.dispatcher)
    assert dispatcher.get(f"/needs/{need.pk}/rate/").status_code == 403
