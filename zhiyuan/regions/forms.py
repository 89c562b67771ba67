from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class RegionImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Region file (CSV: code, name, parent code)"),
        help_text=gettext_lazy(
            "UTF-8 text, at most 20 MB. The whole file is imported or none of it."
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is None:
            return data
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        try:
            data["text"] = upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from exc
        return data
