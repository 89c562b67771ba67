"""Writes to accounts: creating people, granting and revoking roles, issuing API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import ApiToken, RoleGrant, User, phone_index
from zhiyuan.accounts.phones import normalize_mobile
from zhiyuan.accounts.roles import ORGANIZATION_ROLES, REGION_ROLES, SEPARATED_ADMINS, Role
from zhiyuan.core.audit import audit_record
from zhiyuan.core.models import AuditAction
from zhiyuan.core.permissions import require
from zhiyuan.organizations.models import Organization
from zhiyuan.regions.models import Region

TOKEN_PREFIX = "zy_"  # noqa: S105 — a marker, not a secret


class PhoneTaken(ValidationError):
    """An account with this number exists; the message does not say whose."""


@transaction.atomic
def user_create(*, phone: str, password: str | None, name: str = "", **extra: Any) -> User:
    """Create an account for a mobile number. ``password=None`` makes an account that cannot
    log in with a password (a resident registered by a community worker, for example)."""
    phone = normalize_mobile(phone)
    if User.objects.filter(phone_index=phone_index(phone)).exists():
        raise PhoneTaken(_("An account with this mobile number already exists."))
    try:
        with transaction.atomic():
            return User.objects.create_user(phone, password, name=name, **extra)
    except IntegrityError as exc:  # a concurrent registration won the unique index
        raise PhoneTaken(_("An account with this mobile number already exists.")) from exc


def _check_scope(role: Role, region: Region | None, organization: Organization | None) -> None:
    if role in SEPARATED_ADMINS and (region or organization):
        raise ValidationError(_("This administrator role covers the whole deployment."))
    if role in REGION_ROLES and (region is None or organization is not None):
        raise ValidationError(_("This role needs a region."))
    if role in ORGANIZATION_ROLES and (organization is None or region is not None):
        raise ValidationError(_("This role needs an organisation."))


def _require_granter(actor: User, role: Role, scope: Any, request: Any) -> None:
    """Who may hand out this role here. Runs before the write's transaction, so that a refusal
    keeps its audit entry."""
    if role in SEPARATED_ADMINS:
        require(actor, "role.grant_admin", request=request)
    else:
        # scope is never None here: _check_scope demanded a region or an organisation.
        require(actor, "role.grant", scope, request=request)


def role_grant(
    *,
    user: User,
    role: Role,
    region: Region | None = None,
    organization: Organization | None = None,
    granted_by: User | None = None,
    request: Any = None,
) -> RoleGrant:
    """Grant a role over a scope; the granter must be allowed to (checked unless a system task)."""
    role = Role(role)
    _check_scope(role, region, organization)
    if granted_by is not None:
        _require_granter(granted_by, role, region or organization, request)
    with transaction.atomic():
        return _role_grant_write(role, user, region, organization, granted_by, request)


def _role_grant_write(
    role: Role,
    user: User,
    region: Region | None,
    organization: Organization | None,
    granted_by: User | None,
    request: Any,
) -> RoleGrant:
    grant, created = RoleGrant.objects.get_or_create(
        user=user,
        role=role,
        region=region,
        organization=organization,
        revoked_at=None,
        defaults={"granted_by": granted_by},
    )
    if created:
        audit_record(
            action=AuditAction.ROLE_GRANTED,
            actor=granted_by,
            target=grant,
            request=request,
            detail={
                "user": user.pk,
                "role": role.value,
                "region": region.pk if region else None,
                "organization": organization.pk if organization else None,
            },
        )
    return grant


def role_revoke(*, grant: RoleGrant, revoked_by: User | None = None, request: Any = None) -> None:
    if revoked_by is not None:
        _require_granter(revoked_by, Role(grant.role), grant.region or grant.organization, request)
    with transaction.atomic():
        _role_revoke_write(grant, revoked_by, request)


def _role_revoke_write(grant: RoleGrant, revoked_by: User | None, request: Any) -> None:
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.ROLE_REVOKED,
            actor=revoked_by,
            target=grant,
            request=request,
            detail={"user": grant.user_id, "role": grant.role},
        )


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(
    *, user: User, name: str, days: int | None = 90, request: Any = None
) -> tuple[ApiToken, str]:
    """Issue a token; the clear key is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 60:
        raise ValidationError(_("Give the token a name of at most 60 characters."))
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[: len(TOKEN_PREFIX) + 6],
        key_hash=_hash_key(key),
        expires_at=timezone.now() + timedelta(days=days) if days else None,
    )
    audit_record(action=AuditAction.TOKEN_CREATED, actor=user, target=token, request=request)
    return token, key


def token_authenticate(key: str) -> User | None:
    """The active user behind a bearer key, or None."""
    if not key.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash_key(key)).first()
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def token_revoke(*, token: ApiToken, user: User, request: Any = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action=AuditAction.TOKEN_REVOKED, actor=user, target=token, request=request)
