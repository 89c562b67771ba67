"""The quick lane (zhiyuan/core/quick_lane.py) answers an app's check-in and sign-up before URL
resolving and ninja: the same status, body and headers as the token lane's full chain, the
same refusals (it steps aside), and nothing done twice. Through the site's WSGI handler, as
gunicorn serves it. The quick statements act on PostgreSQL only, so the answers are compared
there; what decides which requests take the lane is checked on both databases."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.test import override_settings
from django.urls import resolve

from tests.activities.fixtures import at, first_shift, new_volunteer
from tests.core.test_token_lane import Headers, call
from zhiyuan.accounts.services import token_create
from zhiyuan.activities import api, services
from zhiyuan.activities.models import ServiceSession, Signup, SignupStatus
from zhiyuan.core import quick_lane
from zhiyuan.core.handlers import SiteHandler, token_lane_middleware

pytestmark = pytest.mark.django_db
CHECKINS = "/api/v1/activities/checkins"


def signups(shift: Any) -> str:
    return f"/api/v1/activities/shifts/{shift.pk}/signups"


class Lanes:
    """Which lane answered each request while the quick lane was on: the quick one, or the
    chain (after the quick lane stepped aside)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answered: list[str] = []
        self.service_calls = 0
        original_answer = quick_lane.QuickLane.answer

        def answer(lane: Any, request: Any) -> Any:
            quick = original_answer(lane, request)
            if settings.ZHIYUAN_QUICK_LANE:
                self.answered.append("quick" if quick is not None else "chain")
            return quick

        monkeypatch.setattr(quick_lane.QuickLane, "answer", answer)
        for name in ("checkin_scan_by_token", "signup_create_by_token"):
            original = getattr(services, name)

            def counted(*, _original: Any = original, **kwargs: Any) -> Any:
                self.service_calls += 1
                return _original(**kwargs)

            monkeypatch.setattr(services, name, counted)


@pytest.fixture
def lanes(monkeypatch: pytest.MonkeyPatch) -> Lanes:
    return Lanes(monkeypatch)


@pytest.fixture
def gate(make_activity: Any, community: Any, frozen_clock: Any) -> dict[str, Any]:
    """A shift at 9:00 with four people signed up, the clock at 8:55 on the day."""
    shift = first_shift(make_activity(capacity=10))
    keys = []
    for _ in range(4):
        person = new_volunteer(community)
        services.signup_create(shift=shift, volunteer=person)
        keys.append(token_create(user=person, name="phone")[1])
    frozen_clock.move_to(at(4, 8, 55))
    return {"shift": shift, "keys": keys, "code": services.checkin_code(shift)}


def without_id(content: bytes) -> dict[str, Any]:
    body = json.loads(content)
    body.pop("id")
    return body


def same_answer(quick: tuple[int, Headers, bytes], full: tuple[int, Headers, bytes]) -> None:
    """Two answers to two people's identical requests: equal but for the row's id (and the
    length that the id's digits give); the same headers in the same order, none twice."""
    (status, headers, body), (full_status, full_headers, full_body) = quick, full
    assert status == full_status
    assert without_id(body) == without_id(full_body)
    assert headers["Content-Length"] == str(len(body))
    assert full_headers["Content-Length"] == str(len(full_body))
    assert [name for name, _ in headers.sent] == [name for name, _ in full_headers.sent]
    assert [h for h in headers.sent if h[0] != "Content-Length"] == [
        h for h in full_headers.sent if h[0] != "Content-Length"
    ]


@pytest.mark.parametrize("language", [None, "en", "en-US,en;q=0.9", "zh-CN,zh;q=0.9"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_checkin_is_the_full_chains_answer(
    gate: dict[str, Any], lanes: Lanes, settings: Any, language: str | None
) -> None:
    app = SiteHandler()
    scan = {"code": gate["code"]}
    quick_key, full_key = gate["keys"][:2]
    first = call(app, "POST", CHECKINS, token=quick_key, body=scan, language=language)
    again = call(app, "POST", CHECKINS, token=quick_key, body=scan, language=language)
    assert lanes.answered == ["quick", "quick"]
    settings.ZHIYUAN_QUICK_LANE = False
    full_first = call(app, "POST", CHECKINS, token=full_key, body=scan, language=language)
    full_again = call(app, "POST", CHECKINS, token=full_key, body=scan, language=language)
    assert first[0] == 201 and again[0] == 200
    same_answer(first, full_first)
    same_answer(again, full_again)
    assert json.loads(again[2])["id"] == json.loads(first[2])["id"]
    expected_language = "en" if language and language.startswith("en") else "zh-hans"
    assert first[1]["Content-Language"] == expected_language
    assert first[1]["Cache-Control"] == "no-store"
    assert first[1]["Vary"] == "Accept-Language"
    assert ServiceSession.objects.filter(shift=gate["shift"]).count() == 2


@pytest.mark.parametrize("language", [None, "en"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_is_the_full_chains_answer_seated_or_waitlisted(
    make_activity: Any, community: Any, lanes: Lanes, settings: Any, language: str | None
) -> None:
    """Two seats; the lanes take turns: a seat each, then a place on the waitlist each."""
    app = SiteHandler()
    shift = first_shift(make_activity(capacity=2))
    keys = [token_create(user=new_volunteer(community), name="phone")[1] for _ in range(4)]
    answers = []
    for key, quick in zip(keys, (True, False, True, False), strict=True):
        settings.ZHIYUAN_QUICK_LANE = quick
        answers.append(
            call(app, "POST", signups(shift), token=key, body={"waitlist": True}, language=language)
        )
    quick_seated, full_seated, quick_waiting, full_waiting = answers
    assert json.loads(quick_seated[2])["status"] == SignupStatus.CONFIRMED
    assert json.loads(quick_waiting[2])["status"] == SignupStatus.WAITLISTED
    same_answer(quick_seated, full_seated)
    same_answer(quick_waiting, full_waiting)
    assert lanes.answered == ["quick", "quick"]
    statuses = sorted(Signup.objects.filter(shift=shift).values_list("status", flat=True))
    assert statuses == ["confirmed", "confirmed", "waitlisted", "waitlisted"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_https_answers_carry_the_chains_hsts_header_and_follow_a_settings_change(
    gate: dict[str, Any], lanes: Lanes, settings: Any
) -> None:
    scan = {"code": gate["code"]}
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    app = SiteHandler()  # a middleware reads its settings when it is built
    secure = {"HTTP_X_FORWARDED_PROTO": "https"}
    plain = call(app, "POST", CHECKINS, token=gate["keys"][0], body=scan)
    quick = call(app, "POST", CHECKINS, token=gate["keys"][1], body=scan, extra=secure)
    settings.ZHIYUAN_QUICK_LANE = False
    full = call(app, "POST", CHECKINS, token=gate["keys"][2], body=scan, extra=secure)
    assert "Strict-Transport-Security" not in plain[1]
    assert quick[1]["Strict-Transport-Security"] == "max-age=3600"
    same_answer(quick, full)
    settings.ZHIYUAN_QUICK_LANE = True
    # A setting read on every answer (not when the middleware is built) counts at once.
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    later = call(app, "POST", CHECKINS, token=gate["keys"][3], body=scan, extra=secure)
    assert later[1]["X-Frame-Options"] == "SAMEORIGIN"
    assert later[1]["Strict-Transport-Security"] == "max-age=3600"
    assert lanes.answered == ["quick", "quick", "quick"]


@pytest.mark.parametrize(
    ("overrides", "extra", "status"),
    [
        ({"SECURE_SSL_REDIRECT": True}, {}, 301),
        ({"ALLOWED_HOSTS": ["zhiyuan.example"]}, {}, 400),
        ({"DISALLOWED_USER_AGENTS": [re.compile("scanner")]}, {"HTTP_USER_AGENT": "scanner"}, 403),
        ({"PREPEND_WWW": True}, {}, 301),
    ],
    ids=["https-redirect", "host-not-allowed", "barred-agent", "prepend-www"],
)
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_what_the_chain_refuses_or_redirects_before_the_view_is_its_answer_and_nothing_is_done(
    gate: dict[str, Any],
    lanes: Lanes,
    overrides: dict[str, Any],
    extra: dict[str, str],
    status: int,
) -> None:
    scan = {"code": gate["code"]}
    with override_settings(**overrides):
        app = SiteHandler()
        answered = call(app, "POST", CHECKINS, token=gate["keys"][0], body=scan, extra=extra)
        with override_settings(ZHIYUAN_QUICK_LANE=False):
            full = call(app, "POST", CHECKINS, token=gate["keys"][1], body=scan, extra=extra)
    assert answered[0] == full[0] == status
    assert answered[1] == full[1]
    assert lanes.answered == ["chain"]
    assert lanes.service_calls == 0
    assert not ServiceSession.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refusal_is_the_full_chains_in_the_callers_language_and_tried_quickly_once(
    gate: dict[str, Any], lanes: Lanes
) -> None:
    app = SiteHandler()
    status, headers, body = call(
        app, "POST", CHECKINS, token=gate["keys"][0], body={"code": "forged"}, language="en"
    )
    assert status == 422
    assert json.loads(body) == {"code": "malformed", "message": "This is not a check-in code."}
    assert headers["Content-Language"] == "en"
    assert lanes.answered == ["chain"]
    assert lanes.service_calls == 1  # the view found the quick answer already tried
    status, _, body = call(app, "POST", CHECKINS, token=gate["keys"][0], body={"code": "forged"})
    assert status == 422
    assert json.loads(body) == {"code": "malformed", "message": "这不是签到码。"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_answer_that_fails_is_logged_and_the_full_chain_answers(
    gate: dict[str, Any], lanes: Lanes, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(*, token: str, code: str, client_at: Any) -> Any:
        raise ZeroDivisionError("a bug in the quick statement's caller")

    monkeypatch.setattr(services, "checkin_scan_by_token", broken)
    with caplog.at_level(logging.ERROR, logger="zhiyuan.core.quick_lane"):
        status, _, body = call(
            SiteHandler(), "POST", CHECKINS, token=gate["keys"][0], body={"code": gate["code"]}
        )
    assert status == 201
    assert json.loads(body)["checkin_method"] == "qr"
    assert ServiceSession.objects.filter(shift=gate["shift"]).count() == 1
    (failure,) = caplog.records
    assert failure.exc_info is not None and failure.exc_info[0] is ZeroDivisionError
    assert lanes.answered == ["chain"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_answer_is_one_request_to_the_signals(gate: dict[str, Any], lanes: Lanes) -> None:
    """Django closes worn-out connections on these signals: a quick answer sends each once,
    request_finished only when the server closes the answer."""
    seen: list[str] = []

    def started(**kwargs: Any) -> None:
        seen.append("started")

    def finished(**kwargs: Any) -> None:
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        call(SiteHandler(), "POST", CHECKINS, token=gate["keys"][0], body={"code": gate["code"]})
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert seen == ["started", "finished"]
    assert lanes.answered == ["quick"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_handler_keeps_the_headers_of_each_language_path_and_script_prefix_apart(
    gate: dict[str, Any], make_activity: Any, community: Any, lanes: Lanes, settings: Any
) -> None:
    """The headers kept for one kind of answer are never given to another: one handler, its
    answers in two languages, on two paths, under a script prefix and without one."""
    app = SiteHandler()
    scan = {"code": gate["code"]}
    shift = first_shift(make_activity(capacity=10))
    joiners = [token_create(user=new_volunteer(community), name="phone")[1] for _ in range(4)]
    cases = [
        ("en", {}),
        ("zh-CN", {}),
        ("en", {"SCRIPT_NAME": "/zy"}),
        ("zh-CN", {"SCRIPT_NAME": "/zy"}),
    ]
    quick, full = [], []
    for (language, extra), checker, joiner in zip(cases, gate["keys"], joiners, strict=True):
        settings.ZHIYUAN_QUICK_LANE = True
        quick.append(
            call(app, "POST", CHECKINS, token=checker, body=scan, language=language, extra=extra)
        )
        quick.append(
            call(app, "POST", signups(shift), token=joiner, body={}, language=language, extra=extra)
        )
        settings.ZHIYUAN_QUICK_LANE = False
        full.append(
            call(app, "POST", CHECKINS, token=checker, body=scan, language=language, extra=extra)
        )
        full.append(
            call(app, "POST", signups(shift), token=joiner, body={}, language=language, extra=extra)
        )
    assert lanes.answered == ["quick"] * 8
    for mine, theirs in zip(quick, full, strict=True):
        assert mine[0] in (200, 201)
        assert [h for h in mine[1].sent if h[0] != "Content-Length"] == [
            h for h in theirs[1].sent if h[0] != "Content-Length"
        ]
    assert [answer[1]["Content-Language"] for answer in quick[::2]] == ["en", "zh-hans"] * 2
    # Under a script prefix an API answer is not to be cached either.
    assert {answer[1]["Cache-Control"] for answer in quick + full} == {"no-store"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_quick_check_in_acted_leaves_one_check_in_and_an_answer(
    gate: dict[str, Any], lanes: Lanes, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The check-in is made, then encoding its answer fails: logged, and the full chain
    answers with the check-in it finds (200), the request ending as any other."""

    class Unencodable:
        @staticmethod
        def dumps(*args: Any, **kwargs: Any) -> str:
            raise ValueError("cannot encode")

    monkeypatch.setattr(quick_lane, "json", Unencodable)
    finished: list[bool] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append(True)

    request_finished.connect(on_finished)
    try:
        with caplog.at_level(logging.ERROR, logger="zhiyuan.core.quick_lane"):
            status, headers, body = call(
                SiteHandler(), "POST", CHECKINS, token=gate["keys"][0], body={"code": gate["code"]}
            )
    finally:
        request_finished.disconnect(on_finished)
    assert status == 200
    assert json.loads(body)["checkin_method"] == "qr"
    assert headers["Cache-Control"] == "no-store"
    assert ServiceSession.objects.filter(shift=gate["shift"]).count() == 1
    assert finished == [True]
    assert "quick answer failed" in caplog.text
    assert lanes.answered == ["chain"] and lanes.service_calls == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_headers_that_cannot_be_read_leave_the_request_to_the_chain_before_anything_is_done(
    gate: dict[str, Any], lanes: Lanes, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(self: Any, request: Any, status: int) -> Any:
        raise RuntimeError("a chain that turned the answer into something else")

    monkeypatch.setattr(quick_lane.QuickLane, "_probe", broken)
    with caplog.at_level(logging.ERROR, logger="zhiyuan.core.quick_lane"):
        status, _, body = call(
            SiteHandler(), "POST", CHECKINS, token=gate["keys"][0], body={"code": gate["code"]}
        )
    assert status == 201 and json.loads(body)["checkin_method"] == "qr"
    assert "no headers" in caplog.text
    # The lane did not try the quick answer; the view did, once.
    assert lanes.answered == ["chain"] and lanes.service_calls == 1
    assert ServiceSession.objects.filter(shift=gate["shift"]).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_body_too_large_is_the_chains_answer_in_either_lane(
    gate: dict[str, Any], lanes: Lanes, settings: Any, caplog: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    app = SiteHandler()
    big = {"code": gate["code"], "note": "x" * 100}
    with caplog.at_level(logging.ERROR, logger="zhiyuan.core.quick_lane"):
        quick = call(app, "POST", CHECKINS, token="zy_not-a-token", body=big)
    settings.ZHIYUAN_QUICK_LANE = False
    full = call(app, "POST", CHECKINS, token="zy_not-a-token", body=big)
    assert quick[0] == full[0] == 400
    assert quick[1].sent == full[1].sent
    # The same error page (its log-out form's CSRF token is masked afresh on every page).
    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert token.sub(b"", quick[2]) == token.sub(b"", full[2])
    assert not [r for r in caplog.records if r.name == "zhiyuan.core.quick_lane"]
    assert lanes.answered == ["chain"] and lanes.service_calls == 0
    assert not ServiceSession.objects.exists()


def test_the_lane_is_off_when_the_token_lanes_middleware_is_not_the_one_it_knows(
    settings: Any, caplog: Any
) -> None:
    assert tuple(token_lane_middleware()) == quick_lane.REVIEWED
    assert SiteHandler().token_lane.quick_lane.enabled
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.core.test_token_lane.Mark"]
    with caplog.at_level(logging.WARNING, logger="zhiyuan.core.quick_lane"):
        lane = SiteHandler().token_lane.quick_lane
    assert not lane.enabled
    assert "quick lane off" in caplog.text


def test_the_quick_routes_are_exactly_the_operations_paths() -> None:
    """Each route's pattern matches its operation's path, and no path Django resolves to
    another view (or to none): a near miss is the chain's to answer (404, or another view)."""
    checkin = quick_lane.match("POST", CHECKINS)
    signup = quick_lane.match("POST", "/api/v1/activities/shifts/7/signups")
    assert checkin is not None and checkin[0].answer is api.quick_checkin and checkin[1] == {}
    assert signup is not None and signup[0].answer is api.quick_signup
    assert signup[1] == {"shift_id": 7}
    assert resolve(CHECKINS).url_name == "checkin"
    match = resolve("/api/v1/activities/shifts/7/signups")
    assert (match.url_name, match.kwargs) == ("signup_create", {"shift_id": 7})
    for near_miss in (
        CHECKINS + "/",
        "/api/v1/activities/checkins/1",
        "/api/v1/activities/shifts/7/signups/",
        "/api/v1/activities/shifts/x/signups",
        "/api/v1/activities/shifts/٧/signups",  # an Arabic-Indic seven: not an int to Django
        "/api/v2/activities/checkins",
    ):
        assert quick_lane.match("POST", near_miss) is None, near_miss
    assert quick_lane.match("GET", CHECKINS) is None
    assert quick_lane.match("PUT", "/api/v1/activities/shifts/7/signups") is None
