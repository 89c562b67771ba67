"""Forms of the region's recording rules and of revoking a certificate. They only parse: the
rules themselves (ranges, increasing thresholds) are checked by the services, so the page and
the API refuse the same things with the same words."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from zhiyuan.records.models import RevokeReason, RoundingMode
from zhiyuan.records.rules import Rules

STARS = range(1, 6)


class RuleForm(forms.Form):
    rounding_unit = forms.IntegerField(
        label=_("Round service time to (minutes)"),
        help_text=_("1 counts every whole minute (the national default)."),
    )
    rounding_mode = forms.ChoiceField(label=_("Rounding"), choices=RoundingMode.choices)
    daily_cap_minutes = forms.IntegerField(
        label=_("Most minutes credited per day"), help_text=_("Between 60 and 1440.")
    )
    confirm_days = forms.IntegerField(label=_("Days the organiser has to confirm a record"))
    auto_confirm_clean = forms.BooleanField(
        label=_("At the deadline, confirm records with code or geofence evidence and no flag"),
        required=False,
    )
    checkout_grace_minutes = forms.IntegerField(
        label=_("Close a forgotten check-out this many minutes after the shift ends"),
        help_text=_("It is closed at the shift's end and flagged for the confirmer."),
    )
    far_checkin_m = forms.IntegerField(
        label=_("Flag check-ins farther than (metres)"),
        help_text=_("0 uses each activity's own check-in radius."),
    )
    burst_seconds = forms.IntegerField(label=_("Burst window (seconds)"))
    burst_count = forms.IntegerField(
        label=_("Flag when this many people check in within the window without the code")
    )
    note = forms.CharField(
        label=_("Why the rules change"),
        max_length=200,
        required=False,
        help_text=_("Kept with this version of the rules."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for star in STARS:
            self.fields[f"star_{star}_hours"] = forms.IntegerField(
                label=_("Hours for %(n)d stars") % {"n": star}
            )
            self.fields[f"star_{star}_months"] = forms.IntegerField(
                label=_("Months of service for %(n)d stars") % {"n": star}, min_value=0
            )

    @classmethod
    def initial_from(cls, rules: Rules) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(rules, name)
            for name in (
                "rounding_unit",
                "rounding_mode",
                "daily_cap_minutes",
                "confirm_days",
                "auto_confirm_clean",
                "checkout_grace_minutes",
                "far_checkin_m",
                "burst_seconds",
                "burst_count",
            )
        }
        for index, star in enumerate(STARS):
            initial[f"star_{star}_hours"] = rules.star_hours[index]
            initial[f"star_{star}_months"] = (
                rules.star_min_months[index] if index < len(rules.star_min_months) else 0
            )
        return initial

    def star_rows(self) -> list[tuple[int, Any, Any]]:
        return [(s, self[f"star_{s}_hours"], self[f"star_{s}_months"]) for s in STARS]

    def rule_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("note", None)
        data["star_hours"] = [data.pop(f"star_{s}_hours") for s in STARS]
        data["star_min_months"] = [data.pop(f"star_{s}_months") for s in STARS]
        return data

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put the service's reasons next to the fields they are about."""
        if not hasattr(exc, "error_dict"):
            for message in exc.messages:
                self.add_error(None, message)
            return
        targets = {"star_hours": "star_1_hours", "star_min_months": "star_1_months"}
        for field, errors in exc.error_dict.items():
            target = targets.get(field, field)
            for error in errors:
                self.add_error(target if target in self.fields else None, error)


class RevokeForm(forms.Form):
    category = forms.ChoiceField(
        label=_("Why it is revoked (shown on the public check)"), choices=RevokeReason.choices
    )
    note = forms.CharField(
        label=_("Note for the volunteer and your organisation"),
        help_text=_("Not shown on the public check."),
        max_length=200,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
