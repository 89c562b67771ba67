"""Notifications API: the person's own messages for app clients."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from zhiyuan.accounts.models import User
from zhiyuan.notifications import selectors, services
from zhiyuan.notifications.models import Notification

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    url: str
    urgent: bool
    created_at: dt.datetime
    read_at: dt.datetime | None


class CountOut(Schema):
    unread: int


@router.get("", response=list[NotificationOut])
@paginate(LimitOffsetPagination)
def notification_list(request: HttpRequest, unread: bool = False) -> Any:
    return selectors.notification_list_for(request.user, unread_only=unread)


@router.get("/unread-count", response=CountOut)
def unread_count(request: HttpRequest) -> CountOut:
    return CountOut(unread=selectors.notification_unread_count(request.user))


@router.post("/{notification_id}/read", response=NotificationOut)
def mark_read(request: HttpRequest, notification_id: int) -> Notification:
    user = cast(User, request.user)
    notification = get_object_or_404(Notification, pk=notification_id, user=user)
    return services.notification_mark_read(user=user, notification=notification)


@router.post("/read-all", response=CountOut)
def mark_all_read(request: HttpRequest) -> CountOut:
    services.notification_mark_all_read(user=cast(User, request.user))
    return CountOut(unread=0)
