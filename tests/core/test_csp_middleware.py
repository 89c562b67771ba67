"""The site's CSP middleware builds its fixed policy once; every response still carries exactly
the headers django-csp's own middleware gives it, and whatever asks for a policy of its own (a
nonce, a decorator, an exemption, a changed setting) is still honoured."""

from __future__ import annotations

from typing import Any

import pytest
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory, override_settings

from zhiyuan.core.middleware import CSPMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def both(view: Any, path: str = "/api/v1/activities/checkins") -> list[dict[str, str | None]]:
    """The CSP headers of one request through django-csp's middleware and through ours."""
    answers = []
    for middleware in (DjangoCSPMiddleware, CSPMiddleware):
        response = middleware(view)(RequestFactory().post(path))
        answers.append({h: response.headers.get(h) for h in HEADERS})
    return answers


def directives(value: str | None) -> set[str]:
    # django-csp writes directives in set order; compare them as a set.
    return {part.strip() for part in (value or "").split(";") if part.strip()}


def test_the_same_headers_as_django_csp_on_json_and_html() -> None:
    for view in (lambda r: JsonResponse({"ok": True}, status=201), lambda r: HttpResponse("<p>")):
        theirs, ours = both(view)
        assert ours["Content-Security-Policy"] is not None
        for header in HEADERS:
            assert directives(ours[header]) == directives(theirs[header])
        assert "script-src 'self'" in directives(ours["Content-Security-Policy"])


def test_repeated_requests_keep_the_same_policy() -> None:
    middleware = CSPMiddleware(lambda r: HttpResponse())
    first = middleware(RequestFactory().get("/"))["Content-Security-Policy"]
    assert all(
        middleware(RequestFactory().get("/"))["Content-Security-Policy"] == first for _ in range(3)
    )


def test_a_changed_setting_is_seen_at_once() -> None:
    middleware = CSPMiddleware(lambda r: HttpResponse())
    middleware(RequestFactory().get("/"))  # builds and keeps the site's policy
    policy = {"DIRECTIVES": {"default-src": ["'none'"]}}
    with override_settings(
        CONTENT_SECURITY_POLICY=policy, CONTENT_SECURITY_POLICY_REPORT_ONLY=policy
    ):
        response = middleware(RequestFactory().get("/"))
        assert response["Content-Security-Policy"] == "default-src 'none'"
        assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"
    after = middleware(RequestFactory().get("/"))
    assert "script-src 'self'" in after["Content-Security-Policy"]
    assert "Content-Security-Policy-Report-Only" not in after


def test_a_nonce_read_by_the_page_goes_into_the_header() -> None:
    def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")  # type: ignore[attr-defined]

    from csp.constants import NONCE, SELF

    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": [SELF, NONCE]}}):
        request = RequestFactory().get("/")
        response = CSPMiddleware(page)(request)
        nonce = request._csp_nonce  # type: ignore[attr-defined]
        assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
        # Another request gets another nonce, not the first one kept.
        second = RequestFactory().get("/")
        CSPMiddleware(page)(second)
        assert second._csp_nonce != nonce  # type: ignore[attr-defined]


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error() -> None:
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    CSPMiddleware(lambda r: HttpResponse())(request)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)  # type: ignore[attr-defined]


def test_decorated_views_keep_their_own_policy_or_exemption() -> None:
    updated = csp_update({"img-src": ["https://tiles.example.org"]})(lambda r: HttpResponse())
    theirs, ours = both(updated)
    assert "https://tiles.example.org" in (ours["Content-Security-Policy"] or "")
    assert directives(ours["Content-Security-Policy"]) == directives(
        theirs["Content-Security-Policy"]
    )
    exempt = csp_exempt()(lambda r: HttpResponse())
    assert both(exempt)[1]["Content-Security-Policy"] is None


def test_a_header_the_view_set_is_left_alone() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse()
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert both(view)[1]["Content-Security-Policy"] == "default-src 'none'"
