"""The rewards store (爱心超市): rewards priced in points, and single-use vouchers.

Redeeming moves points from the volunteer to the offering organisation's store account in the
ledger and issues a voucher (a QR code and a short code). The merchant scans it to hand the
reward over. A voucher cancelled or left to expire is refunded by reversing the redemption.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.permissions import Scope


class RewardKind(models.TextChoices):
    GOODS = "goods", _("Goods")
    SERVICE = "service", _("Service")
    DISCOUNT = "discount", _("Discount")


class Reward(models.Model):
    """Something a partner merchant or an organisation offers for points, with its stock."""

    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("offered by"),
        on_delete=models.PROTECT,
        related_name="rewards",
    )
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=300, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=RewardKind.choices)
    price_points = models.PositiveIntegerField(_("price in points"))
    stock = models.PositiveIntegerField(_("in stock"))
    valid_days = models.PositiveSmallIntegerField(_("voucher valid for (days)"), default=30)
    active = models.BooleanField(_("on offer"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["price_points", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_points__gt=0),
                name="%(app_label)s_%(class)s_priced",
                violation_error_message=_("A reward costs at least one point."),
            ),
            models.CheckConstraint(
                condition=Q(stock__gte=0),
                name="%(app_label)s_%(class)s_stock_not_negative",
                violation_error_message=_("Stock cannot go below zero."),
            ),
            models.CheckConstraint(
                condition=Q(valid_days__gt=0),
                name="%(app_label)s_%(class)s_valid_days",
                violation_error_message=_("A voucher is valid for at least one day."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def permission_scope(self) -> Scope:
        return self.organization.permission_scope()


class VoucherStatus(models.TextChoices):
    ISSUED = "issued", _("Ready to use")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled, points returned")
    EXPIRED = "expired", _("Expired, points returned")


class Voucher(models.Model):
    """A single-use voucher for one reward. ``code`` is short enough to read out or type."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="vouchers")
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vouchers"
    )
    price_points = models.PositiveIntegerField(_("points paid"))
    status = models.CharField(
        _("status"), max_length=20, choices=VoucherStatus.choices, default=VoucherStatus.ISSUED
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    redemption = models.OneToOneField(
        "ledger.Transaction", on_delete=models.PROTECT, related_name="voucher"
    )
    refund = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunded_voucher",
    )

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="store_voucher_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="used", used_at__isnull=False)
                | (~Q(status="used") & Q(used_at__isnull=True)),
                name="%(app_label)s_%(class)s_used_has_time",
                violation_error_message=_("A used voucher records when it was used."),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["cancelled", "expired"], refund__isnull=False)
                | (Q(status__in=["issued", "used"]) & Q(refund__isnull=True)),
                name="%(app_label)s_%(class)s_refund_when_returned",
                violation_error_message=_("Only a cancelled or expired voucher is refunded."),
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def permission_scope(self) -> Scope:
        return self.reward.permission_scope()
