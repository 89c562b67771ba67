"""Periodic background work: tasks that run every so often, enqueued by the worker.

django-tasks runs tasks that were enqueued; it has no clock. ``zhiyuan worker`` runs a small
scheduler thread beside the task loop. Each periodic task has a row in ``PeriodicRun``; the
scheduler takes that row's lock before enqueuing, so several workers enqueue each run once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

logger = logging.getLogger("zhiyuan.schedule")


@dataclass(frozen=True)
class Periodic:
    name: str
    task: Any  # a django-tasks Task
    every: timedelta


REGISTRY: dict[str, Periodic] = {}


def periodic(every: timedelta) -> Any:
    """Decorator for a django-tasks ``@task``: run it every ``every``."""

    def register(task: Any) -> Any:
        name = f"{task.func.__module__}.{task.func.__name__}"
        REGISTRY[name] = Periodic(name, task, every)
        return task

    return register


def enqueue_due(now: Any = None) -> list[str]:
    """Enqueue every periodic task whose time has come; return their names."""
    from zhiyuan.core.models import PeriodicRun

    now = now or timezone.now()
    started = []
    for item in REGISTRY.values():
        with transaction.atomic():
            run, _ = PeriodicRun.objects.get_or_create(name=item.name)
            # Row lock: among several workers, only the one holding it decides to enqueue.
            run = PeriodicRun.objects.select_for_update().get(pk=run.pk)
            if run.last_enqueued_at is None or now - run.last_enqueued_at >= item.every:
                run.last_enqueued_at = now
                run.save(update_fields=["last_enqueued_at"])
                transaction.on_commit(item.task.enqueue)
                started.append(item.name)
    return started


_last_asked: dict[str, float] = {}


def enqueue_soon(task: Any, at_most_every: float) -> None:
    """Enqueue ``task`` now unless this process already did within ``at_most_every`` seconds
    (writers ask for a seal after each commit; one request per few seconds is plenty)."""
    name = f"{task.func.__module__}.{task.func.__name__}"
    now = time.monotonic()
    if now - _last_asked.get(name, -at_most_every) < at_most_every:
        return
    _last_asked[name] = now
    task.enqueue()


def forget_requests() -> None:
    """Let the next ``enqueue_soon`` of every task through (tests)."""
    _last_asked.clear()


class Scheduler(threading.Thread):
    def __init__(self, interval: float = 30.0) -> None:
        super().__init__(name="zhiyuan-scheduler", daemon=True)
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                close_old_connections()
                for name in enqueue_due():
                    logger.info("enqueued periodic task %s", name)
            except Exception:  # the scheduler must outlive a database hiccup
                logger.exception("periodic scheduling failed; retrying")
            self.stopping.wait(self.interval)
