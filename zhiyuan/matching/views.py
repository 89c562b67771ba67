"""Matching pages, mobile first: a need's ranked volunteers with the reasons, the dispatcher's
"fill all open needs" button, and the organiser's staffing suggestions. Views parse, check
who may, call a service or selector, and render."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from zhiyuan.accounts.models import User
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.matching import selectors, services
from zhiyuan.matching.adapter import MatchingError, slot_label
from zhiyuan.matching.forms import FillForm


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
    request: HttpRequest, form: FillForm, result: Any = None, problem: str = "", status: int = 200
) -> HttpResponse:
    codes = region_scopes(request.user, "matching.fill")
    return render(
        request,
        "matching/fill.html",
        {
            "form": form,
            "communities": selectors.open_need_counts(codes),
            "open_needs": selectors.needs_open_in_scope(codes, limit=100),
            "result": result,
            "problem": problem,
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
