"""Forms of the rewards store's management pages (a merchant's or organisation's own rewards)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from zhiyuan.core.forms import CHOOSE
from zhiyuan.organizations.models import Organization
from zhiyuan.store.models import RewardKind


class RewardDetailsForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Reward"), max_length=80)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What the volunteer gets, and any conditions."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=RewardKind.choices)
    price_points = forms.IntegerField(
        label=gettext_lazy("Price in points"),
        min_value=1,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    valid_days = forms.IntegerField(
        label=gettext_lazy("Voucher valid for (days)"),
        min_value=1,
        max_value=365,
        initial=30,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )


class RewardNewForm(RewardDetailsForm):
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE, queryset=Organization.objects.none(), label=gettext_lazy("Offered by")
    )
    stock = forms.IntegerField(
        label=gettext_lazy("How many you have"),
        min_value=0,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    field_order = ["organization", "name", "description", "kind", "price_points", "stock"]

    def __init__(self, *args: Any, shops: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if shops is not None:
            field = self.fields["organization"]
            field.queryset = shops  # type: ignore[attr-defined]
            only = list(shops[:2])
            if len(only) == 1:
                field.initial = only[0].pk


class StockForm(forms.Form):
    on_hand = forms.IntegerField(
        label=gettext_lazy("On hand now, counting those held for vouchers"),
        min_value=0,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
