"""Forms of the needs pages. The rules live in the services; forms parse what was typed and
carry the services' messages back to the fields, keeping everything the person entered."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhiyuan.needs.models import NeedCategory, ProxyRelation, Urgency
from zhiyuan.needs.services import RATING_TAGS
from zhiyuan.people.models import QualificationKind, Skill


def _choices(form: forms.Form, name: str, choices: Any) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def category_choices(tree: list[tuple[NeedCategory, list[NeedCategory]]]) -> list[Any]:
    """Grouped choices: each top-level entry is a group of its items (itself when it has none)."""
    choices: list[Any] = [("", _("— choose —"))]
    for top, items in tree:
        if items:
            choices.append(
                (
                    str(top),
                    [(c.pk, str(c)) for c in items]
                    + [(top.pk, _("Other: %(group)s") % {"group": top})],
                )
            )
        else:
            choices.append((top.pk, str(top)))
    return choices


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class NeedForm(forms.Form):
    category = forms.TypedChoiceField(label=_("What kind of help?"), coerce=int)
    description = forms.CharField(
        label=_("What is needed"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A few words: what, and anything the volunteer should know."),
    )
    urgency = forms.ChoiceField(
        label=_("How urgent?"),
        choices=Urgency.choices,
        initial=Urgency.ROUTINE,
        widget=forms.RadioSelect,
    )
    community = forms.CharField(label=_("Community"), widget=forms.HiddenInput)
    address = forms.CharField(
        label=_("Address"),
        max_length=200,
        required=False,
        help_text=_(
            "Building, unit and door. Only the dispatcher and the volunteers who accept see it."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput)
    window_start = forms.DateTimeField(
        label=_("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    window_end = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    people_needed = forms.IntegerField(
        label=_("How many volunteers?"), min_value=1, max_value=50, initial=1
    )
    use_my_phone = forms.BooleanField(
        label=_("Call me on my account's mobile number"), required=False, initial=True
    )
    contact_phone = forms.CharField(
        label=_("Or this phone number"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    skills = forms.MultipleChoiceField(
        label=_("Skills needed"), required=False, widget=forms.CheckboxSelectMultiple
    )
    qualifications = forms.MultipleChoiceField(
        label=_("Qualifications needed"),
        required=False,
        choices=QualificationKind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    health_details = forms.CharField(
        label=_("Health details the volunteer must know"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    photos_allowed = forms.BooleanField(
        label=_("Volunteers may take photos of the service as evidence"), required=False
    )
    for_someone_else = forms.BooleanField(
        label=_("I am posting for someone else (代点单)"), required=False
    )
    beneficiary_name = forms.CharField(label=_("Their name"), max_length=30, required=False)
    beneficiary_phone = forms.CharField(
        label=_("Their phone (mobile or landline)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
        help_text=_(
            "If they have a Zhiyuan account under this number, they can follow the need too."
        ),
    )
    proxy_relation = forms.ChoiceField(
        label=_("I am their"),
        required=False,
        choices=[(v, label) for v, label in ProxyRelation.choices if v != ProxyRelation.SELF],
    )

    def __init__(
        self, *args: Any, tree: Any = (), beneficiaries: Any = None, **kwargs: Any
    ) -> None:
        """``beneficiaries`` (``ledger.selectors.Beneficiaries``: whom the member may spend
        credit for) makes this a time-bank request: how much credit to spend, and for whom."""
        super().__init__(*args, **kwargs)
        _choices(self, "category", category_choices(list(tree)))
        _choices(self, "skills", [(s.code, str(s)) for s in Skill.objects.order_by("code")])
        if beneficiaries is not None:
            from zhiyuan.needs.timebank import MINUTE_CHOICES

            self.fields["timebank_minutes"] = forms.TypedChoiceField(
                label=_("Time credit to spend"),
                coerce=int,
                choices=[("", _("— choose —"))]
                + [(m, _("%(minutes)d minutes") % {"minutes": m}) for m in MINUTE_CHOICES],
                help_text=_(
                    "Taken from your time-bank account when you post; returned if the need is "
                    "cancelled, rejected or expires before the service starts."
                ),
            )
            from zhiyuan.ledger.forms import BeneficiaryField

            # Only the people the member may spend credit for (the region's withdrawal age);
            # the others are named on the page with the reason.
            self.fields["timebank_for"] = BeneficiaryField(
                label=_("For whom"), beneficiaries=beneficiaries
            )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False)


class LocationForm(forms.Form):
    lat = forms.FloatField(required=False, widget=forms.HiddenInput(attrs={"data-geo": "lat"}))
    lng = forms.FloatField(required=False, widget=forms.HiddenInput(attrs={"data-geo": "lng"}))


class CompleteForm(LocationForm):
    note = forms.CharField(
        label=_("What was done"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A short note for the resident and the centre."),
    )
    photos = MultipleFileField(
        label=_("Photos (JPEG or PNG, up to 6, 5 MB each)"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )


class RateForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How was it?"),
        coerce=int,
        choices=[
            (5, _("5 — excellent")),
            (4, _("4 — good")),
            (3, _("3 — all right")),
            (2, _("2 — poor")),
            (1, _("1 — bad")),
        ],
        widget=forms.RadioSelect,
    )
    tags = forms.MultipleChoiceField(
        label=_("What stood out?"),
        required=False,
        choices=list(RATING_TAGS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    comment = forms.CharField(
        label=_("Anything to add?"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FollowUpForm(forms.Form):
    note = forms.CharField(
        label=_("What was done"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[
            ("open", _("Waiting for dispatch")),
            ("dispatched", _("Dispatched, not accepted")),
            ("accepted", _("Accepted or in service")),
            ("active", _("All live needs")),
            ("closed", _("Closed needs")),
            ("all", _("Everything")),
        ],
    )
    area = forms.ChoiceField(label=_("Area"), required=False)
    category = forms.TypedChoiceField(
        label=_("Kind of help"), required=False, coerce=int, empty_value=None
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), required=False, choices=[("", _("Any")), *Urgency.choices]
    )
    older_than = forms.TypedChoiceField(
        label=_("Posted"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[
            ("", _("Any time")),
            (1, _("over an hour ago")),
            (24, _("over a day ago")),
            (72, _("over three days ago")),
        ],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def __init__(self, *args: Any, areas: Any = (), tops: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self,
            "area",
            [("", _("All my area"))]
            + [(r.code, ("— " if r.level == 5 else "") + r.name) for r in areas],
        )
        _choices(self, "category", [("", _("Any"))] + [(c.pk, str(c)) for c in tops])


class DashboardForm(forms.Form):
    area = forms.ChoiceField(label=_("Area"), required=False)
    period = forms.TypedChoiceField(
        label=_("Time period"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[
            (7, _("last 7 days")),
            (30, _("last 30 days")),
            (90, _("last 90 days")),
            (365, _("last year")),
        ],
    )

    def __init__(self, *args: Any, areas: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self,
            "area",
            [("", _("All my area"))]
            + [(r.code, ("— " if r.level == 5 else "") + r.name) for r in areas],
        )


class PolicyForm(forms.Form):
    teams_may_grab = forms.BooleanField(
        label=_("Verified teams may take open needs in their area"), required=False
    )
    low_rating = forms.TypedChoiceField(
        label=_("Open a follow-up for ratings at or below"),
        coerce=int,
        choices=[(n, str(n)) for n in range(1, 5)],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for urgency, label in Urgency.choices:
            for step, step_label in (
                ("review", _("minutes to review")),
                ("accept", _("minutes to accept")),
                ("start", _("minutes to start")),
            ):
                self.fields[f"{urgency}_{step}"] = forms.IntegerField(
                    label=_("%(urgency)s: %(step)s") % {"urgency": label, "step": step_label},
                    min_value=1,
                    max_value=60 * 24 * 30,
                )


class RecordOrganizationForm(forms.Form):
    organization = forms.TypedChoiceField(
        label=_("Organisation standing for the civilisation-practice centre"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_(
            "It records and certifies the service of needs the centre sends straight to "
            "volunteers. Left empty, the region above decides."
        ),
    )

    def __init__(self, *args: Any, organizations: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self,
            "organization",
            [("", _("(none named here)"))] + [(o.pk, o.name) for o in organizations],
        )


class CategoryForm(forms.Form):
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=60)
    name_en = forms.CharField(label=_("Name (English)"), max_length=80)
    parent = forms.TypedChoiceField(label=_("Group"), required=False, coerce=int, empty_value=None)
    skill_code = forms.ChoiceField(label=_("Usual skill"), required=False)

    def __init__(self, *args: Any, tops: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self, "parent", [("", _("(a new top-level group)"))] + [(c.pk, str(c)) for c in tops]
        )
        _choices(
            self,
            "skill_code",
            [("", "—")] + [(s.code, str(s)) for s in Skill.objects.order_by("code")],
        )
