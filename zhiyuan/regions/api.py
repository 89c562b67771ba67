"""Regions API: a region and its children, within the caller's scope."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from zhiyuan.core.api import ErrorOut
from zhiyuan.core.permissions import require
from zhiyuan.regions.models import Region

router = Router(tags=["regions"])


class RegionOut(Schema):
    code: str
    name: str
    level: int
    parent: str | None


class RegionTreeOut(RegionOut):
    children: list[RegionOut]


def _out(region: Region) -> RegionOut:
    return RegionOut(
        code=region.code, name=region.name, level=region.level, parent=region.parent_id
    )


@router.get("/{code}", response={200: RegionTreeOut, 403: ErrorOut, 404: ErrorOut})
def region_detail(request: HttpRequest, code: str) -> RegionTreeOut:
    region = get_object_or_404(Region, code=code)
    require(request.user, "region.view", region, request=request)
    return RegionTreeOut(
        **_out(region).dict(), children=[_out(child) for child in region.children.order_by("code")]
    )
