"""Outside channels a notification can also take: e-mail and SMS, pluggable.

A deployment lists its channels in ``ZHIYUAN_NOTIFICATION_CHANNELS`` (dotted paths); each is a
class with a ``name``, ``wants(notification, preference)`` and ``send(notification, preference)``.
The in-app notification centre is not a channel: the notification row is the message.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

from zhiyuan.core.sms import sms_backend
from zhiyuan.notifications.models import ChannelPreference, Notification

DEFAULT_CHANNELS = [
    "zhiyuan.notifications.channels.EmailChannel",
    "zhiyuan.notifications.channels.SmsChannel",
]


class Channel(Protocol):
    name: str

    def wants(self, notification: Notification, preference: ChannelPreference) -> bool: ...

    def send(self, notification: Notification, preference: ChannelPreference) -> None: ...


def _text(notification: Notification) -> str:
    parts = [notification.title, notification.body]
    if notification.url:
        parts.append(notification.url)
    return "\n".join(p for p in parts if p)


class EmailChannel:
    """Every message, by Django's mail, to people who gave an address and asked for it."""

    name = "email"

    def wants(self, notification: Notification, preference: ChannelPreference) -> bool:
        return preference.email_on and bool(preference.email)

    def send(self, notification: Notification, preference: ChannelPreference) -> None:
        send_mail(
            subject=notification.title,
            message=_text(notification),
            from_email=None,
            recipient_list=[preference.email],
        )


class SmsChannel:
    """Urgent messages by text message to the log-in number (``zhiyuan.core.sms``)."""

    name = "sms"

    def wants(self, notification: Notification, preference: ChannelPreference) -> bool:
        return notification.urgent and preference.sms_on and bool(notification.user.phone)

    def send(self, notification: Notification, preference: ChannelPreference) -> None:
        # Short: the title and the link; the details wait behind the log-in.
        text = notification.title + (f" {notification.url}" if notification.url else "")
        sms_backend().send(notification.user.phone, text)


@cache
def channels() -> list[Channel]:
    paths = getattr(settings, "ZHIYUAN_NOTIFICATION_CHANNELS", DEFAULT_CHANNELS)
    return [import_string(path)() for path in paths]
