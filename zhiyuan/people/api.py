"""People API: registration for app clients, the volunteer's own profile and rights, and the
region admin's masked volunteer list with audited unmasking."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status

from zhiyuan.accounts.models import PhonePurpose, User
from zhiyuan.accounts.otp import CodeRefused, phone_code_send
from zhiyuan.accounts.phones import InvalidPhone
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.audit import client_ip
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.people import selectors, services
from zhiyuan.people.models import NoticeKind, Skill, VolunteerProfile

router = Router(tags=["people"])


class FieldErrorsOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


def _invalid(exc: ValidationError) -> Status[FieldErrorsOut]:
    fields = (
        {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        if hasattr(exc, "error_dict")
        else {"__all__": exc.messages}
    )
    first = next(iter(fields.values()))[0]
    return Status(422, FieldErrorsOut(code="invalid", message=first, fields=fields))


class PhoneIn(Schema):
    phone: str


@router.post("/register/code", auth=None, response={202: None, 422: ErrorOut, 429: ErrorOut})
def register_code(request: HttpRequest, payload: PhoneIn) -> Status[None]:
    """Send the registration code by SMS (limited to one a minute, five an hour)."""
    try:
        phone_code_send(phone=payload.phone, purpose=PhonePurpose.REGISTER, ip=client_ip(request))
    except InvalidPhone as exc:
        raise ApiError(422, "invalid_phone", str(exc)) from exc
    except CodeRefused as exc:
        raise ApiError(429, exc.code, str(exc)) from exc
    return Status(202, None)


class RegisterIn(Schema):
    phone: str
    code: str
    name: str
    document_type: str
    document_number: str
    community: str
    password: str
    accept_notice: int
    birth_date: dt.date | None = None
    sex: str = ""
    guardian_phone: str = ""
    guardian_relation: str = ""


class RegisteredOut(Schema):
    volunteer_number: str
    status: str


@router.post("/register", auth=None, response={201: RegisteredOut, 422: FieldErrorsOut})
def register(request: HttpRequest, payload: RegisterIn) -> Any:
    try:
        profile = services.volunteer_register(**payload.dict(), request=request)
    except ValidationError as exc:
        return _invalid(exc)
    return Status(
        201, RegisteredOut(volunteer_number=profile.volunteer_number, status=profile.status)
    )


class QualificationOut(Schema):
    kind: str
    title: str
    issuer: str
    valid_until: dt.date | None


class ProfileOut(Schema):
    volunteer_number: str
    name: str
    phone: str  # masked
    document: str  # masked
    community: str
    status: str
    skills: list[str]
    tags: list[str]
    languages: list[str]
    availability: int
    max_travel_km: int
    emergency_ok: bool
    party_member: bool
    qualifications: list[QualificationOut]


def _profile_out(profile: VolunteerProfile) -> ProfileOut:
    identity = selectors.identity_of(profile.user)
    return ProfileOut(
        volunteer_number=profile.volunteer_number,
        name=profile.user.name,
        phone=profile.user.masked_phone,
        document=identity.masked_number if identity else "",
        community=profile.region.name,
        status=profile.status,
        skills=[s.code for s in profile.skills.all()],
        tags=profile.tags,
        languages=profile.languages,
        availability=profile.availability,
        max_travel_km=profile.max_travel_km,
        emergency_ok=profile.emergency_ok,
        party_member=profile.party_member,
        qualifications=[
            QualificationOut(kind=q.kind, title=q.title, issuer=q.issuer, valid_until=q.valid_until)
            for q in profile.qualifications.all()
        ],
    )


def _my_profile(request: HttpRequest) -> VolunteerProfile:
    profile = selectors.profile_of(request.user)
    if profile is None:
        raise Http404
    return profile


@router.get("/me", response={200: ProfileOut, 404: ErrorOut})
def me(request: HttpRequest) -> ProfileOut:
    return _profile_out(_my_profile(request))


class ProfilePatch(Schema):
    max_travel_km: int | None = None
    emergency_ok: bool | None = None
    address: str | None = None
    languages: list[str] | None = None
    tags: list[str] | None = None
    party_member: bool | None = None
    party_organization: str | None = None
    workplace: str | None = None
    availability: int | None = None
    skills: list[str] | None = None


@router.patch("/me", response={200: ProfileOut, 404: ErrorOut, 422: FieldErrorsOut})
def me_update(request: HttpRequest, payload: ProfilePatch) -> Any:
    profile = _my_profile(request)
    # null means "leave as it is": no field of a profile can be emptied to nothing by the API.
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    skill_codes = changes.pop("skills", None)
    skills = None
    if skill_codes is not None:
        skills = list(Skill.objects.filter(code__in=skill_codes))
        if len(skills) != len(set(skill_codes)):
            raise ApiError(422, "unknown_skill", "Unknown skill code.")
    try:
        services.profile_update(
            profile=profile,
            actor=cast(User, request.user),
            skills=skills,
            request=request,
            **changes,
        )
    except ValidationError as exc:
        return _invalid(exc)
    return _profile_out(_my_profile(request))


@router.get("/me/export")
def me_export(request: HttpRequest) -> dict[str, Any]:
    """Everything held about the caller, in full (audited as an export)."""
    return services.person_export(user=cast(User, request.user), request=request)


class PasswordIn(Schema):
    password: str


@router.post("/me/close", response={204: None, 422: FieldErrorsOut})
def me_close(request: HttpRequest, payload: PasswordIn) -> Any:
    try:
        services.person_close(
            user=cast(User, request.user), password=payload.password, request=request
        )
    except ValidationError as exc:
        return _invalid(exc)
    return Status(204, None)


class ConsentOut(Schema):
    kind: str
    version: int
    given_at: dt.datetime
    withdrawn_at: dt.datetime | None
    by_guardian: bool


@router.get("/me/consents", response=list[ConsentOut])
def consents(request: HttpRequest) -> list[ConsentOut]:
    return [
        ConsentOut(
            kind=c.notice.kind,
            version=c.notice.version,
            given_at=c.given_at,
            withdrawn_at=c.withdrawn_at,
            by_guardian=c.given_by_id != c.subject_id,
        )
        for c in selectors.consents_of(request.user)
    ]


def _kind(kind: str) -> NoticeKind:
    try:
        return NoticeKind(kind)
    except ValueError as exc:
        raise Http404 from exc


@router.post("/me/consents/{kind}", response={201: None, 404: ErrorOut})
def consent_give(request: HttpRequest, kind: str) -> Status[None]:
    services.consent_give(user=cast(User, request.user), kind=_kind(kind), request=request)
    return Status(201, None)


@router.delete("/me/consents/{kind}", response={204: None, 404: ErrorOut, 422: ErrorOut})
def consent_withdraw(request: HttpRequest, kind: str) -> Status[None]:
    services.consent_withdraw(user=cast(User, request.user), kind=_kind(kind), request=request)
    return Status(204, None)


class VolunteerRowOut(Schema):
    volunteer_number: str
    name: str
    phone: str  # masked
    community: str


@router.get("/volunteers", response={200: list[VolunteerRowOut], 403: ErrorOut})
def volunteers(
    request: HttpRequest, q: str = "", offset: int = 0, limit: int = 50
) -> list[VolunteerRowOut]:
    require(request.user, "volunteer.view", request=request)
    rows = selectors.volunteer_rows(region_scopes(request.user, "volunteer.view"), q)
    limit = max(1, min(limit, 200))
    return [
        VolunteerRowOut(
            volunteer_number=p.volunteer_number,
            name=p.user.name,
            phone=p.user.masked_phone,
            community=p.region.name,
        )
        for p in rows[max(0, offset) : max(0, offset) + limit]
    ]


class UnmaskIn(Schema):
    field: str
    reason: str


class UnmaskOut(Schema):
    field: str
    value: str


@router.post(
    "/volunteers/{number}/unmask",
    response={200: UnmaskOut, 403: ErrorOut, 404: ErrorOut, 422: FieldErrorsOut},
)
def unmask(request: HttpRequest, number: str, payload: UnmaskIn) -> Any:
    """Show one value in full with a stated reason; written to the audit log."""
    profile = selectors.volunteer_in_scope(region_scopes(request.user, "volunteer.view"), number)
    if profile is None:
        raise Http404
    if payload.field not in services.UNMASKABLE:
        raise ApiError(422, "invalid", "field must be phone, document_number or address")
    try:
        value = services.person_unmask(
            actor=cast(User, request.user),
            profile=profile,
            field=payload.field,
            reason=payload.reason,
            request=request,
        )
    except ValidationError as exc:
        return _invalid(exc)
    return UnmaskOut(field=payload.field, value=value)
