"""The quick lane: an app's busiest calls answered before URL resolving, ninja and the
middleware's wrappers, with the answer the token lane's full chain gives.

At a big event thousands of phones scan the gate's code and join its shifts within minutes.
For such a call the work that matters is one or two SQL statements; Django's chain around
them (the request passing through seven middleware and their exception wrappers, the URL
resolver, ninja's operation, a ``JsonResponse`` with its headers converted one by one) cost
about as much CPU again (docs/activities.md, "Session 5" and "Session 6"). So an operation
may register a *quick answer* for its path (``route``): a function of the request that either
gives the answer's status and body or ``None`` — "not mine, let the chain answer".

The token lane (``zhiyuan.core.handlers``) asks ``QuickLane.answer`` first. The answer keeps
everything the chain does to a request and to a successful answer:

* Each middleware's own request step runs, the real one, on every request: the HTTPS
  redirect, the language from ``Accept-Language`` (activated), the host check against
  ``ALLOWED_HOSTS``, the barred user agents, django-csp's nonce. When any of them would answer
  or refuse, the quick lane steps aside and the full chain answers.
* The headers an answer gets on its way out are the ones the real chain gives: for each kind
  of answer (path, status, HTTPS or not, language) the lane sends a canned answer of that
  status through the very middleware once and keeps the headers it came back with; every
  later answer of that kind gets them, and its own ``Content-Length``.
* The request signals are sent as for any request (the handler sends ``request_started``;
  closing the answer sends ``request_finished``, as ``HttpResponse.close`` does).

That holds for the middleware this module was written against (``REVIEWED``): whose answer
headers depend on nothing but the path, the status, HTTPS and the language, and whose request
steps are ``process_request`` methods. If the token lane's middleware is ever anything else,
the quick lane stays off and says so in the log — a new middleware is never skipped unread.
``settings.ZHIYUAN_QUICK_LANE = False`` turns it off too. tests/activities/test_quick_lane.py holds
the lane to the full chain's answers, headers and refusals.

A quick answer runs at most once per request: if it gives ``None`` (a refusal, anything out of
the ordinary) or fails, the operation's view finds it already tried (``quick``) and goes the
full way at once. A quick answer that fails is logged and left to the full chain, which
answers as it always would.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import responses
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import translation
from ninja.responses import NinjaJSONEncoder

logger = logging.getLogger(__name__)

# The token lane's middleware the quick lane was checked against, in order: what each does to
# a request (a ``process_request`` method, run here on every request) and to a successful JSON
# answer (headers depending on the path, status, HTTPS and language only). Change this only
# after reading a new middleware's code for both; test_quick_lane.py compares the answers.
REVIEWED = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "zhiyuan.core.middleware.CSPMiddleware",
    "zhiyuan.core.middleware.NoStoreMiddleware",
    "zhiyuan.core.middleware.RefusalAuditMiddleware",
)
JSON_TYPE = "application/json; charset=utf-8"  # what the API's JSON answers are sent as
_TRIED = "_zhiyuan_quick_tried"

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    answer: Callable[..., Answer | None]
    statuses: tuple[int, ...]


_routes: list[Route] = []


def route(
    method: str, pattern: str, statuses: tuple[int, ...]
) -> Callable[[Callable[..., Answer | None]], Any]:
    """Register the decorated function as the quick answer to ``method`` on the paths that
    ``pattern`` (a regular expression over the whole path) matches; its named groups, digits
    only, are passed as ints, as the operation's ``int`` path parameters are. ``statuses``:
    the statuses it answers with (their headers are ready before it runs: nothing that could
    fail is left for after its commit but the encoding of its body).

    The function is called as ``answer(request, **groups)`` and gives ``(status, body)`` or
    None. The decorator returns it wrapped by ``quick``: the operation's view calls it too (for
    requests that did not come by the lane, e.g. with a cookie) and finds it already tried
    when the lane did."""

    def register(answer: Callable[..., Answer | None]) -> Callable[..., Answer | None]:
        once = quick(answer)
        _routes.append(Route(method, re.compile(pattern + r"\Z"), once, statuses))
        return once

    return register


def quick(answer: Callable[..., Answer | None]) -> Callable[..., Answer | None]:
    """``answer``, run at most once per request: a second call gives None."""

    @functools.wraps(answer)
    def once(request: HttpRequest, **kwargs: Any) -> Answer | None:
        if getattr(request, _TRIED, False):
            return None
        setattr(request, _TRIED, True)
        return answer(request, **kwargs)

    return once


def match(method: str, path: str) -> tuple[Route, dict[str, int]] | None:
    for candidate in _routes:
        if candidate.method == method:
            found = candidate.pattern.match(path)
            if found is not None:
                return candidate, {k: int(v) for k, v in found.groupdict().items()}
    return None


class QuickResponse:
    """A quick answer as Django's WSGI handler and the server use a response: status, headers,
    one chunk of body; closing it ends the request as ``HttpResponseBase.close`` does."""

    cookies: dict[str, Any] = {}
    file_to_stream = None
    streaming = False

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.reason_phrase = responses.get(status, "Unknown Status Code")
        self.headers = headers
        self.content = body
        self._handler_class: type | None = None  # set by the WSGI handler, as on a response

    def items(self) -> list[tuple[str, str]]:
        return self.headers

    def __iter__(self) -> Iterator[bytes]:
        return iter((self.content,))

    def close(self) -> None:
        request_finished.send(sender=self._handler_class)


class QuickLane:
    """The quick answers of one token lane, with the lane's middleware around them.

    ``build_chain(innermost)`` builds the lane's middleware chain around a handler, as the
    lane builds its own around the view; the quick lane builds one around a canned answer,
    to read the headers the chain gives each kind of answer."""

    def __init__(
        self, middleware: list[str], build_chain: Callable[..., Callable[..., Any]]
    ) -> None:
        self.enabled = tuple(middleware) == REVIEWED
        if not self.enabled:
            logger.warning(
                "quick lane off: the token lane's middleware is not the one it was reviewed "
                "against (zhiyuan.core.quick_lane.REVIEWED)"
            )
            return
        instances: list[Any] = []
        self._probe_chain = build_chain(self._canned, instances)
        # Each middleware's request step, in the chain's order (outermost first).
        self._request_steps = [
            m.process_request for m in reversed(instances) if hasattr(m, "process_request")
        ]
        self._headers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def answer(self, request: HttpRequest) -> QuickResponse | None:
        """The quick answer to ``request``, or None for the full chain to answer it."""
        if not self.enabled or not settings.ZHIYUAN_QUICK_LANE:
            return None
        found = match(request.method or "", request.path_info)
        if found is None:
            return None
        route_, kwargs = found
        # What the chain does before the view: anything but None (a redirect) or a refusal (a
        # host not allowed, a barred agent, a body too large or cut short) is the full
        # chain's to answer, with its logging. The headers of each status the answer may give
        # are made ready too (read from the chain the first time), so that after the answer
        # acted nothing is left that could fail but its encoding.
        try:
            for step in self._request_steps:
                if step(request) is not None:
                    return None
            request.body  # noqa: B018 — read now, as the view would: its errors are the chain's
            # What the headers depend on but the status: the same before and after the answer.
            kind = (
                _settings_version,
                request.path,
                request.path_info,
                request.is_secure(),
                translation.get_language(),
            )
        except Exception:
            return None
        try:
            for status in route_.statuses:
                self._headers_for(request, kind, status)
        except Exception:
            logger.exception("quick lane: no headers for %s; the full chain answers", request.path)
            return None
        try:
            answered = route_.answer(request, **kwargs)
            if answered is None:
                return None
            status, body = answered
            # Encoded as ninja's JSON answers are (the same encoder, as JsonResponse calls it).
            content = json.dumps(body, cls=NinjaJSONEncoder).encode()
            before, after = self._headers_for(request, kind, status)
        except Exception:
            # The view then goes the full way, which is idempotent: a check-in or sign-up the
            # quick answer made before it failed is found, not made again.
            logger.exception("quick answer failed; the full chain answers %s", request.path)
            return None
        length = ("Content-Length", str(len(content)))
        return QuickResponse(status, [*before, length, *after], content)

    def _headers_for(
        self, request: HttpRequest, kind: tuple[Any, ...], status: int
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The headers the chain gives an answer of ``status`` to ``request`` (of ``kind``):
        those before its ``Content-Length`` and those after (in the chain's order)."""
        key = (kind, status)
        headers = self._headers.get(key)
        if headers is None:
            headers = self._probe(request, status)
            self._headers[key] = headers
            if len(self._headers) > 512:  # one entry per path (a shift's) and language
                self._headers.popitem(last=False)
        return headers

    def _probe(
        self, request: HttpRequest, status: int
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Read from the chain the headers it gives an answer of ``status`` to ``request``."""
        request._zhiyuan_quick_probe = status  # type: ignore[attr-defined]
        try:
            response = self._probe_chain(request)
        finally:
            del request._zhiyuan_quick_probe  # type: ignore[attr-defined]
        if response.status_code != status:
            raise RuntimeError(f"the chain turned a {status} answer into {response.status_code}")
        items = list(response.items())
        names = [name for name, _ in items]
        at = names.index("Content-Length") if "Content-Length" in names else len(items)
        return items[:at], [item for item in items[at:] if item[0] != "Content-Length"]

    @staticmethod
    def _canned(request: HttpRequest) -> HttpResponseBase:
        return HttpResponse(status=request._zhiyuan_quick_probe, content_type=JSON_TYPE)  # type: ignore[attr-defined]


# Headers depend on settings (HSTS, the policies): kept headers are of one version of them.
_settings_version = 0


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    global _settings_version
    _settings_version += 1
