from __future__ import annotations

import json
import uuid
from typing import Any, cast

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhiyuan.core.forms import CHOOSE
from zhiyuan.ledger.models import Elder, ElderReason, Relation, Relative
from zhiyuan.ledger.rules import RuleError, RuleParams


def new_request_key() -> str:
    """A fresh idempotency key for a form: the same form sent twice books once."""
    return f"web-{uuid.uuid4().hex}"


class KeyedForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", new_request_key())


class MinutesField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", gettext_lazy("Minutes"))
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 1_000_000)
        super().__init__(**kwargs)


class TransferForm(KeyedForm):
    relative = forms.ModelChoiceField(
        empty_label=CHOOSE, queryset=Relative.objects.none(), label=gettext_lazy("To my relative")
    )
    minutes = MinutesField()

    def __init__(self, *args: Any, relatives: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if relatives is not None:
            self.fields["relative"].queryset = relatives  # type: ignore[attr-defined]


class DonationForm(KeyedForm):
    elder = forms.ModelChoiceField(
        queryset=Elder.objects.none(),
        required=False,
        label=gettext_lazy("To"),
        empty_label=gettext_lazy("The public fund"),
    )
    minutes = MinutesField()

    def __init__(self, *args: Any, elders: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if elders is not None:
            self.fields["elder"].queryset = elders  # type: ignore[attr-defined]
        self.fields["elder"].label_from_instance = lambda e: e.user.name  # type: ignore[attr-defined]


class BeneficiaryField(forms.ChoiceField):
    """For whom time credit is spent: only the people the member may spend for are offered
    (``selectors.timebank_beneficiaries``); someone refused, sent anyway, is answered with the
    reason rather than "not a valid choice"."""

    def __init__(self, *, beneficiaries: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("label", gettext_lazy("For whom"))
        super().__init__(**kwargs)
        self.barred: dict[str, str] = {}
        if beneficiaries is not None:
            self.offer(beneficiaries)

    def offer(self, beneficiaries: Any) -> None:
        choices = beneficiaries.choices()
        self.choices = choices
        self.barred = beneficiaries.reasons()
        if len(choices) == 1:
            self.initial = choices[0][0]

    def validate(self, value: Any) -> None:
        if value in self.barred:
            raise forms.ValidationError(self.barred[value], code="barred")
        super().validate(value)


class WithdrawalForm(KeyedForm):
    beneficiary = BeneficiaryField()
    minutes = MinutesField()
    note = forms.CharField(label=gettext_lazy("What is needed"), max_length=200)

    def __init__(self, *args: Any, beneficiaries: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.beneficiaries = beneficiaries
        if beneficiaries is not None:
            cast(BeneficiaryField, self.fields["beneficiary"]).offer(beneficiaries)

    def relative(self) -> Relative | None:
        """The relative chosen, or None for the member themself."""
        value = self.cleaned_data["beneficiary"]
        for person in self.beneficiaries.allowed if self.beneficiaries else []:
            if person.value == value:
                return cast(Relative | None, person.relative)
        return None


class RulesForm(forms.Form):
    effective_from = forms.DateTimeField(
        label=gettext_lazy("In force from"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    default_coefficient = forms.IntegerField(
        label=gettext_lazy("Points per hour of service"), min_value=0, max_value=1000, initial=10
    )
    coefficients = forms.CharField(
        label=gettext_lazy("Points per hour by category (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy('For example {"elder-care": 12, "cleaning": 8}'),
    )
    urgent_bonus_pct = forms.IntegerField(
        label=gettext_lazy("Bonus for urgent needs (%)"), min_value=0, max_value=500, initial=20
    )
    emergency_bonus_pct = forms.IntegerField(
        label=gettext_lazy("Bonus for emergencies (%)"), min_value=0, max_value=500, initial=50
    )
    cap_per_activity = forms.IntegerField(
        label=gettext_lazy("Most points for one activity"), min_value=0, initial=200
    )
    cap_per_day = forms.IntegerField(
        label=gettext_lazy("Most points in one day"), min_value=0, initial=100
    )
    no_show_penalty = forms.IntegerField(
        label=gettext_lazy("Points taken for a no-show"), min_value=0, initial=10
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)

    def clean_coefficients(self) -> dict[str, int]:
        text = (self.cleaned_data.get("coefficients") or "").strip() or "{}"
        try:
            value = json.loads(text)
            RuleParams.from_dict({"coefficients": value})
        except (ValueError, RuleError) as exc:
            raise forms.ValidationError(
                _("Write a JSON object of category codes and whole points per hour.")
            ) from exc
        return dict(value)

    def params(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "coefficients",
                "default_coefficient",
                "urgent_bonus_pct",
                "emergency_bonus_pct",
                "cap_per_activity",
                "cap_per_day",
                "no_show_penalty",
            )
        }


class PhoneField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)


class ElderForm(forms.Form):
    phone = PhoneField(label=gettext_lazy("The elder's mobile number (their Zhiyuan account)"))
    birth_date = forms.DateField(
        label=gettext_lazy("Birth date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.ChoiceField(label=gettext_lazy("Why"), choices=ElderReason.choices)


class RelativeForm(forms.Form):
    member_phone = PhoneField(label=gettext_lazy("Member's mobile number"))
    relation = forms.ChoiceField(label=gettext_lazy("Relation"), choices=Relation.choices)
    name = forms.CharField(label=gettext_lazy("Relative's name"), max_length=60)
    birth_date = forms.DateField(
        label=gettext_lazy("Relative's birth date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    relative_phone = PhoneField(
        label=gettext_lazy("Relative's own mobile number, if they have an account"), required=False
    )


class SeedForm(KeyedForm):
    elder = forms.ModelChoiceField(
        empty_label=CHOOSE, queryset=Elder.objects.none(), label=gettext_lazy("Elder")
    )
    minutes = MinutesField()
    decision = forms.CharField(
        label=gettext_lazy("Decision (meeting, document number)"), max_length=200
    )

    def __init__(self, *args: Any, elders: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if elders is not None:
            self.fields["elder"].queryset = elders  # type: ignore[attr-defined]
        self.fields["elder"].label_from_instance = lambda e: e.user.name  # type: ignore[attr-defined]


class PolicyForm(forms.Form):
    cap_hours = forms.IntegerField(
        label=gettext_lazy("Most hours one member may hold"), min_value=1, max_value=100_000
    )
    min_withdraw_age = forms.IntegerField(
        label=gettext_lazy("Age from which credit may be spent"), min_value=0, max_value=120
    )
    priced_items = forms.BooleanField(
        label=gettext_lazy("Price service items instead of counting minutes"), required=False
    )


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Until (not included)"), widget=forms.DateInput(attrs={"type": "date"})
    )


class ItemEditForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Service item"), max_length=80)
    minutes = MinutesField(
        label=gettext_lazy("Credit in minutes"),
        max_value=100_000,
        help_text=gettext_lazy("What one unit of this service deposits, e.g. 90 for 1.5 hours."),
    )


class ItemForm(ItemEditForm):
    code = forms.SlugField(
        label=gettext_lazy("Item code"),
        max_length=40,
        help_text=gettext_lazy("Short, unique in the region, never changed: e.g. haircut-home."),
    )

    field_order = ["code", "name", "minutes"]

    def __init__(self, *args: Any, taken: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken = taken

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].lower()
        if self.taken is not None and self.taken.filter(code=code).exists():
            raise forms.ValidationError(
                _("This region has an item with this code already: change that one instead.")
            )
        return code
