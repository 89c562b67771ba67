"""Writing notifications: ``notify`` (any app may call it), reading them, preferences.

``notify`` writes the in-app messages in the caller's transaction, so a message exists exactly
when the event it reports was committed, and asks the worker, after commit, to carry them by
e-mail and SMS. Each message is written in its reader's language.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone, translation

from zhiyuan.accounts.models import User
from zhiyuan.notifications.channels import channels
from zhiyuan.notifications.models import (
    ChannelPreference,
    Delivery,
    DeliveryStatus,
    Notification,
)

logger = logging.getLogger("zhiyuan.notifications")


def _render(text: Any, params: Mapping[str, Any] | None, language: str) -> str:
    with translation.override(language or "zh-hans"):
        rendered = str(text)
        if params:
            # Lazy texts and model objects are rendered in the reader's language; numbers stay
            # numbers, so %(n)d placeholders work.
            values = {k: v if isinstance(v, int | float) else str(v) for k, v in params.items()}
            rendered = rendered % values
    return rendered


def notify(
    *,
    users: Iterable[User | int],
    kind: str,
    title: Any,
    body: Any = "",
    url: str = "",
    params: Mapping[str, Any] | None = None,
    urgent: bool = False,
    key: str = "",
) -> list[Notification]:
    """Tell these people something; return the messages written.

    ``title`` and ``body`` are translatable (lazy) strings with ``%(name)s`` placeholders filled
    from ``params``; each reader gets them in their own language. With a ``key`` a person gets
    the message once, however often it is asked for (reminders). E-mail and SMS follow after
    commit, through the worker.
    """
    ids = {u if isinstance(u, int) else u.pk for u in users}
    if not ids:
        return []
    people = list(User.objects.filter(pk__in=ids, is_active=True).only("pk", "language"))
    if key:
        done = set(
            Notification.objects.filter(user_id__in=ids, key=key).values_list("user_id", flat=True)
        )
        people = [p for p in people if p.pk not in done]
    rows = [
        Notification(
            user_id=person.pk,
            kind=kind,
            title=_render(title, params, person.language)[:120],
            body=_render(body, params, person.language) if body else "",
            url=url,
            urgent=urgent,
            key=key,
        )
        for person in sorted(people, key=lambda p: p.pk)
    ]
    created = Notification.objects.bulk_create(rows)
    new_ids = [n.pk for n in created if n.pk is not None]
    if new_ids:
        from zhiyuan.notifications.tasks import notifications_deliver

        # After commit: a rolled-back event must not send a text message about itself.
        transaction.on_commit(lambda: notifications_deliver.enqueue(new_ids))
    return created


def notification_deliver(*, ids: list[int]) -> int:
    """Carry these notifications through every outside channel that wants them (worker)."""
    sent = 0
    notifications = Notification.objects.filter(pk__in=ids).select_related("user")
    preferences = {
        p.user_id: p
        for p in ChannelPreference.objects.filter(user_id__in=notifications.values("user_id"))
    }
    for notification in notifications:
        preference = preferences.get(notification.user_id) or ChannelPreference(
            user=notification.user
        )
        already = set(
            notification.deliveries.filter(status=DeliveryStatus.SENT).values_list(
                "channel", flat=True
            )
        )
        for channel in channels():
            if channel.name in already or not channel.wants(notification, preference):
                continue
            try:
                channel.send(notification, preference)
            except Exception as exc:  # a provider's failure is recorded, never lost silently
                logger.warning(
                    "notification %s by %s failed: %s", notification.pk, channel.name, exc
                )
                Delivery.objects.create(
                    notification=notification,
                    channel=channel.name,
                    status=DeliveryStatus.FAILED,
                    error=type(exc).__name__,
                )
            else:
                Delivery.objects.create(
                    notification=notification, channel=channel.name, status=DeliveryStatus.SENT
                )
                sent += 1
    return sent


@transaction.atomic
def notification_mark_read(*, user: User, notification: Notification) -> Notification:
    """Mark one of the person's own notifications read (reading someone else's is a 404)."""
    if notification.user_id != user.pk:
        raise Notification.DoesNotExist
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notification_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the person read; the number marked."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def channel_preference_set(
    *, user: User, email: str, email_on: bool, sms_on: bool
) -> ChannelPreference:
    """Save how the person wants to be told besides the notification centre."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email
    from django.utils.translation import gettext as _

    email = email.strip()
    if email:
        validate_email(email)
    if email_on and not email:
        raise ValidationError({"email": [_("Give an e-mail address to receive e-mail.")]})
    preference, _created = ChannelPreference.objects.get_or_create(user=user)
    preference.email, preference.email_on, preference.sms_on = email, email_on, sms_on
    preference.save(update_fields=["email", "email_on", "sms_on"])
    return preference
