"""Region pages: browse the hierarchy in one's scope; the system administrator imports files."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from zhiyuan.core.permissions import require
from zhiyuan.regions.codes import InvalidRegionCode, parse_code
from zhiyuan.regions.forms import RegionImportForm
from zhiyuan.regions.models import Region
from zhiyuan.regions.selectors import region_path, region_picker_levels
from zhiyuan.regions.services import RegionImportError, region_import_csv


def region_picker(request: HttpRequest) -> HttpResponse:
    """The cascading region selects (public: registration uses them). htmx swaps the whole
    picker when one select changes, so the page never lists more than one level's children."""
    code = request.GET.get("pick") or ""
    if not Region.objects.filter(code=code).exists():
        code = ""
    context = picker_context(code, request.GET.get("field", ""))
    return render(request, "regions/_picker.html", context)


def picked_region(data: Any, field: str = "community") -> str:
    """The deepest region a picker's form sent.

    The hidden field follows the selects only after htmx has swapped the picker in; someone who
    chooses the last level and submits at once sends it only as that select's ``pick`` value.
    """
    best, best_level = data.get(field, "") or "", 0
    for code in [best, *data.getlist("pick")]:
        try:
            level = parse_code(code).level
        except InvalidRegionCode:
            continue
        if level > best_level:
            best, best_level = code, level
    return best


def picker_context(code: str, field: str = "") -> dict[str, object]:
    levels = region_picker_levels(code)
    picked = [p for p, _ in levels if p]
    return {
        "levels": levels,
        "chosen": picked[-1] if picked else "",
        "field": field if field.isidentifier() else "community",
    }


@login_required
def region_detail(request: HttpRequest, code: str) -> HttpResponse:
    region = get_object_or_404(Region, code=code)
    require(request.user, "region.view", region, request=request)
    return render(
        request,
        "regions/detail.html",
        {
            "region": region,
            "path": region_path(region.code),
            "children": region.children.order_by("code"),
        },
    )


@login_required
def region_import(request: HttpRequest) -> HttpResponse:
    require(request.user, "region.import", request=request)
    form = RegionImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = region_import_csv(text=form.cleaned_data["text"], actor=request.user)
        except RegionImportError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(
                request,
                _("%(created)d regions created, %(updated)d updated.")
                % {"created": result.created, "updated": result.updated},
            )
            return redirect("regions:import")
    return render(request, "regions/import.html", {"form": form})
