"""Notifications: what the system tells a person, and how each message left by each channel.

A :class:`Notification` is the in-app message (the bell); it is written in the same transaction
as the event it reports. Other channels (e-mail, SMS) are tried after commit by the worker and
each attempt is a :class:`Delivery`. No personal data of third parties goes into a title or
body: a notification names the need or activity, never someone else's address or phone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.fields import EncryptedTextField


class Notification(models.Model):
    """One message to one person, shown in their notification centre until read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # Free text (e.g. "need.dispatched"): every app names its own kinds without a migration.
    kind = models.CharField(_("kind"), max_length=40)
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(_("link"), max_length=200, blank=True)
    # Urgent messages also go out by SMS when the person allows it.
    urgent = models.BooleanField(_("urgent"), default=False)
    created_at = models.DateTimeField(_("sent"), default=timezone.now, db_index=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    # A reminder is sent once: the same key for the same person is not sent again.
    key = models.CharField(max_length=120, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=~Q(key=""),
                name="%(app_label)s_%(class)s_once_per_key",
                violation_error_message=_("This reminder was already sent."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class ChannelPreference(models.Model):
    """How a person wants to be told besides the notification centre.

    The e-mail address is personal data: stored encrypted. SMS goes to the log-in number.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_preference"
    )
    email = EncryptedTextField(_("e-mail address"), purpose="notification_email", blank=True)
    email_on = models.BooleanField(_("also send every message by e-mail"), default=False)
    sms_on = models.BooleanField(_("send urgent messages by text message"), default=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user_id)


class DeliveryStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One attempt to carry a notification through an outside channel (e-mail, SMS)."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(_("channel"), max_length=20)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"],
                condition=Q(status="sent"),
                name="%(app_label)s_%(class)s_sent_once",
                violation_error_message=_("This message already went out by this channel."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} {self.channel} {self.status}"
