"""Store pages: the volunteer's rewards and vouchers, the merchant's scan-and-confirm page and the
region's partners. The voucher's QR code holds the address of the merchant's page with the code
filled in, so a merchant scans it with the phone's own camera."""

from __future__ import annotations

from typing import cast

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.core.forms import CHOOSE
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.ledger.forms import KeyedForm
from zhiyuan.ledger.views import admin_region, member_region
from zhiyuan.organizations.models import Organization, OrganizationKind
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.store import forms as store_forms
from zhiyuan.store import selectors, services
from zhiyuan.store.models import Reward, RewardKind, Voucher


class RedeemForm(KeyedForm):
    reward = forms.IntegerField(widget=forms.HiddenInput)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Voucher code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "inputmode": "text"}
        ),
    )


class PartnerForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Merchant's name"), max_length=120)


class RewardForm(forms.Form):
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE, queryset=Organization.objects.none(), label=gettext_lazy("Offered by")
    )
    name = forms.CharField(label=gettext_lazy("Reward"), max_length=80)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=RewardKind.choices)
    price_points = forms.IntegerField(label=gettext_lazy("Price in points"), min_value=1)
    stock = forms.IntegerField(label=gettext_lazy("In stock"), min_value=0)
    valid_days = forms.IntegerField(
        label=gettext_lazy("Voucher valid for (days)"), min_value=1, max_value=365, initial=30
    )

    def __init__(self, *args: object, partners: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if partners is not None:
            self.fields["organization"].queryset = partners  # type: ignore[attr-defined]


def _shop_refusals(rewards_: list[Reward]) -> dict[int, str]:
    """Why a shop may not hand out rewards now (a sanction on it or an organisation above it),
    by organisation; shops that may are left out. One check per shop, not per reward."""
    from zhiyuan.organizations.selectors import OperatePurpose, organization_can_operate

    refusals: dict[int, str] = {}
    for org in {r.organization_id: r.organization for r in rewards_}.values():
        refusal = organization_can_operate(org, purpose=OperatePurpose.PUBLISH)
        if refusal is not None:
            refusals[org.pk] = refusal.message
    return refusals


@login_required
def rewards(request: HttpRequest) -> HttpResponse:
    """The rewards on offer in the member's district; each opens a confirmation page first."""
    require(request.user, "store.redeem", request=request)
    user = cast(User, request.user)
    from zhiyuan.ledger.selectors import balances_of

    offered = list(selectors.rewards_for(member_region(user)))
    refusals = _shop_refusals(offered)
    return render(
        request,
        "store/rewards.html",
        {
            "rewards": [(r, refusals.get(r.organization_id)) for r in offered],
            "points": balances_of(user)["points"],
        },
    )


@login_required
def reward_redeem(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then redeem: the reward, its price, the balance after and the shop are shown
    before anything is booked. Redeeming is a POST with the page's idempotency key, so the same
    confirmation sent twice issues one voucher."""
    require(request.user, "store.redeem", request=request)
    user = cast(User, request.user)
    from zhiyuan.ledger.selectors import balances_of

    # Only rewards offered in the member's district; another's answers 404.
    reward = get_object_or_404(selectors.rewards_for(member_region(user)), pk=pk)
    refusal = _shop_refusals([reward]).get(reward.organization_id)
    form = RedeemForm(request.POST or None, initial={"reward": reward.pk})
    mismatch = None
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["reward"] != reward.pk:
            # A confirmation sent from another reward's page (two tabs, a tampered form):
            # nothing is booked, and this reward's own confirmation is offered afresh.
            mismatch = _(
                "This confirmation was for another reward: check this one and confirm again."
            )
            form = RedeemForm(initial={"reward": reward.pk})
        else:
            try:
                voucher = services.store_redeem(
                    volunteer=user,
                    reward=reward.pk,
                    key=form.cleaned_data["key"],
                    http_request=request,
                )
            except ValidationError as exc:
                if refusal is None:  # a shop's refusal is said once, in its own place below
                    form.add_error(None, exc.messages[0])
            else:
                messages.success(request, _("Redeemed. Show this voucher at the shop."))
                return redirect("store:voucher", code=voucher.code)
    points = balances_of(user)["points"]
    return render(
        request,
        "store/redeem_confirm.html",
        {
            "reward": reward,
            "form": form,
            "points": points,
            "after": points - reward.price_points,
            "short": reward.price_points - points,
            "refusal": refusal,
            "mismatch": mismatch,
        },
    )


@login_required
def vouchers(request: HttpRequest) -> HttpResponse:
    require(request.user, "store.redeem", request=request)
    return render(
        request,
        "store/vouchers.html",
        {"vouchers": selectors.vouchers_of(cast(User, request.user))},
    )


@login_required
def voucher(request: HttpRequest, code: str) -> HttpResponse:
    require(request.user, "store.redeem", request=request)
    # Someone else's voucher answers 404, like a code that does not exist.
    found = get_object_or_404(
        Voucher.objects.select_related("reward__organization"),
        code=services.normalise_code(code),
        holder=request.user,
    )
    address = request.build_absolute_uri(reverse("store:merchant_home")) + f"?code={found.code}"
    qr = segno.make(address, error="m").svg_data_uri(scale=6, border=2)
    return render(request, "store/voucher.html", {"voucher": found, "qr": qr})


@login_required
@require_POST
def voucher_cancel(request: HttpRequest, code: str) -> HttpResponse:
    require(request.user, "store.redeem", request=request)
    found = get_object_or_404(Voucher, code=services.normalise_code(code), holder=request.user)
    try:
        services.store_voucher_return(voucher=found, actor=request.user, http_request=request)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Voucher cancelled; the points are back on your account."))
    return redirect("store:voucher", code=found.code)


@login_required
def merchant_home(request: HttpRequest) -> HttpResponse:
    """The merchant's phone page: scan (the QR opens this page with the code) or type a code,
    see what it is for, and confirm the hand-over."""
    require(request.user, "home.merchant", request=request)
    merchant = cast(User, request.user)
    form = CodeForm(request.POST or request.GET or None)
    found = None
    if form.is_bound and form.is_valid():
        try:
            if request.method == "POST":
                found = services.store_voucher_use(
                    code=form.cleaned_data["code"], merchant=merchant, http_request=request
                )
                messages.success(
                    request,
                    _("Confirmed: hand over %(reward)s.") % {"reward": found.reward.name},
                )
                return redirect("store:merchant_home")
            found = services.store_voucher_find(code=form.cleaned_data["code"], merchant=merchant)
        except ValidationError as exc:
            form.add_error("code", exc.messages[0])
            found = None
    shops = organization_scopes(merchant, "store.vouchers")
    return render(
        request,
        "store/merchant_home.html",
        {
            "form": form,
            "voucher": found,
            "shops": Organization.objects.filter(pk__in=shops),
            "recent": selectors.vouchers_used_at(shops)[:10],
        },
    )


@login_required
def partners(request: HttpRequest) -> HttpResponse:
    require(request.user, "store.partners", request=request)
    region = admin_region(request.user, "store.partners")
    codes = region_scopes(request.user, "store.partners")
    partner_list = selectors.partners_in(codes)
    partner_form = PartnerForm()
    reward_form = RewardForm(partners=partner_list)
    action = request.POST.get("action") if request.method == "POST" else None
    try:
        if action == "partner":
            partner_form = PartnerForm(request.POST)
            if partner_form.is_valid():
                services.store_partner_add(
                    name=partner_form.cleaned_data["name"],
                    region=region,
                    actor=cast(User, request.user),
                    http_request=request,
                )
                messages.success(request, _("Partner merchant added."))
                return redirect("store:partners")
        elif action == "reward":
            reward_form = RewardForm(request.POST, partners=partner_list)
            if reward_form.is_valid():
                data = reward_form.cleaned_data
                services.reward_save(
                    organization=data["organization"],
                    name=data["name"],
                    kind=data["kind"],
                    price_points=data["price_points"],
                    stock=data["stock"],
                    valid_days=data["valid_days"],
                    actor=cast(User, request.user),
                    http_request=request,
                )
                messages.success(request, _("Reward listed."))
                return redirect("store:partners")
    except ValidationError as exc:
        (partner_form if action == "partner" else reward_form).add_error(None, exc.messages[0])
    except OperationRefused as exc:
        reward_form.add_error(None, exc.refusal.message)
    return render(
        request,
        "store/partners.html",
        {
            "partners": partner_list,
            "rewards": Reward.objects.filter(organization__in=partner_list).select_related(
                "organization"
            ),
            "partner_form": partner_form,
            "reward_form": reward_form,
            "merchant_kind": OrganizationKind.MERCHANT,
        },
    )


# --- a merchant's (or organisation's) own rewards ----------------------------------------------


def _managed_reward(request: HttpRequest, pk: int) -> Reward:
    # Another shop's reward answers 404, like one that does not exist.
    return get_object_or_404(selectors.rewards_managed_by(cast(User, request.user)), pk=pk)


@login_required
def shop_rewards(request: HttpRequest) -> HttpResponse:
    """The rewards of the shops this person manages: price, what is left, what is reserved."""
    require(request.user, "store.rewards", request=request)
    user = cast(User, request.user)
    return render(
        request,
        "store/shop_rewards.html",
        {
            "rewards": selectors.rewards_managed_by(user),
            "can_add": selectors.shops_managed_by(user).exists(),
        },
    )


@login_required
def shop_reward_new(request: HttpRequest) -> HttpResponse:
    require(request.user, "store.rewards", request=request)
    user = cast(User, request.user)
    shops = selectors.shops_managed_by(user)
    if not shops.exists():
        raise Http404
    form = store_forms.RewardNewForm(request.POST or None, shops=shops)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            reward = services.reward_save(
                organization=data["organization"],
                name=data["name"],
                description=data["description"],
                kind=data["kind"],
                price_points=data["price_points"],
                stock=data["stock"],
                valid_days=data["valid_days"],
                actor=user,
                http_request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages[0])
        except OperationRefused as exc:
            form.add_error(None, exc.refusal.message)
        else:
            messages.success(request, _("Reward listed: %(name)s.") % {"name": reward.name})
            return redirect("store:shop_rewards")
    return render(request, "store/shop_reward_new.html", {"form": form})


@login_required
def shop_reward_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a reward's details, count its stock, take it off sale or put it back."""
    require(request.user, "store.rewards", request=request)
    user = cast(User, request.user)
    reward = _managed_reward(request, pk)
    details = store_forms.RewardDetailsForm(
        initial={
            "name": reward.name,
            "description": reward.description,
            "kind": reward.kind,
            "price_points": reward.price_points,
            "valid_days": reward.valid_days,
        }
    )
    reserved: int = getattr(reward, "reserved")  # noqa: B009 — annotated by the selector
    stock_form = store_forms.StockForm(initial={"on_hand": reward.stock + reserved})
    action = request.POST.get("action") if request.method == "POST" else None
    done = None
    try:
        if action == "details":
            details = store_forms.RewardDetailsForm(request.POST)
            if details.is_valid():
                data = details.cleaned_data
                services.reward_save(
                    reward=reward,
                    name=data["name"],
                    description=data["description"],
                    kind=data["kind"],
                    price_points=data["price_points"],
                    valid_days=data["valid_days"],
                    actor=user,
                    http_request=request,
                )
                done = _("Reward saved.")
        elif action == "stock":
            stock_form = store_forms.StockForm(request.POST)
            if stock_form.is_valid():
                services.reward_stock_set(
                    reward=reward,
                    on_hand=stock_form.cleaned_data["on_hand"],
                    actor=user,
                    http_request=request,
                )
                done = _("Stock saved.")
        elif action == "withdraw":
            services.reward_withdraw(reward=reward, actor=user, http_request=request)
            done = _("Withdrawn from sale. Vouchers already issued stay valid.")
        elif action == "offer":
            services.reward_offer(reward=reward, actor=user, http_request=request)
            done = _("Back on sale.")
    except ValidationError as exc:
        (stock_form if action == "stock" else details).add_error(None, exc.messages[0])
    except OperationRefused as exc:
        messages.error(request, exc.refusal.message)
        return redirect("store:shop_reward_edit", pk=reward.pk)
    if done:
        messages.success(request, done)
        return redirect("store:shop_reward_edit", pk=reward.pk)
    return render(
        request,
        "store/shop_reward_edit.html",
        {"reward": reward, "details": details, "stock_form": stock_form},
    )
