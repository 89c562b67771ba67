"""Session limits and cache headers that Django does not give by itself, and django-csp's
middleware without rebuilding the site's fixed policy on every response."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.messages import warning
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
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
        # The path within the site (an API answer stays uncached under a script prefix too).
        if authenticated or request.path_info.startswith("/api/"):
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


# What a view or a template can ask of django-csp for one response: a policy of its own, an
# exemption (response attributes set by csp.decorators), or a nonce (read from the request).
_CSP_OWN = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)
_CSP_SETTINGS = {
    False: (HEADER, "CONTENT_SECURITY_POLICY"),
    True: (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
}
_csp_built: dict[bool, str] = {}


@receiver(setting_changed)
def _csp_settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
        _csp_built.clear()


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, giving every response the same headers, but building the
    site's policy once rather than twice per response (the policy and its report-only twin).

    The site's policy comes from settings alone (no nonces, no per-view policies): rebuilding
    it cost about 30 µs of every request, a tenth of the least an endpoint costs. A response
    that asks for anything of its own (a nonce read by a template, a ``csp.decorators``
    policy or exemption) is built by django-csp exactly as before.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _CSP_OWN
        ):
            return super().process_response(request, response)
        debug_codes = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)
        if response.status_code in debug_codes and settings.DEBUG:
            return response
        for report_only, (header, setting) in _CSP_SETTINGS.items():
            policy = _csp_built.get(report_only)
            if policy is None:
                policy = _csp_built[report_only] = build_policy(report_only=report_only)
            if not policy or header in response:
                continue
            excluded = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES")
            if not request.path_info.startswith(tuple(excluded or ())):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
