"""Accounts API: who am I, and API tokens (obtain, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from ninja import Router, Schema, Status

from zhiyuan.accounts.models import ApiToken, User
from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile
from zhiyuan.accounts.second_factor import needs_second_factor, otp_required
from zhiyuan.accounts.services import token_create, token_revoke
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import active_grants

router = Router(tags=["accounts"])


class GrantOut(Schema):
    role: str
    region: str | None
    organization: int | None


class MeOut(Schema):
    id: int
    name: str
    phone: str  # masked
    language: str
    roles: list[GrantOut]


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> MeOut:
    user = cast(User, request.user)
    return MeOut(
        id=user.pk,
        name=user.name,
        phone=user.masked_phone,
        language=user.language,
        roles=[
            GrantOut(role=g.role.value, region=g.region_code, organization=g.organization_id)
            for g in active_grants(user)
        ],
    )


class TokenIn(Schema):
    phone: str
    password: str
    name: str = "app"
    otp: str = ""  # administrators' six-digit code, where the second factor is required


class TokenCreatedOut(Schema):
    id: int
    token: str
    prefix: str
    expires_at: datetime | None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


@router.post(
    "/tokens",
    auth=None,
    response={201: TokenCreatedOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def token_obtain(request: HttpRequest, payload: TokenIn) -> Status[TokenCreatedOut]:
    """Exchange a mobile number and password for a token. The token is shown once."""
    try:
        phone = normalize_mobile(payload.phone)
    except InvalidPhone as exc:
        raise ApiError(422, "invalid_phone", str(exc)) from exc
    user = authenticate(request, username=phone, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        raise ApiError(429, "locked_out", _("Too many failed log-ins: try again in 15 minutes."))
    if user is None:
        raise ApiError(401, "invalid_login", _("The mobile number or the password is not right."))
    if otp_required() and needs_second_factor(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None or not device.verify_token(payload.otp.strip()):
            raise ApiError(
                401,
                "second_factor_required",
                _("Administrators add the six-digit code of their authenticator app."),
            )
    token, key = token_create(user=cast(User, user), name=payload.name, request=request)
    return Status(
        201,
        TokenCreatedOut(id=token.pk, token=key, prefix=token.prefix, expires_at=token.expires_at),
    )


@router.get("/tokens", response=list[TokenOut])
def token_list(request: HttpRequest) -> list[TokenOut]:
    return [
        TokenOut(
            id=t.pk,
            name=t.name,
            prefix=t.prefix,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked=t.revoked_at is not None,
        )
        for t in ApiToken.objects.filter(user=cast(User, request.user))
    ]


@router.delete("/tokens/{token_id}", response={204: None, 404: ErrorOut})
def token_delete(request: HttpRequest, token_id: int) -> Status[None]:
    # Someone else's token id answers 404: its existence is not for others to learn.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token_revoke(token=token, user=cast(User, request.user), request=request)
    return Status(204, None)
