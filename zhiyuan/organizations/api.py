"""Organisations API: the organisations a caller may see."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from zhiyuan.core.api import ErrorOut
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.selectors import organization_list_visible

router = Router(tags=["organizations"])


class OrganizationOut(Schema):
    id: int
    name: str
    kind: str
    status: str
    region: str
    members: int


def _out(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.pk,
        name=org.name,
        kind=org.kind,
        status=org.status,
        region=org.region_id,
        members=getattr(org, "members", 0),
    )


@router.get("", response={200: list[OrganizationOut], 403: ErrorOut})
def organization_list(request: HttpRequest) -> list[OrganizationOut]:
    require(request.user, "organization.view", request=request)
    orgs = organization_list_visible(
        region_scopes(request.user, "organization.view"),
        organization_scopes(request.user, "organization.view"),
    )
    return [_out(o) for o in orgs[:500]]


@router.get("/{org_id}", response={200: OrganizationOut, 403: ErrorOut, 404: ErrorOut})
def organization_detail(request: HttpRequest, org_id: int) -> OrganizationOut:
    org = get_object_or_404(organization_list_visible(None, []), pk=org_id)
    require(request.user, "organization.view", org, request=request)
    return _out(org)
