from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class PreferenceForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), required=False)
    email_on = forms.BooleanField(label=_("Also send every message by e-mail"), required=False)
    sms_on = forms.BooleanField(
        label=_("Send urgent messages by text message to my mobile number"), required=False
    )
