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
import math
import os
from typing import Any


def worker_count() -> int:
    """``ZHIYUAN_WORKERS``, else one sync worker per core this process may use (its CPU
    affinity, and a container's CPU quota where one is set), and never fewer than two.

    A sync worker is busy for the whole of a request, so with PostgreSQL on the same machine
    more workers than cores only add switching: measured with ``zhiyuan bench checkin`` on two
    cores (docs/activities.md, "Session 4"), four workers spent about a third more CPU per
    check-in than two and served a fifth fewer. Two at least, so that one slow request does not
    hold up every other. Where the database is another machine, each request also waits on the
    network: raise ``ZHIYUAN_WORKERS`` until the cores are busy."""
    configured = os.environ.get("ZHIYUAN_WORKERS", "").strip()
    if configured:
        count = int(configured)
        if count < 1:
            raise ValueError("ZHIYUAN_WORKERS must be a whole number of at least 1")
        return count
    return max(2, usable_cores())


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (a
    container given 2 CPUs on a 64-core host sees 64 in ``os.cpu_count()``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores or 1, quota)
    return max(1, cores or 1)


def _cgroup_cpu_quota() -> int | None:
    """Whole CPUs allowed by cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``), rounded up;
    None when there is no quota."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
    except (OSError, ValueError):
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return max(1, math.ceil(quota_us / period_us))


workers = worker_count()
# gunicorn's sync worker, closing each finished connection without waiting on a client that
# has nothing more to send, and sending each response in as few segments as it fits.
worker_class = "zhiyuan.gunicorn_worker.SyncWorker"


def post_worker_init(worker: Any) -> None:
    """After the worker loaded the WSGI application, before its first request."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports the URL map and every app's views and API
    gc.collect()
    gc.freeze()
