"""The matching app reads volunteers, needs and shifts and writes needs only through the needs
app's services. Its one table is each region's automatic "fill all open needs" switch; what it
does is in the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.permissions import Scope

#: Minutes between automatic runs unless the dispatcher chooses otherwise. Offers wait up to
#: the need's acceptance limit (an hour or more for routine needs); a new need waiting ten
#: minutes for the next run is within what a dispatcher at the desk would take, and a run on a
#: district takes well under a second.
AUTOFILL_DEFAULT_MINUTES = 10
AUTOFILL_MIN_MINUTES = 5
AUTOFILL_MAX_MINUTES = 24 * 60


@audit_actions
class MatchingAudit(models.TextChoices):
    """What the matching app writes to the audit log (counts and identifiers only)."""

    REGION_FILLED = "matching.region_filled", _("Open needs filled by the matching engine")
    REGION_AUTOFILLED = (
        "matching.region_autofilled",
        _("Open needs filled by the automatic run of the matching engine"),
    )
    AUTOFILL_CHANGED = "matching.autofill_changed", _("Automatic fill switched on or off")


class AutoFillOutcome(models.TextChoices):
    """What an automatic run did."""

    DISPATCHED = "dispatched", _("Offers sent")
    NOTHING = "nothing", _("Nothing to dispatch")
    PROBLEM = "problem", _("Could not solve")
    STOPPED = "stopped", _("Stopped: the dispatcher who switched it on may no longer dispatch here")


class AutoFill(models.Model):
    """A region's automatic "fill all open needs": whether it runs, every how many minutes, on
    whose standing order, and what the last run did (counts and need ids, no personal data)."""

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="matching_autofill"
    )
    enabled = models.BooleanField(_("runs automatically"), default=False)
    interval_minutes = models.PositiveSmallIntegerField(
        _("minutes between runs"), default=AUTOFILL_DEFAULT_MINUTES
    )
    # The dispatcher who last switched it on or off. Runs dispatch on their authority, checked
    # afresh at every run.
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(
        max_length=12, choices=AutoFillOutcome.choices, blank=True, default=""
    )
    last_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("automatic fill")
        verbose_name_plural = _("automatic fills")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interval_minutes__gte=AUTOFILL_MIN_MINUTES)
                & models.Q(interval_minutes__lte=AUTOFILL_MAX_MINUTES),
                name="%(app_label)s_%(class)s_interval_in_range",
                violation_error_message=_("Choose between 5 and 1440 minutes."),
            )
        ]

    def __str__(self) -> str:
        return self.region_id

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)
