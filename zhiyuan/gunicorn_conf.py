"""gunicorn settings for the site's workers: ``gunicorn -c python:zhiyuan.gunicorn_conf …``
(``zhiyuan serve`` in production and ``zhiyuan bench checkin`` serve with them).

Each worker, once it has loaded the site, imports the URL map (which imports every app's
views and API) and then hides everything made so far from Python's garbage collector
(``gc.freeze``): modules, classes, settings, URL patterns live as long as the worker, and
without this every full collection walks all ~200,000 of them again. Measured on the check-in
in one process: about 30 µs of CPU a request (one full collection of ~90 ms every few thousand
requests, plus the older generation's), some 8 % of what the request costs. Nothing about a
request changes; frozen objects are simply never collected, which they never would be anyway.
"""

from __future__ import annotations

import gc
import os
from typing import Any


def worker_count() -> int:
    """``ZHIYUAN_WORKERS``, else one sync worker per core.

    A sync worker is busy for the whole of a request, so with PostgreSQL on the same machine
    more workers than cores only add switching: measured with ``zhiyuan bench checkin`` on two
    cores (docs/activities.md, "Throughput"), four workers spent a third more CPU per check-in
    than two and served fewer. Where the database is another machine, each request waits on the
    network too: raise ``ZHIYUAN_WORKERS`` until the cores are busy."""
    configured = os.environ.get("ZHIYUAN_WORKERS", "").strip()
    if configured:
        count = int(configured)
        if count < 1:
            raise ValueError("ZHIYUAN_WORKERS must be a whole number of at least 1")
        return count
    return os.cpu_count() or 1


workers = worker_count()


def post_worker_init(worker: Any) -> None:
    """After the worker loaded the WSGI application, before its first request."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports the URL map and every app's views and API
    gc.collect()
    gc.freeze()
