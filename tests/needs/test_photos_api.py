"""Photos of the service through the API: a multipart upload with the page's checks, stored
privately, listed and downloaded only by the people who may see the need."""

from __future__ import annotations

import base64

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from zhiyuan.needs import services
from zhiyuan.needs.models import NeedPhoto

pytestmark = pytest.mark.django_db
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def as_(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def png(name: str = "p.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, "image/png")


def serving(world, **kw):
    volunteer = world.volunteers[0]
    need = world.need(photos_allowed=True, **kw)
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
    services.need_accept(need=need, volunteer=volunteer)
    services.need_start(need=need, volunteer=volunteer)
    return need, volunteer


def test_upload_with_the_completion_note_and_who_sees_them(world) -> None:
    with time_machine.travel("2026-03-02 09:00 +0800", tick=False) as clock:
        need, volunteer = serving(world)
        client = as_(volunteer)
        url = f"/api/v1/needs/{need.pk}/photos"
        sent = client.post(url, {"photos": [png(), png("q.png")]})
        assert sent.status_code == 201, sent.content
        assert [p["content_type"] for p in sent.json()] == ["image/png", "image/png"]
        clock.shift(20 * 60)
        done = client.post(
            f"/api/v1/needs/{need.pk}/complete", {"note": "修好了"}, content_type="application/json"
        )
        assert done.json()["state"] == "completed"
        # After finishing, until the resident rates, the volunteer may still add one.
        assert client.post(url, {"photos": [png()]}).status_code == 201
    stored = list(NeedPhoto.objects.order_by("pk"))
    assert len(stored) == 3 and all(p.file.name.startswith("needs/photos/") for p in stored)
    assert all("p.png" not in p.file.name for p in stored)  # a random name, never the client's
    listed = as_(world.resident).get(url).json()
    assert [p["id"] for p in listed] == [p.pk for p in stored]
    download = as_(world.resident).get(listed[0]["url"])
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == PNG
    assert as_(world.dispatcher).get(listed[0]["url"]).status_code == 200
    for outsider in (world.outsider, world.volunteers[1], world.team_admin):
        client = as_(outsider)
        assert client.get(url).status_code == 404
        assert client.get(listed[0]["url"]).status_code == 404
        assert client.post(url, {"photos": [png()]}).status_code == 404
    assert Client().get(url).status_code == 401
    services.need_rate(need=need, actor=world.resident, score=5)
    late = as_(volunteer).post(url, {"photos": [png()]})
    assert late.status_code == 409 and late.json()["code"] == "illegal_transition"
    assert NeedPhoto.objects.count() == 3


def test_the_page_checks_apply_and_a_refusal_stores_nothing(world) -> None:
    need, volunteer = serving(world)
    client = as_(volunteer)
    url = f"/api/v1/needs/{need.pk}/photos"
    fake = SimpleUploadedFile("x.png", b"<script>alert(1)</script>", "image/png")
    bad = client.post(url, {"photos": [png(), fake]})
    assert bad.status_code == 422 and "JPEG" in bad.json()["message"]
    big = SimpleUploadedFile("big.png", PNG + b"\0" * (5 * 1024 * 1024), "image/png")
    too_big = client.post(url, {"photos": [big]})
    assert too_big.status_code == 422 and "5 MB" in too_big.json()["message"]
    too_many = client.post(url, {"photos": [png(f"{i}.png") for i in range(7)]})
    assert too_many.status_code == 422 and "6" in too_many.json()["message"]
    assert not NeedPhoto.objects.exists()
    assert client.post(url, {"photos": [png(f"{i}.png") for i in range(6)]}).status_code == 201
    full = client.post(url, {"photos": [png()]})
    assert full.status_code == 422 and NeedPhoto.objects.count() == 6


def test_no_photos_where_the_resident_did_not_allow_them(world) -> None:
    volunteer = world.volunteers[0]
    need = world.need()
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
    services.need_accept(need=need, volunteer=volunteer)
    client = as_(volunteer)
    url = f"/api/v1/needs/{need.pk}/photos"
    early = client.post(url, {"photos": [png()]})
    assert early.status_code == 409 and early.json()["code"] == "illegal_transition"
    services.need_start(need=need, volunteer=volunteer)
    refused = client.post(url, {"photos": [png()]})
    assert refused.status_code == 422 and "did not allow" in refused.json()["message"]
    assert not NeedPhoto.objects.exists()
