"""The site's WSGI handler: Django's, with a shorter middleware chain for app clients.

A phone app calls the API with ``Authorization: Bearer zy_…`` and no cookie. For such a call
the middleware in ``ZHIYUAN_SESSION_ONLY_MIDDLEWARE`` has nothing to do: there is no session to
load, no session user (the token's user is known only when the API authenticates, after every
middleware ran), no CSRF token to check (a browser never sends a bearer token by itself), no
messages, no session limits, no second factor to ask of a session. (axes counts failed log-ins
in its authentication backend, which runs in either lane; the API's own log-in answers a
locked-out number with 429 itself, so its middleware has nothing to add there either.) Yet
on the busiest endpoints those eight layers cost about a fifth of the CPU Django spends on a
request (measured: docs/activities.md, "Session 4"). So a request that has a bearer token,
no ``Cookie`` header and a path under ``/api/`` runs the rest of ``MIDDLEWARE``, in the same
order; every other request, including an API call from the site's own pages, runs all of it.

What the token lane keeps is everything that shapes the answer: security headers and HTTPS
redirect, the language from ``Accept-Language``, clickjacking and CSP headers, ``no-store``, and
the audit of refusals. Its requests get an anonymous ``request.user`` until the API's
``TokenAuth`` puts the token's user there, as they would from ``AuthenticationMiddleware``.

Within the token lane, the quick lane (``zhiyuan.core.quick_lane``) is asked first: the
busiest calls of a big event, answered before URL resolving and ninja, with the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import get_resolver
from django.utils.module_loading import import_string

from zhiyuan.core.quick_lane import QuickLane

API_PREFIX = "/api/"


def token_lane_middleware() -> list[str]:
    """``MIDDLEWARE`` without what only a browser's session needs, in the same order."""
    session_only = set(settings.ZHIYUAN_SESSION_ONLY_MIDDLEWARE)
    unknown = session_only - set(settings.MIDDLEWARE)
    if unknown:
        raise ImproperlyConfigured(
            f"ZHIYUAN_SESSION_ONLY_MIDDLEWARE names middleware not in MIDDLEWARE: {sorted(unknown)}"
        )
    return [path for path in settings.MIDDLEWARE if path not in session_only]


def is_token_call(environ: dict[str, Any]) -> bool:
    """An app client's API call: a bearer token, no cookie, a path under /api/."""
    return (
        "HTTP_COOKIE" not in environ
        and environ.get("PATH_INFO", "").startswith(API_PREFIX)
        and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
    )


def build_chain(
    innermost: Callable[[HttpRequest], HttpResponseBase],
    instances: list[Any] | None = None,
    hooks: TokenLaneHandler | None = None,
) -> Callable[[HttpRequest], HttpResponseBase]:
    """``token_lane_middleware()`` around ``innermost``, as Django's ``load_middleware`` builds
    ``MIDDLEWARE`` around the view (synchronous middleware only: the site is WSGI). Each
    middleware instance is appended to ``instances``; ``hooks``, a handler, gets their view,
    template-response and exception methods, as Django's handler does."""
    handler = convert_exception_to_response(innermost)
    for path in reversed(token_lane_middleware()):
        middleware = import_string(path)
        if not getattr(middleware, "sync_capable", True):
            raise ImproperlyConfigured(f"{path} cannot serve synchronous requests")
        try:
            instance = middleware(handler)
        except MiddlewareNotUsed:
            continue  # as Django: a middleware may decline at start-up
        if instance is None:
            raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
        if instances is not None:
            instances.append(instance)
        if hooks is not None:
            if hasattr(instance, "process_view"):
                hooks._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                hooks._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                hooks._exception_middleware.append(instance.process_exception)
        handler = convert_exception_to_response(instance)
    return cast("Callable[[HttpRequest], HttpResponseBase]", handler)


class TokenLaneHandler(WSGIHandler):
    """Django's WSGI handler running ``token_lane_middleware()`` instead of ``MIDDLEWARE``,
    with the quick lane (``zhiyuan.core.quick_lane``) asked first."""

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("the token lane serves WSGI only")
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        self._middleware_chain = build_chain(self._get_response, hooks=self)  # type: ignore[attr-defined]
        self.quick_lane = QuickLane(token_lane_middleware(), build_chain)
        # The quick answers are registered by the API's modules: load them now, as the first
        # request would, so that the first quick call is answered quickly too.
        get_resolver().url_patterns  # noqa: B018

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        # What AuthenticationMiddleware gives a request without a session; TokenAuth replaces
        # it with the token's user.
        request.user = AnonymousUser()
        # A quick answer is a response to Django's WSGI handler (it sets its handler class,
        # sends its status and headers, returns it to the server, which closes it).
        quick = self.quick_lane.answer(request)
        if quick is not None:
            return quick  # type: ignore[return-value]
        return super().get_response(request)


class SiteHandler(WSGIHandler):
    """Every request through Django's full chain, but app clients' API calls (``is_token_call``)
    through the token lane."""

    def __init__(self) -> None:
        super().__init__()
        self.token_lane = TokenLaneHandler()

    def __call__(  # type: ignore[override]  # django-stubs type the answer as the response
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if is_token_call(environ):
            return self.token_lane(environ, start_response)
        return super().__call__(environ, start_response)
