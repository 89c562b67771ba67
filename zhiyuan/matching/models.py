"""The matching app keeps no tables of its own: it reads volunteers, needs and shifts, and
writes only through the needs app's services. What it records is in the audit log."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions


@audit_actions
class MatchingAudit(models.TextChoices):
    """What the matching app writes to the audit log (counts and identifiers only)."""

    REGION_FILLED = "matching.region_filled", _("Open needs filled by the matching engine")
