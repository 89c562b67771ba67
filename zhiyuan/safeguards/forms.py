"""Forms of the safeguards pages. They parse; the services decide."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.forms import CHOOSE
from zhiyuan.organizations.forms import RegionChoiceField
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.regions.codes import Level
from zhiyuan.regions.models import Region
from zhiyuan.safeguards.models import (
    ActivityType,
    CaseCategory,
    CaseOutcome,
    ClaimStatus,
    CoverBasis,
    IncidentSeverity,
    SanctionKind,
    SubjectKind,
)

DATE = forms.DateInput(attrs={"type": "date"})
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class MultiFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiFileField(forms.FileField):
    widget = MultiFileInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class PolicyForm(forms.Form):
    insurer = forms.CharField(label=_("Insurer"), max_length=120)
    policy_number = forms.CharField(label=_("Policy number"), max_length=60)
    starts_on = forms.DateField(label=_("First day of cover"), widget=DATE)
    ends_on = forms.DateField(label=_("Last day of cover"), widget=DATE)
    cover_death = forms.DecimalField(label=_("Cover for death (yuan)"), min_value=0)
    cover_disability = forms.DecimalField(label=_("Cover for disability (yuan)"), min_value=0)
    cover_medical = forms.DecimalField(label=_("Cover for medical costs (yuan)"), min_value=0)
    basis = forms.ChoiceField(
        label=_("Who is covered"), choices=CoverBasis.choices, widget=forms.RadioSelect
    )
    activity_types = forms.MultipleChoiceField(
        label=_("Activity types covered"),
        choices=ActivityType.choices,
        required=False,
        help_text=_("Leave empty when the policy covers every type of activity."),
        widget=forms.CheckboxSelectMultiple,
    )


class VolunteerNumberForm(forms.Form):
    volunteer_number = forms.CharField(
        label=_("Volunteer number"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )


class IncidentForm(forms.Form):
    occurred_at = forms.DateTimeField(label=_("When it happened"), widget=DATETIME)
    activity_type = forms.ChoiceField(label=_("Activity type"), choices=ActivityType.choices)
    severity = forms.ChoiceField(label=_("Severity"), choices=IncidentSeverity.choices)
    volunteer_number = forms.CharField(
        label=_("Volunteer number of the person hurt"), max_length=12, required=False
    )
    activity_key = forms.CharField(label=_("Activity"), max_length=100, required=False)
    description = forms.CharField(
        label=_("What happened"), widget=forms.Textarea(attrs={"rows": 3})
    )


class ClaimForm(forms.Form):
    amount_claimed = forms.DecimalField(label=_("Amount claimed (yuan)"), min_value=0)
    insurer_reference = forms.CharField(
        label=_("Insurer's claim number"), max_length=60, required=False
    )


class ClaimDecisionForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Insurer's answer"),
        choices=[
            (ClaimStatus.APPROVED, ClaimStatus.APPROVED.label),
            (ClaimStatus.PAID, ClaimStatus.PAID.label),
            (ClaimStatus.DENIED, ClaimStatus.DENIED.label),
        ],
    )
    amount_paid = forms.DecimalField(label=_("Amount paid (yuan)"), min_value=0, required=False)


class UncoveredForm(forms.Form):
    activity_type = forms.ChoiceField(label=_("Activity type"), choices=ActivityType.choices)
    first_day = forms.DateField(label=_("First day"), widget=DATE)
    last_day = forms.DateField(label=_("Last day"), widget=DATE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("first_day") and data.get("last_day") and data["last_day"] < data["first_day"]:
            raise forms.ValidationError(_("The last day comes before the first."))
        return data


class AgreementForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 8}))


class AgreementVersionForm(forms.Form):
    body = forms.CharField(label=_("New text"), widget=forms.Textarea(attrs={"rows": 8}))


class ReportForm(forms.Form):
    """The public complaint and report form (Art. 26): no account needed."""

    category = forms.ChoiceField(
        label=_("What happened"), choices=CaseCategory.choices, widget=forms.RadioSelect
    )
    subject_kind = forms.ChoiceField(
        label=_("Who or what is it about"), choices=SubjectKind.choices, widget=forms.RadioSelect
    )
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE,
        label=_("Organisation"),
        queryset=Organization.objects.none(),
        required=False,
        help_text=_("The organisation concerned, or the one running the activity."),
    )
    subject_detail = forms.CharField(
        label=_("Which activity or person"),
        max_length=200,
        required=False,
        help_text=_("The activity's name and date, or how the person can be recognised."),
    )
    region = RegionChoiceField(
        label=_("Where it happened"),
        queryset=Region.objects.none(),
        required=False,
        help_text=_("Needed when no organisation is chosen."),
    )
    description = forms.CharField(
        label=_("What happened, in your words"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    amount_charged = forms.DecimalField(
        label=_("Amount charged (yuan)"),
        min_value=0,
        required=False,
        help_text=_("For charging: how much was asked or paid."),
    )
    evidence = MultiFileField(
        label=_("Evidence (photos, documents)"),
        required=False,
        help_text=_("Up to 5 files: PDF, JPEG or PNG, at most 5 MB each."),
        widget=MultiFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )
    reporter_name = forms.CharField(label=_("Your name (optional)"), max_length=60, required=False)
    reporter_contact = forms.CharField(
        label=_("How to reach you (optional)"),
        max_length=100,
        required=False,
        help_text=_(
            "A phone number or e-mail. Kept encrypted and never shown to the party you report."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.exclude(  # type: ignore[attr-defined]
            status=OrganizationStatus.REJECTED
        ).order_by("name")
        self.fields["region"].queryset = Region.objects.filter(  # type: ignore[attr-defined]
            level__gte=Level.DISTRICT
        ).order_by("code")


class FollowForm(forms.Form):
    code = forms.CharField(
        label=_("Follow-up code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class DecideForm(VersionForm):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=CaseOutcome.choices)
    public_summary = forms.CharField(
        label=_("What the reporter is told"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The reporter reads this with their code. Name nobody."),
    )
    note = forms.CharField(
        label=_("Internal note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Internal note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    public_note = forms.CharField(
        label=_("Message to the reporter (optional)"), required=False, max_length=500
    )


class SanctionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Sanction"), choices=SanctionKind.choices)
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For an organisation the reason is published on the public sanctions page."),
    )
    ends_at = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=DATETIME,
        help_text=_("Required for a suspension; none for deregistration or a ban."),
    )

    def __init__(self, *args: Any, party_kinds: tuple[str, ...] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if party_kinds is not None:
            self.fields["kind"].choices = [  # type: ignore[attr-defined]
                (k, label) for k, label in SanctionKind.choices if k in party_kinds
            ]
        if not self.is_bound:
            self.fields["ends_at"].initial = (timezone.localtime() + timedelta(days=30)).replace(
                second=0, microsecond=0
            )


class LiftForm(forms.Form):
    lift_reason = forms.CharField(label=_("Why it is lifted"), max_length=500)
