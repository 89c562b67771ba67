"""Organisations API: registration, verification, the operate gate, teams, members and calls.

Refusals by the gate answer 403 with a code naming the reason (``organization_suspended``,
``organization_unverified``…, ``volunteer_banned``…) and the message naming the sanction and
its end date.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.masking import mask_name, mask_phone
from zhiyuan.core.permissions import (
    organization_scopes,
    record_refusal,
    region_scopes,
    require,
)
from zhiyuan.organizations import services
from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
)
from zhiyuan.organizations.selectors import (
    Refusal,
    membership_list_active,
    organization_can_operate,
    organization_list_visible,
    recruitment_calls_open,
)
from zhiyuan.regions.models import Region

router = Router(tags=["organizations"])


class OrganizationOut(Schema):
    id: int
    name: str
    kind: str
    status: str
    region: str
    members: int
    parent: int | None = None
    credit_code: str | None = None


class OrganizationDetailOut(OrganizationOut):
    service_fields: list[str]
    legal_representative: str  # masked
    contact_name: str  # masked
    contact_phone: str  # masked
    status_reason: str
    has_certificate: bool


def _out(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.pk,
        name=org.name,
        kind=org.kind,
        status=org.status,
        region=org.region_id,
        members=getattr(org, "members", 0),
        parent=org.parent_id,
        credit_code=org.credit_code,
    )


def _detail(org: Organization) -> OrganizationDetailOut:
    members = Membership.objects.filter(organization=org, left_at__isnull=True).count()
    return OrganizationDetailOut(
        **{**_out(org).dict(), "members": members},
        service_fields=list(org.service_fields or []),
        legal_representative=mask_name(org.legal_representative),
        contact_name=mask_name(org.contact_name),
        contact_phone=mask_phone(org.contact_phone),
        status_reason=org.status_reason,
        has_certificate=bool(org.certificate),
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def refused(exc: services.OperationRefused, party: str = "organization") -> ApiError:
    return ApiError(403, f"{party}_{exc.refusal.code}", exc.refusal.message)


def _refusal_error(exc: services.OperationRefused) -> ApiError:
    party = "organization" if exc.refusal.organization_id else "volunteer"
    return refused(exc, party)


# --- collections (before /{org_id} so their paths win) ----------------------------------------


@router.get("", response={200: list[OrganizationOut], 403: ErrorOut})
def organization_list(request: HttpRequest) -> list[OrganizationOut]:
    require(request.user, "organization.view", request=request)
    orgs = organization_list_visible(
        region_scopes(request.user, "organization.view"),
        organization_scopes(request.user, "organization.view"),
    )
    return [_out(o) for o in orgs[:500]]


class RegistrationIn(Schema):
    name: str
    kind: str
    credit_code: str | None = None
    legal_representative: str
    contact_name: str
    contact_phone: str
    region: str
    service_fields: list[str]
    description: str = ""
    sponsor: int | None = None
    sponsor_region: str | None = None


@router.post("", response={201: OrganizationDetailOut, 403: ErrorOut, 422: ErrorOut})
def organization_register(
    request: HttpRequest, payload: RegistrationIn
) -> Status[OrganizationDetailOut]:
    """Register an organisation (it waits for verification). The certificate is uploaded next,
    with ``POST /organizations/{id}/certificate``."""
    region = Region.objects.filter(code=payload.region).first()
    if region is None:
        raise ValidationError(
            {"region": [_("Choose a district, street or community as the service area.")]}
        )
    org = services.organization_register(
        actor=_user(request),
        name=payload.name,
        kind=payload.kind,
        credit_code=payload.credit_code,
        legal_representative=payload.legal_representative,
        contact_name=payload.contact_name,
        contact_phone=payload.contact_phone,
        region=region,
        service_fields=payload.service_fields,
        description=payload.description,
        sponsor=Organization.objects.filter(pk=payload.sponsor).first()
        if payload.sponsor
        else None,
        sponsor_region=Region.objects.filter(code=payload.sponsor_region).first()
        if payload.sponsor_region
        else None,
        request=request,
    )
    return Status(201, _detail(org))


class CallOut(Schema):
    id: int
    organization: int
    organization_name: str
    title: str
    body: str
    risks: str
    closes_on: date | None
    published_at: datetime


@router.get("/calls", response={200: list[CallOut], 403: ErrorOut})
def recruitment_call_list(request: HttpRequest) -> list[CallOut]:
    """Open calls for volunteers in the caller's regions."""
    require(request.user, "organization.join", request=request)
    calls = recruitment_calls_open(region_scopes(request.user, "organization.join"))[:200]
    return [
        CallOut(
            id=c.pk,
            organization=c.organization_id,
            organization_name=c.organization.name,
            title=c.title,
            body=c.body,
            risks=c.risks,
            closes_on=c.closes_on,
            published_at=c.published_at,
        )
        for c in calls
    ]


class RequestOut(Schema):
    id: int
    organization: int
    user: int
    kind: str
    status: str


def _request_out(r: MembershipRequest) -> RequestOut:
    return RequestOut(
        id=r.pk, organization=r.organization_id, user=r.user_id, kind=r.kind, status=r.status
    )


class MembershipOut(Schema):
    id: int
    organization: int
    user: int
    name: str
    role: str
    joined_at: datetime
    left_at: datetime | None


def _membership_out(m: Membership) -> MembershipOut:
    return MembershipOut(
        id=m.pk,
        organization=m.organization_id,
        user=m.user_id,
        name=m.user.name,
        role=m.role,
        joined_at=m.joined_at,
        left_at=m.left_at,
    )


@router.post(
    "/requests/{request_id}/accept",
    response={200: MembershipOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def request_accept(request: HttpRequest, request_id: int) -> MembershipOut:
    req = get_object_or_404(MembershipRequest, pk=request_id)
    try:
        m = services.membership_request_accept(
            membership_request=req, actor=_user(request), request=request
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        raise _refusal_error(exc) from exc
    return _membership_out(m)


@router.post(
    "/requests/{request_id}/decline",
    response={200: RequestOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def request_decline(request: HttpRequest, request_id: int) -> RequestOut:
    req = get_object_or_404(MembershipRequest, pk=request_id)
    return _request_out(
        services.membership_request_decline(
            membership_request=req, actor=_user(request), request=request
        )
    )


@router.post(
    "/memberships/{membership_id}/leave",
    response={200: MembershipOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def membership_leave(request: HttpRequest, membership_id: int) -> MembershipOut:
    m = get_object_or_404(Membership, pk=membership_id)
    return _membership_out(
        services.membership_leave(membership=m, actor=_user(request), request=request)
    )


class RoleIn(Schema):
    role: str


@router.post(
    "/memberships/{membership_id}/role",
    response={200: MembershipOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def membership_role(request: HttpRequest, membership_id: int, payload: RoleIn) -> MembershipOut:
    m = get_object_or_404(Membership, pk=membership_id)
    return _membership_out(
        services.membership_set_role(
            membership=m, role=payload.role, actor=_user(request), request=request
        )
    )


# --- one organisation -------------------------------------------------------------------------


def _visible(request: HttpRequest, org_id: int, ability: str = "organization.view") -> Organization:
    org = get_object_or_404(Organization, pk=org_id)
    if not (ability == "organization.view" and org.registered_by_id == request.user.pk):
        services.organization_require(request.user, ability, org, request=request)
    return org


@router.get("/{org_id}", response={200: OrganizationDetailOut, 403: ErrorOut, 404: ErrorOut})
def organization_detail(request: HttpRequest, org_id: int) -> OrganizationDetailOut:
    return _detail(_visible(request, org_id))


class OperateOut(Schema):
    allowed: bool
    code: str | None
    message: str | None
    until: datetime | None
    sanction: int | None


def operate_out(refusal: Refusal | None) -> OperateOut:
    if refusal is None:
        return OperateOut(allowed=True, code=None, message=None, until=None, sanction=None)
    return OperateOut(
        allowed=False,
        code=refusal.code,
        message=refusal.message,
        until=refusal.until,
        sanction=refusal.sanction_id,
    )


@router.get("/{org_id}/operate", response={200: OperateOut, 403: ErrorOut, 404: ErrorOut})
def organization_operate(request: HttpRequest, org_id: int) -> OperateOut:
    """May the organisation publish, recruit and receive dispatched needs now, and if not, why."""
    return operate_out(organization_can_operate(_visible(request, org_id)))


@router.post(
    "/{org_id}/certificate",
    response={200: OrganizationDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def organization_certificate(
    request: HttpRequest,
    org_id: int,
    file: UploadedFile = File(...),  # noqa: B008
) -> OrganizationDetailOut:
    org = _visible(request, org_id)
    org = services.organization_certificate_attach(
        organization=org, certificate=file, actor=_user(request), request=request
    )
    return _detail(org)


@router.post(
    "/{org_id}/verify",
    response={200: OrganizationDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def organization_verify(request: HttpRequest, org_id: int) -> OrganizationDetailOut:
    org = get_object_or_404(Organization, pk=org_id)
    return _detail(
        services.organization_verify(organization=org, actor=_user(request), request=request)
    )


class RejectIn(Schema):
    reason: str


@router.post(
    "/{org_id}/reject",
    response={200: OrganizationDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def organization_reject(
    request: HttpRequest, org_id: int, payload: RejectIn
) -> OrganizationDetailOut:
    org = get_object_or_404(Organization, pk=org_id)
    return _detail(
        services.organization_reject(
            organization=org, reason=payload.reason, actor=_user(request), request=request
        )
    )


class TeamIn(Schema):
    name: str
    region: str


@router.post(
    "/{org_id}/teams",
    response={201: OrganizationDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def team_create(
    request: HttpRequest, org_id: int, payload: TeamIn
) -> Status[OrganizationDetailOut]:
    parent = get_object_or_404(Organization, pk=org_id)
    region = Region.objects.filter(code=payload.region).first()
    if region is None:
        raise ValidationError({"region": [_("No region has this code.")]})
    team = services.team_create(
        parent=parent, name=payload.name, region=region, actor=_user(request), request=request
    )
    return Status(201, _detail(team))


@router.get("/{org_id}/members", response={200: list[MembershipOut], 403: ErrorOut, 404: ErrorOut})
def member_list(request: HttpRequest, org_id: int) -> list[MembershipOut]:
    org = _visible(request, org_id, "organization.manage")
    return [_membership_out(m) for m in membership_list_active(org)]


class InviteIn(Schema):
    volunteer_number: str
    message: str = ""


@router.post(
    "/{org_id}/invitations",
    response={201: RequestOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def member_invite(request: HttpRequest, org_id: int, payload: InviteIn) -> Status[RequestOut]:
    from zhiyuan.people.models import VolunteerProfile

    org = get_object_or_404(Organization, pk=org_id)
    services.organization_require(request.user, "organization.manage", org, request=request)
    profile = VolunteerProfile.objects.filter(volunteer_number=payload.volunteer_number).first()
    if profile is None:
        raise ApiError(422, "unknown_volunteer", _("No volunteer has this number."))
    try:
        req = services.membership_invite(
            organization=org,
            user=profile.user,
            actor=_user(request),
            message=payload.message,
            request=request,
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        raise refused(exc) from exc
    return Status(201, _request_out(req))


class ApplyIn(Schema):
    message: str = ""


@router.post(
    "/{org_id}/applications",
    response={201: RequestOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def member_apply(request: HttpRequest, org_id: int, payload: ApplyIn) -> Status[RequestOut]:
    org = get_object_or_404(Organization, pk=org_id)
    try:
        req = services.membership_apply(
            organization=org, user=_user(request), message=payload.message, request=request
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        raise _refusal_error(exc) from exc
    return Status(201, _request_out(req))


class CallIn(Schema):
    title: str
    body: str
    risks: str = ""
    closes_on: date | None = None


@router.post(
    "/{org_id}/calls", response={201: CallOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def recruitment_call_publish(request: HttpRequest, org_id: int, payload: CallIn) -> Status[CallOut]:
    """Publish a call for volunteers; a suspended or unverified organisation is refused (403,
    code ``organization_<reason>``) and the refusal is audited."""
    org = get_object_or_404(Organization, pk=org_id)
    try:
        call = services.recruitment_call_publish(
            organization=org, actor=_user(request), request=request, **payload.dict()
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        raise refused(exc) from exc
    return Status(
        201,
        CallOut(
            id=call.pk,
            organization=org.pk,
            organization_name=org.name,
            title=call.title,
            body=call.body,
            risks=call.risks,
            closes_on=call.closes_on,
            published_at=call.published_at,
        ),
    )
