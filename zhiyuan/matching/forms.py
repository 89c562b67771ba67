"""The forms of the matching pages: which region to fill, and its automatic fill."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class FillForm(forms.Form):
    """The community (or street, or district) whose open needs to fill."""

    region = forms.CharField(label=_("Community"), max_length=12)

    def clean_region(self) -> Any:
        from zhiyuan.regions.models import Region

        region = Region.objects.filter(pk=self.cleaned_data["region"]).first()
        if region is None:
            raise forms.ValidationError(_("Choose a community."))
        return region


class AutoFillForm(forms.Form):
    """A region's automatic fill: on or off, and every how many minutes. One per region on the
    page, told apart by the region code as prefix."""

    enabled = forms.BooleanField(label=_("Fill automatically"), required=False)
    interval_minutes = forms.IntegerField(
        label=_("Every (minutes)"),
        min_value=5,
        max_value=24 * 60,
        help_text=_("Between 5 and 1440 minutes."),
    )
