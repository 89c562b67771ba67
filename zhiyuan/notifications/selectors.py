"""Reads of a person's notifications."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from zhiyuan.notifications.models import ChannelPreference, Notification


def notification_list_for(user: Any, *, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user=user)
    return rows.filter(read_at__isnull=True) if unread_only else rows


def notification_unread_count(user: Any) -> int:
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def channel_preference_of(user: Any) -> ChannelPreference:
    return ChannelPreference.objects.filter(user=user).first() or ChannelPreference(user=user)
