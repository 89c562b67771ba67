"""The one form of the matching pages: which region to fill."""

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
