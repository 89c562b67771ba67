"""Carrying notifications through the outside channels, in the worker, after commit."""

from __future__ import annotations

from django_tasks import task


@task()
def notifications_deliver(ids: list[int]) -> int:
    """Send these notifications by e-mail and SMS where wanted; the number of messages sent."""
    from zhiyuan.notifications.services import notification_deliver

    return notification_deliver(ids=ids)
