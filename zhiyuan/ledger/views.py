"""Ledger pages: a member's points and time credit, the time bank, and the region's settings,
fund and report. Thin: each view parses a form, calls a service or selector, and renders."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile
from zhiyuan.accounts.roles import Role
from zhiyuan.core.masking import mask_name
from zhiyuan.core.permissions import active_grants, region_scopes, require
from zhiyuan.ledger import forms, selectors, services
from zhiyuan.ledger.errors import LedgerRefused
from zhiyuan.ledger.models import (
    DIRECT_RELATIONS,
    Asset,
    TimeBankItem,
    Withdrawal,
    WithdrawalStatus,
)
from zhiyuan.regions.models import Region


def member_region(user: Any) -> str | None:
    """The community a member belongs to: the region of their volunteer or resident role."""
    for grant in active_grants(user):
        if grant.role in (Role.VOLUNTEER, Role.RESIDENT) and grant.region_code:
            return grant.region_code
    return None


def admin_region(user: Any, ability: str = "ledger.manage") -> Region:
    codes = region_scopes(user, ability)
    if not codes:
        raise Http404
    return get_object_or_404(Region, pk=codes[0])


def not_in_region_message() -> str:
    return _("No account in your region has this mobile number.")


def find_user(phone: str) -> User | None:
    try:
        return User.objects.filter(phone_index=phone_index(normalize_mobile(phone))).first()
    except InvalidPhone:
        return None


def find_user_in(phone: str, codes: list[str] | None) -> User | None:
    """The account with this mobile number if it belongs to one of these regions (a role held
    there). An account elsewhere is not found either: an administrator neither registers
    another region's people nor learns whether a number is taken there."""
    person = find_user(phone)
    if person is None or not selectors.person_in_regions(person, codes):
        return None
    return person


def _refused(form: Any, exc: ValidationError) -> None:
    form.add_error(None, exc.messages[0])


@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    return render(
        request,
        "ledger/wallet.html",
        {
            "balances": selectors.balances_of(user),
            "history": selectors.recent_history(user),
            "year": timezone.localdate().year,
        },
    )


@login_required
def statement(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    asset = request.GET.get("asset", Asset.POINTS)
    if asset not in Asset.values:
        raise Http404
    try:
        year = int(request.GET.get("year", timezone.localdate().year))
    except ValueError as exc:
        raise Http404 from exc
    if not 2000 <= year <= 2100:
        raise Http404
    account = selectors.account_of(user, asset)
    result = selectors.account_statement(account, *selectors.year_bounds(year)) if account else None
    return render(
        request,
        "ledger/statement.html",
        {"statement": result, "asset": Asset(asset), "year": year, "assets": Asset},
    )


def _timebank_context(request: HttpRequest, **forms_: Any) -> dict[str, Any]:
    user = cast(User, request.user)
    region = member_region(user)
    relatives = selectors.relatives_of(user)
    direct = relatives.filter(
        account_user__isnull=False, relation__in=[r.value for r in DIRECT_RELATIONS]
    )
    elders = selectors.elders_in([region[:6] + "000000"] if region else [])
    beneficiaries = selectors.timebank_beneficiaries(user, region) if region else None
    return {
        "balance": selectors.balances_of(user)[Asset.TIME_MINUTES],
        "held_for_needs": selectors.held_for_needs(user),
        "relatives": relatives,
        "withdrawals": selectors.withdrawals_of(user),
        "transfer_form": forms_.get("transfer") or forms.TransferForm(relatives=direct),
        "donation_form": forms_.get("donation") or forms.DonationForm(elders=elders),
        "withdrawal_form": forms_.get("withdrawal")
        or forms.WithdrawalForm(beneficiaries=beneficiaries),
        "beneficiaries": beneficiaries,
        "policy": services.timebank_policy_for(region) if region else None,
        "direct": direct,
        "elders": elders,
    }


@login_required
def timebank(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.own", request=request)
    user = cast(User, request.user)
    region = member_region(user)
    if region is None:
        raise Http404
    context = _timebank_context(request)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "transfer":
        form: Any = forms.TransferForm(request.POST, relatives=context["direct"])
        if form.is_valid():
            try:
                services.timebank_transfer(
                    member=user,
                    relative=form.cleaned_data["relative"],
                    minutes=form.cleaned_data["minutes"],
                    key=form.cleaned_data["key"],
                    http_request=request,
                )
            except ValidationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("Credit transferred."))
                return redirect("ledger:timebank")
        context["transfer_form"] = form
    elif action == "donate":
        form = forms.DonationForm(request.POST, elders=context["elders"])
        if form.is_valid():
            try:
                services.timebank_donate(
                    member=user,
                    region=region,
                    minutes=form.cleaned_data["minutes"],
                    elder=form.cleaned_data["elder"],
                    key=form.cleaned_data["key"],
                    http_request=request,
                )
            except ValidationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("Thank you: your credit was donated."))
                return redirect("ledger:timebank")
        context["donation_form"] = form
    elif action == "withdraw":
        form = forms.WithdrawalForm(request.POST, beneficiaries=context["beneficiaries"])
        if form.is_valid():
            try:
                services.timebank_withdraw(
                    member=user,
                    region=region,
                    minutes=form.cleaned_data["minutes"],
                    note=form.cleaned_data["note"],
                    relative=form.relative(),
                    key=form.cleaned_data["key"],
                    http_request=request,
                )
            except ValidationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("Your request for service was recorded."))
                return redirect("ledger:timebank")
        context["withdrawal_form"] = form
    return render(request, "ledger/timebank.html", context)


@login_required
@require_POST
def withdrawal_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "ledger.own", request=request)
    # Someone else's withdrawal answers 404: its existence is not for others to learn.
    withdrawal = get_object_or_404(Withdrawal, pk=pk, member=request.user)
    try:
        result = services.timebank_withdrawal_cancel(
            withdrawal=withdrawal, actor=cast(User, request.user), http_request=request
        )
    except LedgerRefused as exc:
        messages.error(request, exc.messages[0])
    else:
        # The service decides under the withdrawal's row lock; one whose service has started
        # (the needs flow marks it served) comes back unchanged, its credit spent.
        if result.status == WithdrawalStatus.CANCELLED:
            messages.success(request, _("Cancelled; the credit is back on your account."))
        else:
            messages.error(request, withdrawal_served_message())
    return redirect("ledger:timebank")


def withdrawal_served_message() -> str:
    return _(
        "This request is being served or was served: its credit has been spent and cannot be "
        "returned."
    )


# --- the region's administration ---------------------------------------------------------------


@login_required
def admin_rules(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    form = forms.RulesForm(request.POST or None, initial={"effective_from": timezone.localtime()})
    if request.method == "POST" and form.is_valid():
        try:
            rule_set = services.earning_rules_publish(
                region=region,
                params=form.params(),
                effective_from=form.cleaned_data["effective_from"],
                note=form.cleaned_data["note"],
                actor=request.user,
                http_request=request,
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request, _("Version %(v)d of the rules published.") % {"v": rule_set.version}
            )
            return redirect("ledger:admin_rules")
    return render(
        request,
        "ledger/admin_rules.html",
        {
            "region": region,
            "form": form,
            "versions": selectors.rule_versions(region_scopes(request.user, "ledger.manage")),
        },
    )


@login_required
def admin_withdrawals(request: HttpRequest) -> HttpResponse:
    """Members' free-standing time-bank requests in the admin's region: the community arranges
    the service and marks it served (the credit is then spent), or cancels the request (the
    credit goes back). Requests paid through a need are the dispatchers' (they are needs)."""
    require(request.user, "ledger.manage", request=request)
    codes = region_scopes(request.user, "ledger.manage")
    if request.method == "POST":
        # Outside the admin's regions a request answers 404, as if it did not exist.
        raw_id = request.POST.get("withdrawal", "")
        if not raw_id.isdigit():
            raise Http404
        withdrawal = get_object_or_404(selectors.withdrawals_to_arrange(codes), pk=int(raw_id))
        admin = cast(User, request.user)
        if request.POST.get("action") == "served":
            if services.timebank_withdrawal_arranged(
                withdrawal=withdrawal, actor=admin, http_request=request
            ):
                messages.success(request, _("Marked as served: the credit is spent."))
            else:
                messages.error(request, _("This request was cancelled; its credit is back."))
        elif request.POST.get("action") == "cancel":
            try:
                result = services.timebank_withdrawal_cancel(
                    withdrawal=withdrawal, actor=admin, http_request=request
                )
            except LedgerRefused as exc:
                messages.error(request, exc.messages[0])
            else:
                if result.status == WithdrawalStatus.CANCELLED:
                    messages.success(request, _("Cancelled; the credit is back with the member."))
                else:
                    messages.error(request, withdrawal_served_message())
        return redirect("ledger:admin_withdrawals")
    rows = [
        (w, mask_name(w.member.name), mask_name(w.relative.name) if w.relative else None)
        for w in selectors.withdrawals_to_arrange(codes)[:200]
    ]
    return render(request, "ledger/admin_withdrawals.html", {"rows": rows})


@login_required
def admin_fund(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    codes = region_scopes(request.user, "ledger.manage")
    elders = selectors.elders_in(codes)
    policy = services.timebank_policy_for(region)
    seed_form = forms.SeedForm(elders=elders)
    elder_form = forms.ElderForm()
    relative_form = forms.RelativeForm()
    policy_form = forms.PolicyForm(
        initial={
            "cap_hours": policy.cap_minutes // 60,
            "min_withdraw_age": policy.min_withdraw_age,
            "priced_items": policy.priced_items,
        }
    )
    action = request.POST.get("action") if request.method == "POST" else None
    done = None
    try:
        if action == "seed":
            seed_form = forms.SeedForm(request.POST, elders=elders)
            if seed_form.is_valid():
                services.timebank_fund_seed(
                    elder=seed_form.cleaned_data["elder"],
                    minutes=seed_form.cleaned_data["minutes"],
                    decision=seed_form.cleaned_data["decision"],
                    decided_by=cast(User, request.user),
                    key=seed_form.cleaned_data["key"],
                    http_request=request,
                )
                done = _("The elder was credited from the public fund.")
        elif action == "elder":
            elder_form = forms.ElderForm(request.POST)
            if elder_form.is_valid():
                person = find_user_in(elder_form.cleaned_data["phone"], codes)
                if person is None:
                    elder_form.add_error("phone", not_in_region_message())
                else:
                    services.elder_register(
                        user=person,
                        region=region,
                        birth_date=elder_form.cleaned_data["birth_date"],
                        reason=elder_form.cleaned_data["reason"],
                        registered_by=cast(User, request.user),
                        http_request=request,
                    )
                    done = _("Elder registered.")
        elif action == "relative":
            relative_form = forms.RelativeForm(request.POST)
            if relative_form.is_valid():
                data = relative_form.cleaned_data
                member = find_user_in(data["member_phone"], codes)
                relative_user = (
                    find_user_in(data["relative_phone"], codes) if data["relative_phone"] else None
                )
                if member is None:
                    relative_form.add_error("member_phone", not_in_region_message())
                elif data["relative_phone"] and relative_user is None:
                    relative_form.add_error("relative_phone", not_in_region_message())
                else:
                    services.relative_register(
                        member=member,
                        relation=data["relation"],
                        name=data["name"],
                        birth_date=data["birth_date"],
                        region=region,
                        registered_by=cast(User, request.user),
                        account_user=relative_user,
                        http_request=request,
                    )
                    done = _("Relative registered.")
        elif action == "policy":
            policy_form = forms.PolicyForm(request.POST)
            if policy_form.is_valid():
                services.timebank_policy_set(
                    region=region,
                    cap_minutes=policy_form.cleaned_data["cap_hours"] * 60,
                    min_withdraw_age=policy_form.cleaned_data["min_withdraw_age"],
                    priced_items=policy_form.cleaned_data["priced_items"],
                    actor=cast(User, request.user),
                    http_request=request,
                )
                done = _("Time-bank settings saved.")
    except LedgerRefused as exc:
        target = {"seed": seed_form, "elder": elder_form, "relative": relative_form}.get(
            action or "", policy_form
        )
        _refused(target, exc)
    if done:
        messages.success(request, done)
        return redirect("ledger:admin_fund")
    return render(
        request,
        "ledger/admin_fund.html",
        {
            "region": region,
            "policy": policy,
            "funds": selectors.fund_balances(codes),
            "elders": elders,
            "seed_form": seed_form,
            "elder_form": elder_form,
            "relative_form": relative_form,
            "policy_form": policy_form,
        },
    )


@login_required
def admin_report(request: HttpRequest) -> HttpResponse:
    require(request.user, "ledger.report", request=request)
    today = timezone.localdate()
    form = forms.PeriodForm(
        request.GET or None,
        initial={"start": today.replace(day=1), "end": today + dt.timedelta(days=1)},
    )
    start, end = today.replace(day=1), today + dt.timedelta(days=1)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    tz = timezone.get_current_timezone()
    rows = selectors.points_report(
        region_scopes(request.user, "ledger.report"),
        dt.datetime.combine(start, dt.time(), tzinfo=tz),
        dt.datetime.combine(end, dt.time(), tzinfo=tz),
    )
    return render(
        request,
        "ledger/admin_report.html",
        {
            "form": form,
            "rows": rows,
            "start": start,
            "end": end,
            "issued": sum(r.issued for r in rows),
            "redeemed": sum(r.redeemed for r in rows),
        },
    )


# --- the time bank's priced service items ------------------------------------------------------


@login_required
def timebank_items(request: HttpRequest) -> HttpResponse:
    """The member's price list: what each service item deposits (and costs) in their region."""
    require(request.user, "ledger.own", request=request)
    region = member_region(request.user)
    if region is None:
        raise Http404
    return render(
        request,
        "ledger/timebank_items.html",
        {
            "policy": services.timebank_policy_for(region),
            "items": selectors.timebank_items_for(region),
        },
    )


@login_required
def admin_items(request: HttpRequest) -> HttpResponse:
    """The region's priced service items: list and add (for regions that price items)."""
    require(request.user, "ledger.manage", request=request)
    region = admin_region(request.user)
    codes = region_scopes(request.user, "ledger.manage")
    taken = TimeBankItem.objects.filter(region=region)
    form = forms.ItemForm(request.POST or None, taken=taken)
    if request.method == "POST" and form.is_valid():
        try:
            services.timebank_item_save(
                region=region,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                minutes=form.cleaned_data["minutes"],
                actor=cast(User, request.user),
                http_request=request,
            )
        except LedgerRefused as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("Service item saved."))
            return redirect("ledger:admin_items")
    zones = selectors.timebank_price_zones(region)
    uses = selectors.timebank_item_uses(zones)
    return render(
        request,
        "ledger/admin_items.html",
        {
            "region": region,
            "policy": services.timebank_policy_for(region),
            "zones": zones,
            "items": [(item, uses.get(item.pk, [])) for item in selectors.timebank_items_in(codes)],
            "form": form,
        },
    )


@login_required
def admin_item_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "ledger.manage", request=request)
    # Another region's item answers 404, like one that does not exist.
    item = get_object_or_404(
        selectors.timebank_items_in(region_scopes(request.user, "ledger.manage")), pk=pk
    )
    form = forms.ItemEditForm(
        request.POST or None, initial={"name": item.name, "minutes": item.minutes}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.timebank_item_save(
                region=item.region,
                code=item.code,
                name=form.cleaned_data["name"],
                minutes=form.cleaned_data["minutes"],
                actor=cast(User, request.user),
                http_request=request,
            )
        except LedgerRefused as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("Service item saved."))
            return redirect("ledger:admin_items")
    return render(request, "ledger/admin_item_edit.html", {"item": item, "form": form})


@login_required
@require_POST
def admin_item_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a service item off the price list; what then prices its code there is said."""

    require(request.user, "ledger.manage", request=request)
    item = get_object_or_404(
        selectors.timebank_items_in(region_scopes(request.user, "ledger.manage")), pk=pk
    )
    above = services.timebank_item_withdraw(
        item=item, actor=cast(User, request.user), http_request=request
    )
    if above is None:
        messages.success(
            request, _("%(item)s was withdrawn from the price list.") % {"item": item.name}
        )
    else:
        messages.success(
            request,
            _(
                "%(item)s was withdrawn from the price list; in %(region)s the price of "
                "%(above_region)s applies again: %(minutes)d minutes."
            )
            % {
                "item": item.name,
                "region": item.region.name,
                "above_region": above.region.name,
                "minutes": above.minutes,
            },
        )
    return redirect("ledger:admin_items")
