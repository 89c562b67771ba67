"""Core models: the tamper-evident audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """The actions of the core and accounts. Other apps declare their own TextChoices and
    register them with ``zhiyuan.core.audit.audit_actions`` so the log can name them."""

    LOGIN = "auth.login", _("Logged in")
    LOGIN_FAILED = "auth.login_failed", _("Failed log-in")
    LOCKED_OUT = "auth.locked_out", _("Locked out")
    LOGOUT = "auth.logout", _("Logged out")
    ROLE_GRANTED = "role.granted", _("Role granted")
    ROLE_REVOKED = "role.revoked", _("Role revoked")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    ACCESS_DENIED = "access.denied", _("Access refused")
    UNMASK = "pii.unmask", _("Personal data shown in full")
    EXPORT = "pii.export", _("Data exported")
    REGIONS_IMPORTED = "regions.imported", _("Regions imported")
    KEYS_ROTATED = "crypto.rotated", _("Personal data re-encrypted under a new key")
    RETENTION_RUN = "retention.run", _("Expired data removed")


class AuditResult(models.TextChoices):
    OK = "ok", _("Done")
    DENIED = "denied", _("Refused")
    FAILED = "failed", _("Failed")


class AuditEvent(models.Model):
    """One entry of the append-only audit log; each carries the hash of the one before it.

    Entries hold identifiers, never personal data in clear. The database refuses UPDATE and
    DELETE of these rows (a trigger, see migration 0002); ``zhiyuan audit verify`` recomputes the
    chain and names the first entry that was altered or removed.
    """

    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("when"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ip = models.GenericIPAddressField(_("from where"), null=True, blank=True)
    # No ``choices``: every app declares its own actions (see ``audit_actions``), and a new
    # action must not need a migration of the log.
    action = models.CharField(_("action"), max_length=40)
    object_type = models.CharField(_("object type"), max_length=60, blank=True)
    object_id = models.CharField(_("object"), max_length=64, blank=True)
    result = models.CharField(_("result"), max_length=10, choices=AuditResult.choices)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.result}"

    @property
    def action_label(self) -> str:
        from zhiyuan.core.audit import action_label

        return action_label(self.action)


class AuditChainHead(models.Model):
    """The single row holding the end of the audit chain; locking it orders the writers."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_hash[:12]}"


class PeriodicRun(models.Model):
    """When a periodic background task was last enqueued (see ``zhiyuan.core.schedule``)."""

    name = models.CharField(max_length=200, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("periodic task")
        verbose_name_plural = _("periodic tasks")

    def __str__(self) -> str:
        return self.name
