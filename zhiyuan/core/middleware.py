"""Session limits and cache headers that Django does not give by itself."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.messages import warning
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from zhiyuan.accounts.roles import ADMIN_ROLES
from zhiyuan.core.permissions import active_grants, record_refusal

STARTED = "zy_started"
SEEN = "zy_seen"


class SessionLimitsMiddleware:
    """End sessions after 12 hours in all, and administrators' after 15 idle minutes.

    Everyone else's idle limit is the session cookie age (30 minutes), renewed on each request.
    The clock is read through ``time.time`` so tests can freeze it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.setdefault(STARTED, now)
            is_admin = any(g.role in ADMIN_ROLES for g in active_grants(user))
            idle_limit = (
                settings.ZHIYUAN_SESSION_IDLE_ADMIN_SECONDS
                if is_admin
                else settings.SESSION_COOKIE_AGE
            )
            seen = session.get(SEEN, now)
            if now - started > settings.ZHIYUAN_SESSION_ABSOLUTE_SECONDS or now - seen > idle_limit:
                logout(request)
                warning(request, _("Your session ended. Please log in again."))
            else:
                session[SEEN] = now
                if is_admin:
                    session.set_expiry(settings.ZHIYUAN_SESSION_IDLE_ADMIN_SECONDS)
        return self.get_response(request)


class NoStoreMiddleware:
    """Pages and API answers for a logged-in person may carry personal data: never cache them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        if authenticated or request.path.startswith("/api/"):
            response["Cache-Control"] = "no-store"
        return response


class RefusalAuditMiddleware:
    """Audit refusals raised inside a transaction, after that transaction rolled back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        record_refusal(exception)
