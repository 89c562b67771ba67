"""Forms of the activities pages: they parse; the services decide."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.activities.models import Approval, Project, Recurrence
from zhiyuan.activities.timebank import timebank_item_choices
from zhiyuan.core.forms import CHOOSE
from zhiyuan.organizations.models import Organization
from zhiyuan.people.models import QualificationKind, Skill
from zhiyuan.regions.models import Region
from zhiyuan.safeguards.models import ActivityType

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class BrowseForm(forms.Form):
    mine = forms.BooleanField(label=_("Only my organisations"), required=False)
    km = forms.IntegerField(label=_("Within (km)"), min_value=1, max_value=100, required=False)
    day = forms.DateField(label=_("On the day"), required=False, widget=DATE)
    skill = forms.ModelChoiceField(
        empty_label=CHOOSE,
        label=_("Skill"),
        queryset=Skill.objects.all(),
        required=False,
        to_field_name="code",
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", "—"), *ActivityType.choices], required=False
    )


class ProjectForm(forms.Form):
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE, label=_("Organisation"), queryset=Organization.objects.none()
    )
    title = forms.CharField(label=_("Title"), max_length=120)
    goal = forms.CharField(label=_("Goal"), widget=forms.Textarea(attrs={"rows": 3}))
    starts_on = forms.DateField(label=_("First day"), widget=DATE)
    ends_on = forms.DateField(label=_("Last day"), widget=DATE)
    beneficiaries = forms.CharField(label=_("Who it serves"), max_length=200)
    people_served = forms.IntegerField(
        label=_("Target: people served"), min_value=0, required=False
    )
    service_hours = forms.IntegerField(
        label=_("Target: hours of service"), min_value=0, required=False
    )
    priority_tags = forms.CharField(
        label=_("Local priorities served"),
        required=False,
        help_text=_("Separate them with commas, e.g. elder care, waste sorting."),
    )

    def __init__(self, *args: Any, organizations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations  # type: ignore[attr-defined]


class ActivityForm(forms.Form):
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE, label=_("Organisation"), queryset=Organization.objects.none()
    )
    project = forms.ModelChoiceField(
        empty_label=CHOOSE, label=_("Project"), queryset=Project.objects.none(), required=False
    )
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("What volunteers will do"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    risks = forms.CharField(
        label=_("Risks of the activity"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    activity_type = forms.ChoiceField(label=_("Kind"), choices=ActivityType.choices)
    region = forms.ModelChoiceField(
        empty_label=CHOOSE,
        label=_("Where (community)"),
        queryset=Region.objects.filter(level__gte=4),
    )
    place_name = forms.CharField(label=_("Place"), max_length=200)
    lat = forms.FloatField(label=_("Latitude"), min_value=-90, max_value=90)
    lng = forms.FloatField(label=_("Longitude"), min_value=-180, max_value=180)
    datum = forms.ChoiceField(
        label=_("Coordinates from"),
        choices=[("wgs84", _("GPS (WGS-84)")), ("gcj02", _("A Chinese map (GCJ-02)"))],
        initial="wgs84",
    )
    checkin_radius_m = forms.IntegerField(
        label=_("Check-in radius (m)"), min_value=10, max_value=5000, initial=200
    )
    allow_far_checkin = forms.BooleanField(
        label=_("Accept check-ins outside the radius, flagged"), required=False
    )
    starts_at = forms.DateTimeField(label=_("Starts"), widget=DATETIME)
    ends_at = forms.DateTimeField(label=_("Ends"), widget=DATETIME)
    capacity = forms.IntegerField(label=_("Seats"), min_value=1, max_value=100000, initial=10)
    min_staff = forms.IntegerField(
        label=_("Fewest people needed"), min_value=0, required=False, initial=0
    )
    recurrence = forms.ChoiceField(label=_("Repeats"), choices=Recurrence.choices)
    repeat_until = forms.DateField(label=_("Repeat until"), required=False, widget=DATE)
    approval = forms.ChoiceField(label=_("Approval"), choices=Approval.choices)
    skills = forms.ModelMultipleChoiceField(
        label=_("Skills needed"),
        queryset=Skill.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    qualifications = forms.MultipleChoiceField(
        label=_("Qualifications needed (valid on the day)"),
        choices=QualificationKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    min_age = forms.IntegerField(label=_("Minimum age"), min_value=1, max_value=99, required=False)
    no_minors = forms.BooleanField(label=_("No minors"), required=False)
    insurance_required = forms.BooleanField(
        label=_("Insurance cover required"), required=False, initial=True
    )
    emergency = forms.BooleanField(label=_("Emergency call-out"), required=False)
    time_bank = forms.BooleanField(label=_("Counts for the time bank"), required=False)
    timebank_item = forms.ChoiceField(
        label=_("Time-bank service item"),
        required=False,
        help_text=_(
            "Where the community's time bank prices service items, each confirmed record "
            "deposits the item's price instead of the hours served."
        ),
        error_messages={
            "invalid_choice": _(
                "No time-bank service item with the code “%(value)s” is priced where your "
                "organisations serve."
            )
        },
    )
    agreement_marked = forms.BooleanField(
        label=_("The organiser requires an agreement"), required=False
    )
    high_risk = forms.BooleanField(label=_("High risk to safety or health"), required=False)
    large_scale = forms.BooleanField(label=_("Large-scale event"), required=False)
    outside_city = forms.BooleanField(label=_("Outside the city"), required=False)
    foreign_participants = forms.BooleanField(label=_("Foreign participants"), required=False)

    def __init__(self, *args: Any, organizations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations  # type: ignore[attr-defined]
        self.fields["project"].queryset = Project.objects.filter(  # type: ignore[attr-defined]
            organization__in=organizations
        )
        regions = {o.region_id for o in organizations}
        self.fields["timebank_item"].choices = [  # type: ignore[attr-defined]
            ("", _("None: price by hours served")),
            *timebank_item_choices(sorted(regions)),
        ]
        if not self.is_bound:
            start = (timezone.localtime() + dt.timedelta(days=3)).replace(
                hour=9, minute=0, second=0, microsecond=0
            )
            self.initial.setdefault("starts_at", start)
            self.initial.setdefault("ends_at", start + dt.timedelta(hours=3))


class TimeBankItemForm(forms.Form):
    """The service item an existing time-bank activity provides (the service decides)."""

    timebank_item = forms.ChoiceField(
        label=_("Time-bank service item"),
        required=False,
        help_text=_(
            "Records confirmed from now on deposit the item's price; credit already deposited "
            "stays as it was."
        ),
        error_messages={
            "invalid_choice": _(
                "No time-bank service item with the code “%(value)s” is priced for this "
                "community or the regions above it."
            )
        },
    )

    def __init__(self, *args: Any, region_code: str, **kwargs: Any) -> None:
        from zhiyuan.ledger.selectors import timebank_items_for

        super().__init__(*args, **kwargs)
        self.fields["timebank_item"].choices = [  # type: ignore[attr-defined]
            ("", _("None: price by hours served")),
            *(
                (
                    i.code,
                    _("%(name)s (%(code)s): %(minutes)s minutes")
                    % {"name": i.name, "code": i.code, "minutes": i.minutes},
                )
                for i in timebank_items_for(region_code)
            ),
        ]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class ScanForm(forms.Form):
    code = forms.CharField(label=_("Check-in code"), max_length=120)
    action = forms.ChoiceField(choices=[("in", "in"), ("out", "out")], widget=forms.HiddenInput)


class HereForm(forms.Form):
    lat = forms.FloatField(widget=forms.HiddenInput)
    lng = forms.FloatField(widget=forms.HiddenInput)
    accuracy = forms.FloatField(widget=forms.HiddenInput, required=False)
    datum = forms.ChoiceField(
        choices=[("wgs84", "wgs84"), ("gcj02", "gcj02")], widget=forms.HiddenInput, initial="wgs84"
    )
    action = forms.ChoiceField(choices=[("in", "in"), ("out", "out")], widget=forms.HiddenInput)
