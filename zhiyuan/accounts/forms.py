"""The log-in form: a mobile number and a password."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile


class PhoneLoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "tel", "inputmode": "tel", "autofocus": True}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    error_messages = {
        "invalid_login": _("The mobile number or the password is not right. Please try again."),
        "inactive": _("This account is closed or disabled."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Mobile number")

    def clean_username(self) -> str:
        try:
            return normalize_mobile(self.cleaned_data.get("username", ""))
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc), code="invalid_phone") from exc
