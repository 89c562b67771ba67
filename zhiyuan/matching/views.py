"""Matching pages, mobile first: a need's ranked volunteers with the reasons, the dispatcher's
"fill all open needs" button, and the organiser's staffing suggestions. Views parse, check
who may, call a service or selector, and render."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import User
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.matching import selectors, services
from zhiyuan.matching.adapter import MatchingError, slot_label
from zhiyuan.matching.forms import AutoFillForm, FillForm


@login_required
def need_ranking(request: HttpRequest, pk: int) -> HttpResponse:
    """One need: who can go, best match first, and the nearest who cannot, with why."""
    from zhiyuan.needs.models import Need

    need = get_object_or_404(Need.objects.select_related("category", "region"), pk=pk)
    require(request.user, "matching.rank", need, request=request)
    ranking = selectors.matching_need_ranking(need)
    when = ""
    if ranking.task is not None:
        local = timezone.localtime(ranking.task.at)
        when = f"{local:%Y-%m-%d %H:%M} ({slot_label(ranking.task.slot)})"
    return render(request, "matching/need.html", {"need": need, "ranking": ranking, "when": when})


def _fill_page(
    request: HttpRequest,
    form: FillForm,
    result: Any = None,
    problem: str = "",
    status: int = 200,
    typed: tuple[Any, AutoFillForm] | None = None,
) -> HttpResponse:
    codes = region_scopes(request.user, "matching.fill")
    autofills = []
    statuses = selectors.autofill_statuses(codes)
    if typed is not None and typed[0].pk not in {s.region.pk for s in statuses}:
        statuses.append(selectors.autofill_status(typed[0]))
    for s in statuses:
        if typed is not None and typed[0].pk == s.region.pk:
            autofills.append((s, typed[1]))  # as typed, with its errors
            continue
        initial = {"enabled": s.enabled, "interval_minutes": s.interval_minutes}
        autofills.append((s, AutoFillForm(prefix=s.region.code, initial=initial)))
    return render(
        request,
        "matching/fill.html",
        {
            "form": form,
            "communities": selectors.open_need_counts(codes),
            "open_needs": selectors.needs_open_in_scope(codes, limit=100),
            "result": result,
            "problem": problem,
            "autofills": autofills,
        },
        status=status,
    )


@login_required
def fill(request: HttpRequest) -> HttpResponse:
    """Communities with needs waiting for dispatch, each with a "fill all" button; after a
    click, what was dispatched to whom and why each need left short stayed short."""
    require(request.user, "matching.fill", request=request)
    if request.method != "POST":
        return _fill_page(request, FillForm())
    form = FillForm(request.POST)
    if not form.is_valid():
        return _fill_page(request, form, status=422)
    region = form.cleaned_data["region"]
    try:
        result = services.matching_fill_region(
            actor=cast(User, request.user), region=region, request=request
        )
    except MatchingError as exc:
        return _fill_page(request, form, problem=exc.message, status=422)
    return _fill_page(request, FillForm(), result=result)


@login_required
def autofill(request: HttpRequest) -> HttpResponse:
    """Switch a region's automatic fill on or off (POST from the fill page)."""
    from zhiyuan.regions.models import Region

    require(request.user, "matching.fill", request=request)
    if request.method != "POST":
        return redirect("matching:fill")
    region = Region.objects.filter(pk=request.POST.get("autofill_region", "")).first()
    if region is None:
        raise Http404
    require(request.user, "matching.fill", region, request=request)
    form = AutoFillForm(request.POST, prefix=region.code)
    if form.is_valid():
        try:
            services.matching_autofill_set(
                actor=cast(User, request.user),
                region=region,
                enabled=form.cleaned_data["enabled"],
                interval_minutes=form.cleaned_data["interval_minutes"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Automatic fill is on.")
                if form.cleaned_data["enabled"]
                else _("Automatic fill is off."),
            )
            return redirect(reverse("matching:fill") + "#autofill")
    return _fill_page(request, FillForm(), status=422, typed=(region, form))


@login_required
def staffing_list(request: HttpRequest) -> HttpResponse:
    """The organiser's upcoming shifts with fewer people than they need."""
    require(request.user, "matching.staffing", request=request)
    org_ids = organization_scopes(request.user, "matching.staffing")
    return render(
        request,
        "matching/staffing_list.html",
        {"shifts": selectors.shifts_understaffed_for(org_ids)},
    )


@login_required
def staffing(request: HttpRequest, pk: int) -> HttpResponse:
    """Whom to invite to one shift, with the reasons, and who cannot and why."""
    from zhiyuan.activities.models import Shift
    from zhiyuan.organizations.services import organization_require

    shift = get_object_or_404(Shift.objects.select_related("activity__organization"), pk=pk)
    organization_require(
        request.user, "matching.staffing", shift.activity.organization, request=request
    )
    return render(
        request,
        "matching/staffing.html",
        {"shift": shift, "staffing": selectors.matching_staffing_suggestions(shift=shift)},
    )
