"""The site's WSGI handler: an app's API call with a bearer token and no cookie skips the
middleware only a browser session needs (zhiyuan/core/handlers.py), and gets the same answer,
the same headers and the same audit as through the full chain."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings

from tests.factories import PASSWORD, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import token_create
from zhiyuan.core import handlers
from zhiyuan.core.handlers import SiteHandler, is_token_call, token_lane_middleware
from zhiyuan.core.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

# What the browser-free answer must still carry, as every answer of the site does.
SHAPING_HEADERS = (
    "Content-Type",
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Cache-Control",
    "Content-Language",
)


class Headers(dict[str, str]):
    """An answer's headers by name, and ``sent``: the list as the server was given it (order
    and repeats included)."""

    def __init__(self, sent: list[tuple[str, str]]) -> None:
        super().__init__(sent)
        self.sent = list(sent)


def call(
    app: Any,
    method: str,
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    language: str | None = None,
    body: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[int, Headers, bytes]:
    """One request through the WSGI application, as gunicorn hands it over (``extra``: more
    of the environ, such as headers)."""
    payload = json.dumps(body).encode() if body is not None else b""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(payload),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(payload)),
    }
    if body is not None:
        environ["CONTENT_TYPE"] = "application/json"
    if token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    if language is not None:
        environ["HTTP_ACCEPT_LANGUAGE"] = language
    environ.update(extra or {})
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = int(status[:3]), Headers(headers)

    # As Django's test client does: the test's own database connection (and its transaction)
    # must outlive the request, which would otherwise close it as a finished request does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = app(environ, start_response)
        content = b"".join(response)
        response.close()  # what a WSGI server does when the answer is sent
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], content


@pytest.fixture
def app() -> SiteHandler:
    return SiteHandler()


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the token lane served (the rest went through the full chain)."""
    served: list[str] = []
    original = handlers.TokenLaneHandler.get_response

    def counted(self: Any, request: Any) -> Any:
        served.append(request.path)
        return original(self, request)

    monkeypatch.setattr(handlers.TokenLaneHandler, "get_response", counted)
    return served


@pytest.fixture
def seen_requests(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every request, kept to be looked at after its lane's middleware ran on it."""
    from django.core.handlers.base import BaseHandler

    seen: list[Any] = []
    original = BaseHandler.get_response

    def keeping(self: Any, request: Any) -> Any:
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(BaseHandler, "get_response", keeping)
    return seen


def test_which_calls_take_the_token_lane() -> None:
    app_call = {"PATH_INFO": "/api/v1/auth/me", "HTTP_AUTHORIZATION": "Bearer zy_x"}
    assert is_token_call(app_call)
    assert is_token_call({**app_call, "HTTP_AUTHORIZATION": "bearer zy_x"})
    # A browser's call (any cookie at all), a page, or no bearer token: the full chain.
    assert not is_token_call({**app_call, "HTTP_COOKIE": "sessionid=abc"})
    assert not is_token_call({**app_call, "PATH_INFO": "/activities/"})
    assert not is_token_call({**app_call, "HTTP_AUTHORIZATION": "Basic eDp5"})
    assert not is_token_call({"PATH_INFO": "/api/v1/auth/me"})


def test_the_lane_keeps_every_middleware_but_the_session_ones_in_order(settings: Any) -> None:
    lane = token_lane_middleware()
    assert lane == [m for m in settings.MIDDLEWARE if m in lane]  # the same order
    assert set(settings.MIDDLEWARE) - set(lane) == set(settings.ZHIYUAN_SESSION_ONLY_MIDDLEWARE)
    for shaping in (
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "zhiyuan.core.middleware.NoStoreMiddleware",
        "zhiyuan.core.middleware.RefusalAuditMiddleware",
    ):
        assert shaping in lane
    # A middleware added to MIDDLEWARE later runs in the lane too unless named session-only.
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "tests.core.test_token_lane.Mark"]):
        assert token_lane_middleware()[-1] == "tests.core.test_token_lane.Mark"


def test_naming_a_session_middleware_the_site_does_not_run_is_an_error(settings: Any) -> None:
    settings.ZHIYUAN_SESSION_ONLY_MIDDLEWARE = [
        *settings.ZHIYUAN_SESSION_ONLY_MIDDLEWARE,
        "example.NotInstalledMiddleware",
    ]
    with pytest.raises(ImproperlyConfigured, match="NotInstalledMiddleware"):
        SiteHandler()


def test_an_app_call_gets_the_answer_and_headers_of_the_full_chain(
    app: SiteHandler, lane_calls: list[str], seen_requests: list[Any], district: Any
) -> None:
    user = make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    _, key = token_create(user=user, name="小程序")

    status, headers, body = call(app, "GET", "/api/v1/auth/me", token=key)
    assert lane_calls == ["/api/v1/auth/me"]
    # The same call with a cookie of no meaning goes the full way.
    full_status, full_headers, full_body = call(
        app, "GET", "/api/v1/auth/me", token=key, cookie="theme=dark"
    )
    assert lane_calls == ["/api/v1/auth/me"]
    assert status == full_status == 200
    assert json.loads(body)["phone"] == "139****5678"
    assert body == full_body
    for name in SHAPING_HEADERS:
        assert headers.get(name) == full_headers.get(name), name
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    # Nothing of a session: none was loaded, no cookie is set on an app, and the answer does
    # not vary by a cookie it never read (the one header the lanes differ by).
    lane_request, full_request = seen_requests
    assert not hasattr(lane_request, "session") and not hasattr(lane_request, "_messages")
    assert hasattr(full_request, "session") and hasattr(full_request, "_messages")
    assert "Set-Cookie" not in headers
    assert headers["Vary"] == "Accept-Language"
    assert full_headers["Vary"] == "Accept-Language, Cookie"


def test_a_bad_token_is_refused_in_the_callers_language(
    app: SiteHandler, lane_calls: list[str]
) -> None:
    status, _, body = call(app, "GET", "/api/v1/auth/me", token="zy_not-a-token")
    assert status == 401
    assert json.loads(body) == {
        "code": "unauthenticated",
        "message": "请登录，或提供有效的 API 令牌。",
    }
    status, headers, body = call(
        app, "GET", "/api/v1/auth/me", token="zy_not-a-token", language="en"
    )
    assert status == 401
    assert json.loads(body)["message"] == "Log in or send a valid API token."
    assert headers["Content-Language"] == "en"
    assert len(lane_calls) == 2


def test_a_write_with_a_bad_token_is_refused_as_unauthenticated_not_by_csrf(
    app: SiteHandler, client: Any, district: Any
) -> None:
    """An app whose token expired gets 401 with the reason in its language, from either lane
    (the session's CSRF check is not the app's business)."""
    body = {"waitlist": True}
    status, _, answer = call(
        app, "POST", "/api/v1/activities/shifts/1/signups", token="zy_expired", body=body
    )
    assert status == 401
    assert json.loads(answer) == {
        "code": "unauthenticated",
        "message": "请登录，或提供有效的 API 令牌。",
    }
    full = client.post(
        "/api/v1/activities/shifts/1/signups",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer zy_expired",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert full.status_code == 401
    assert full.json()["message"] == "Log in or send a valid API token."
    # A page's own call without a token still needs its CSRF token.
    user = make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    refused = browser.post(
        "/api/v1/activities/shifts/1/signups", body, content_type="application/json"
    )
    assert refused.status_code == 403


def test_a_refusal_in_the_lane_is_audited(
    app: SiteHandler, lane_calls: list[str], district: Any
) -> None:
    user = make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    _, key = token_create(user=user, name="小程序")
    status, _, body = call(app, "GET", "/api/v1/audit", token=key)
    assert status == 403
    assert json.loads(body)["code"] == "forbidden"
    assert lane_calls == ["/api/v1/audit"]
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, actor=user)
    assert denied.count() == 1


def test_a_log_in_with_a_stray_bearer_token_is_still_locked_out_after_five_failures(
    app: SiteHandler, lane_calls: list[str]
) -> None:
    """axes counts in its authentication backend, in either lane; the API answers 429 (the
    right password included) once the number is locked out."""
    make_user(phone="13912345678")
    login = {"phone": "13912345678", "password": "wrong-password", "name": "小程序"}
    answers = []
    for _ in range(5):
        status, _, body = call(app, "POST", "/api/v1/auth/tokens", token="zy_old", body=login)
        answers.append((status, json.loads(body)["code"]))
    # The fifth failure locks the number out, as through the full chain.
    assert answers == [(401, "invalid_login")] * 4 + [(429, "locked_out")]
    status, _, body = call(
        app, "POST", "/api/v1/auth/tokens", token="zy_old", body={**login, "password": PASSWORD}
    )
    assert status == 429
    assert json.loads(body)["code"] == "locked_out"
    assert lane_calls == ["/api/v1/auth/tokens"] * 6


def test_a_browser_call_to_the_api_keeps_its_session(
    app: SiteHandler, lane_calls: list[str], client: Any, district: Any
) -> None:
    user = make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    status, _, body = call(app, "GET", "/api/v1/auth/me", cookie=cookie)
    assert status == 200
    assert json.loads(body)["id"] == user.pk
    # With a bearer token beside the cookie the full chain answers (it has a cookie), and the
    # token decides, as for any call that brings one.
    status, _, body = call(app, "GET", "/api/v1/auth/me", cookie=cookie, token="zy_stray")
    assert status == 401
    assert json.loads(body)["code"] == "unauthenticated"
    assert lane_calls == []


class Mark:
    """A middleware that only marks the request (for the list above; never installed)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)
