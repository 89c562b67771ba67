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
    """One entry of the append-only audit log.

    Entries hold identifiers, never personal data in clear. Each carries a keyed MAC of its own
    fields, written with it; committed entries are then chained in batches by ``AuditSeal``
    (see ``zhiyuan.core.audit``). The database refuses UPDATE and DELETE of these rows (a
    trigger, see migration 0002); ``zhiyuan audit verify`` recomputes every MAC and every seal
    and names the first entry or seal that was altered or removed.
    """

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
    mac = models.CharField(max_length=64)
    # The writer's PostgreSQL transaction id (set by a trigger): places the entry in a seal.
    xid = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["xid", "id"], name="core_audit_chain_order"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.result}"

    @property
    def action_label(self) -> str:
        from zhiyuan.core.audit import action_label

        return action_label(self.action)


class AuditSeal(models.Model):
    """One link of the audit chain: covers every entry committed in ``[key_from, key_to)``.

    The key is the writer's transaction id on PostgreSQL and the row id on SQLite. ``hash`` is a
    keyed MAC over the previous seal's hash and the covered entries' ids and MACs, in order.
    """

    number = models.BigIntegerField(unique=True)
    key_from = models.BigIntegerField()
    key_to = models.BigIntegerField()
    count = models.IntegerField()
    sealed_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"seal {self.number} ({self.count})"


class AuditChainHead(models.Model):
    """The single row holding the end of the audit chain; only sealers lock it."""

    last_number = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_key = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"seal {self.last_number} {self.last_hash[:12]}"


class PeriodicRun(models.Model):
    """When a periodic background task was last enqueued (see ``zhiyuan.core.schedule``)."""

    name = models.CharField(max_length=200, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("periodic task")
        verbose_name_plural = _("periodic tasks")

    def __str__(self) -> str:
        return self.name
