"""Forms of the organisation pages. They parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.forms import CHOOSE
from zhiyuan.organizations.models import (
    MemberRole,
    Organization,
    OrganizationStatus,
    ServiceField,
)
from zhiyuan.organizations.services import REGISTRABLE_KINDS
from zhiyuan.regions.codes import Level
from zhiyuan.regions.models import Region


class RegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


def service_area_choices() -> Any:
    return Region.objects.filter(level__gte=Level.DISTRICT).order_by("code")


class RegistrationForm(forms.Form):
    name = forms.CharField(label=_("Name of the organisation"), max_length=120)
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[(k.value, k.label) for k in REGISTRABLE_KINDS],
    )
    credit_code = forms.CharField(
        label=_("Unified social credit code"),
        max_length=24,
        required=False,
        help_text=_(
            "18 characters, from the registration certificate. A school or enterprise team gives "
            "its school's or enterprise's code. A grassroots team without one names a sponsor."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    legal_representative = forms.CharField(
        label=_("Legal representative (for a team: its leader)"), max_length=60
    )
    contact_name = forms.CharField(label=_("Contact person"), max_length=60)
    contact_phone = forms.CharField(
        label=_("Contact mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    region = RegionChoiceField(
        label=_("Service area"),
        queryset=Region.objects.none(),
        help_text=_("The district, street or community the organisation serves."),
    )
    service_fields = forms.MultipleChoiceField(
        label=_("Fields of service"),
        choices=ServiceField.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(
        label=_("What the organisation does"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    sponsor = forms.ModelChoiceField(
        empty_label=CHOOSE,
        label=_("Sponsoring organisation"),
        queryset=Organization.objects.none(),
        required=False,
        help_text=_("For a grassroots team without a credit code: a verified organisation."),
    )
    sponsor_region = RegionChoiceField(
        label=_("Or sponsoring community"),
        queryset=Region.objects.none(),
        required=False,
        help_text=_("For a grassroots team without a credit code: its residents' committee."),
    )
    certificate = forms.FileField(
        label=_("Registration certificate"),
        required=False,
        help_text=_("A PDF, JPEG or PNG of at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = service_area_choices()  # type: ignore[attr-defined]
        self.fields["sponsor"].queryset = Organization.objects.filter(  # type: ignore[attr-defined]
            status=OrganizationStatus.VERIFIED, parent__isnull=True
        ).order_by("name")
        self.fields["sponsor_region"].queryset = Region.objects.filter(  # type: ignore[attr-defined]
            level=Level.COMMUNITY
        ).order_by("code")

    @classmethod
    def initial_from(cls, org: Organization) -> dict[str, Any]:
        return {
            "name": org.name,
            "kind": org.kind,
            "credit_code": org.credit_code or "",
            "legal_representative": org.legal_representative,
            "contact_name": org.contact_name,
            "contact_phone": org.contact_phone,
            "region": org.region_id,
            "service_fields": org.service_fields,
            "description": org.description,
            "sponsor": org.sponsor_id,
            "sponsor_region": org.sponsor_region_id,
        }


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the registration is rejected"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CertificateForm(forms.Form):
    certificate = forms.FileField(
        label=_("Registration certificate"),
        help_text=_("A PDF, JPEG or PNG of at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=120)
    region = RegionChoiceField(label=_("Service area"), queryset=Region.objects.none())

    def __init__(self, *args: Any, parent: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        low, high = parent.region.subtree_range
        self.fields["region"].queryset = Region.objects.filter(  # type: ignore[attr-defined]
            code__range=(low, high)
        ).order_by("code")
        self.fields["region"].initial = parent.region_id


class InviteForm(forms.Form):
    volunteer_number = forms.CharField(
        label=_("Volunteer number"),
        max_length=12,
        help_text=_("The 12-digit number on the volunteer's card or profile."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    message = forms.CharField(label=_("Message"), max_length=200, required=False)


class ApplyForm(forms.Form):
    message = forms.CharField(
        label=_("A word about yourself (optional)"), max_length=200, required=False
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=MemberRole.choices)


class RecruitmentCallForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(
        label=_("What volunteers will do"), widget=forms.Textarea(attrs={"rows": 4})
    )
    risks = forms.CharField(
        label=_("Risks of the service"),
        required=False,
        help_text=_("Regulations Art. 12: a call states the risks truthfully."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    closes_on = forms.DateField(
        label=_("Applications close"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
