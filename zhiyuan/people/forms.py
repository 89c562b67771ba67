"""Forms of the people pages. Validation rules live in the services; forms parse input and
carry the services' messages back to the fields, keeping everything the person typed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhiyuan.people.identity import DocumentType, Sex
from zhiyuan.people.models import SLOT_PARTS, Qualification, QualificationKind, Skill

DAYS = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))


class RegistrationForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    code = forms.CharField(
        label=_("Code from the text message"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    name = forms.CharField(
        label=_("Real name"), max_length=30, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    document_type = forms.ChoiceField(
        label=_("Document"), choices=DocumentType.choices, initial=DocumentType.RESIDENT_ID
    )
    document_number = forms.CharField(
        label=_("Document number"),
        max_length=30,
        help_text=_("For a resident ID card, birth date and sex are read from the number."),
    )
    birth_date = forms.DateField(
        label=_("Birth date (other documents only)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sex = forms.ChoiceField(
        label=_("Sex (other documents only)"),
        required=False,
        choices=[("", "—"), *Sex.choices],
    )
    # The picker's hidden field; the view reads the deepest choice (regions.views.picked_region).
    community = forms.CharField(
        label=_("Community where you live"), widget=forms.HiddenInput, required=False
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=True),
        help_text=_("At least 8 characters; not a common password and not only digits."),
    )
    guardian_phone = forms.CharField(
        label=_("Guardian's mobile number (under 18 only)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    guardian_relation = forms.CharField(
        label=_("Guardian is my (under 18 only)"),
        max_length=20,
        required=False,
        help_text=_("For example: father, mother, grandmother."),
    )
    accept_notice = forms.IntegerField(widget=forms.HiddenInput, required=False)
    agree = forms.BooleanField(
        label=_("I have read and accept the privacy notice."), required=False
    )


class ProfileForm(forms.Form):
    max_travel_km = forms.IntegerField(
        label=_("How far I will travel (km)"), min_value=1, max_value=100
    )
    emergency_ok = forms.BooleanField(label=_("I can be called out in emergencies"), required=False)
    address = forms.CharField(
        label=_("Home address (kept encrypted)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    languages = forms.CharField(
        label=_("Languages and dialects"),
        max_length=200,
        required=False,
        help_text=_("Separate with commas, for example: 普通话, 粤语, English."),
    )
    tags = forms.CharField(
        label=_("Other skills"),
        max_length=300,
        required=False,
        help_text=_("Separate with commas."),
    )
    home_lat = forms.FloatField(
        label=_("Home point: latitude"),
        required=False,
        min_value=3.0,
        max_value=54.0,
        help_text=_("Used only to find service near you; “Use my location” fills it in."),
    )
    home_lng = forms.FloatField(
        label=_("Home point: longitude"), required=False, min_value=73.0, max_value=136.0
    )
    party_member = forms.BooleanField(label=_("I am a Communist Party member"), required=False)
    party_organization = forms.CharField(
        label=_("My party organisation"), max_length=120, required=False
    )
    workplace = forms.CharField(label=_("Workplace"), max_length=120, required=False)

    @staticmethod
    def split(value: str) -> list[str]:
        parts = [p.strip() for p in value.replace("，", ",").replace("、", ",").split(",")]
        return list(dict.fromkeys(p[:30] for p in parts if p))[:20]


class SkillsForm(forms.Form):
    skills = forms.ModelMultipleChoiceField(
        label=_("Skills"),
        queryset=Skill.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class AvailabilityForm(forms.Form):
    """21 check boxes: each day of the week, morning, afternoon and evening."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, day_label in enumerate(DAYS):
            for part, part_label in enumerate(SLOT_PARTS):
                self.fields[f"slot_{day * 3 + part}"] = forms.BooleanField(
                    label=f"{day_label} {part_label}", required=False
                )

    @classmethod
    def initial_for(cls, availability: int) -> dict[str, bool]:
        return {f"slot_{s}": bool(availability >> s & 1) for s in range(21)}

    def bitmask(self) -> int:
        return sum(1 << s for s in range(21) if self.cleaned_data.get(f"slot_{s}"))

    def grid(self) -> list[tuple[str, list[Any]]]:
        return [
            (str(label), [self[f"slot_{d * 3 + p}"] for p in range(3)])
            for d, label in enumerate(DAYS)
        ]


class QualificationForm(forms.ModelForm):
    class Meta:
        model = Qualification
        fields = ["kind", "title", "issuer", "number", "valid_until"]
        widgets = {"valid_until": forms.DateInput(attrs={"type": "date"})}
        labels = {"kind": _("Qualification")}

    kind = forms.ChoiceField(label=_("Qualification"), choices=QualificationKind.choices)


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PhoneChangeForm(forms.Form):
    new_phone = forms.CharField(
        label=_("New mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    code = forms.CharField(label=_("Code sent to the new number"), max_length=6, required=False)
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}, render_value=True),
    )


class UnmaskForm(forms.Form):
    field = forms.ChoiceField(
        choices=[
            ("phone", _("Mobile number")),
            ("document_number", _("Document number")),
            ("address", _("Home address")),
        ]
    )
    reason = forms.CharField(label=_("Why do you need to see it in full?"), max_length=200)
