"""Every permission check in Zhiyuan goes through this module. Deny by default.

An *ability* names what someone wants to do ("organization.verify"). ``ABILITIES`` lists which
roles may do it; the role's *scope* (a region subtree, an organisation, or the whole deployment
for the three separated administrators) must cover the target. Anything not listed is refused.

Targets tell their scope through ``permission_scope()`` (regions and organisations do); ``None``
as target asks "may this person do this anywhere?", and list pages then narrow their queries
with :func:`region_scopes` / :func:`organization_scopes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from zhiyuan.accounts.roles import SEPARATED_ADMINS, Role

R = Role

ABILITIES: dict[str, frozenset[Role]] = {
    # --- the shell
    "home.resident": frozenset({R.RESIDENT}),
    "home.volunteer": frozenset({R.VOLUNTEER}),
    "home.org_admin": frozenset({R.ORG_ADMIN}),
    "home.dispatcher": frozenset({R.DISPATCHER}),
    "home.region_admin": frozenset({R.REGION_ADMIN}),
    "home.system_admin": frozenset({R.SYSTEM_ADMIN}),
    "home.security_admin": frozenset({R.SECURITY_ADMIN}),
    "home.audit_admin": frozenset({R.AUDIT_ADMIN}),
    "home.merchant": frozenset({R.MERCHANT}),
    # --- points, time bank and rewards store (issue 6)
    "ledger.own": frozenset({R.VOLUNTEER, R.RESIDENT}),
    "ledger.manage": frozenset({R.REGION_ADMIN}),
    "ledger.report": frozenset({R.REGION_ADMIN}),
    "store.redeem": frozenset({R.VOLUNTEER}),
    "store.vouchers": frozenset({R.MERCHANT}),
    # A merchant or an organisation admin manages their own organisation's rewards.
    "store.rewards": frozenset({R.MERCHANT, R.ORG_ADMIN, R.REGION_ADMIN}),
    "store.partners": frozenset({R.REGION_ADMIN}),
    # --- regions
    "region.view": frozenset({R.REGION_ADMIN, R.DISPATCHER, R.SYSTEM_ADMIN}),
    "region.import": frozenset({R.SYSTEM_ADMIN}),
    # --- people and roles (三员分立: the security administrator keeps roles, the system
    # administrator keeps accounts and configuration, the auditor only reads the log)
    "role.grant": frozenset({R.SECURITY_ADMIN, R.REGION_ADMIN}),
    # Appointing or removing one of the three separated administrators: the security admin only.
    "role.grant_admin": frozenset({R.SECURITY_ADMIN}),
    "user.manage": frozenset({R.SYSTEM_ADMIN}),
    "volunteer.view": frozenset({R.REGION_ADMIN, R.DISPATCHER, R.ORG_ADMIN}),
    "audit.view": frozenset({R.AUDIT_ADMIN}),
    # Seeing a masked value in full, with a stated reason; always audited.
    "pii.unmask": frozenset({R.REGION_ADMIN}),
    "admin.site": frozenset({R.SYSTEM_ADMIN}),
    # --- organisations
    "organization.view": frozenset({R.REGION_ADMIN, R.DISPATCHER, R.ORG_ADMIN}),
    "organization.manage": frozenset({R.ORG_ADMIN}),
    "organization.verify": frozenset({R.REGION_ADMIN}),
    "organization.register": frozenset({R.RESIDENT, R.VOLUNTEER, R.ORG_ADMIN}),
    "organization.join": frozenset({R.VOLUNTEER}),
    # --- legal safeguards (issue 4)
    "insurance.manage": frozenset({R.ORG_ADMIN}),
    "agreement.manage": frozenset({R.ORG_ADMIN}),
    "agreement.accept": frozenset({R.VOLUNTEER}),
    "case.handle": frozenset({R.REGION_ADMIN}),
    "sanction.impose": frozenset({R.REGION_ADMIN}),
    "risk.view": frozenset({R.REGION_ADMIN}),
    # --- residents' needs (issue 5)
    "need.post": frozenset({R.RESIDENT, R.DISPATCHER}),
    "need.timebank": frozenset({R.RESIDENT, R.VOLUNTEER}),
    "need.dispatch": frozenset({R.DISPATCHER}),
    "need.view": frozenset({R.DISPATCHER, R.REGION_ADMIN}),
    "need.serve": frozenset({R.VOLUNTEER}),
    "need.grab": frozenset({R.ORG_ADMIN}),
    "need.categories": frozenset({R.REGION_ADMIN}),
    "need.policy": frozenset({R.REGION_ADMIN}),
    "need.dashboard": frozenset({R.DISPATCHER, R.REGION_ADMIN}),
    # --- activities, check-in, service records and certificates (issue 8)
    "activity.manage": frozenset({R.ORG_ADMIN}),
    "activity.join": frozenset({R.VOLUNTEER}),
    "record.own": frozenset({R.VOLUNTEER}),
    "record.confirm": frozenset({R.ORG_ADMIN, R.REGION_ADMIN}),
    "record.flags": frozenset({R.REGION_ADMIN}),
    "record.rules": frozenset({R.REGION_ADMIN}),
    "certificate.revoke": frozenset({R.REGION_ADMIN}),  # org admins of the issuer: by chain
    # --- matching (issue 7): a need's ranked volunteers, "fill all", staffing suggestions
    "matching.rank": frozenset({R.DISPATCHER}),
    "matching.fill": frozenset({R.DISPATCHER}),
    "matching.staffing": frozenset({R.ORG_ADMIN}),
}


@dataclass(frozen=True)
class Scope:
    """Where a target lives: its region code and, if it belongs to one, its organisation."""

    region_code: str | None = None
    organization_id: int | None = None


def scope_of(target: Any) -> Scope | None:
    if target is None:
        return None
    if isinstance(target, Scope):
        return target
    if hasattr(target, "permission_scope"):
        scope: Scope = target.permission_scope()
        return scope
    raise TypeError(f"{type(target).__name__} does not tell its permission scope")


@dataclass(frozen=True)
class ActiveGrant:
    role: Role
    region_prefix: str | None
    region_code: str | None
    organization_id: int | None


def active_grants(user: Any) -> list[ActiveGrant]:
    """The user's unrevoked grants, read once per user object (one query)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, "_zhiyuan_grants", None)
    if cached is None:
        from zhiyuan.accounts.models import RoleGrant
        from zhiyuan.regions.codes import parse_code

        cached = [
            ActiveGrant(
                role=Role(g.role),
                region_prefix=parse_code(g.region_id).prefix if g.region_id else None,
                region_code=g.region_id,
                organization_id=g.organization_id,
            )
            for g in RoleGrant.objects.filter(user=user, revoked_at__isnull=True)
        ]
        user._zhiyuan_grants = cached
    return cached


def _covers(grant: ActiveGrant, scope: Scope | None) -> bool:
    if grant.role in SEPARATED_ADMINS:
        return True
    if scope is None:  # "anywhere": the role alone decides; lists narrow by scope
        return True
    if grant.region_prefix is not None:
        return scope.region_code is not None and scope.region_code.startswith(grant.region_prefix)
    if grant.organization_id is not None:
        return scope.organization_id == grant.organization_id
    return False


def has_perm(user: Any, ability: str, target: Any = None) -> bool:
    roles = ABILITIES.get(ability)
    if roles is None:
        return False  # an ability nobody declared is nobody's
    scope = scope_of(target)
    return any(g.role in roles and _covers(g, scope) for g in active_grants(user))


def has_role(user: Any, role: Role) -> bool:
    return any(g.role == role for g in active_grants(user))


class Refused(PermissionDenied):
    """A refusal that carries its audit entry until the entry can outlive a rollback.

    A refusal raised inside a service's transaction would roll its own audit entry back with
    everything else; so inside a transaction the entry waits on the exception, and the request
    layer (``RefusalAuditMiddleware``, the API's error handler) writes it once the transaction
    is gone. Outside a transaction it is written at once.
    """

    def __init__(self, message: str, audit: dict[str, Any]) -> None:
        super().__init__(message)
        self.audit = audit
        self.audited = False


def record_refusal(exc: BaseException) -> None:
    """Write the audit entry of a refusal, once; a no-op for other exceptions."""
    if isinstance(exc, Refused) and not exc.audited:
        from zhiyuan.core.audit import audit_record

        audit_record(**exc.audit)
        exc.audited = True


def require(
    user: Any, ability: str, target: Any = None, request: HttpRequest | None = None
) -> None:
    """Raise ``Refused`` (a PermissionDenied, audited) unless the user may do this here."""
    if has_perm(user, ability, target):
        return
    from django.db import transaction

    from zhiyuan.core.models import AuditAction, AuditResult

    scope = scope_of(target)
    refusal = Refused(
        _("You do not have permission to do this here."),
        {
            "action": AuditAction.ACCESS_DENIED,
            "actor": user,
            "result": AuditResult.DENIED,
            "object_type": ability,
            "object_id": (scope.region_code or str(scope.organization_id or "")) if scope else "",
            "request": request,
        },
    )
    if not transaction.get_connection().in_atomic_block:
        record_refusal(refusal)
    raise refusal


def region_scopes(user: Any, ability: str) -> list[str] | None:
    """Region codes whose subtrees the user may act on for this ability.

    ``None`` means everywhere (a separated administrator); an empty list means nowhere.
    """
    roles = ABILITIES.get(ability, frozenset())
    codes: list[str] = []
    for grant in active_grants(user):
        if grant.role not in roles:
            continue
        if grant.role in SEPARATED_ADMINS:
            return None
        if grant.region_code:
            codes.append(grant.region_code)
    return codes


def organization_scopes(user: Any, ability: str) -> list[int]:
    roles = ABILITIES.get(ability, frozenset())
    return [
        g.organization_id
        for g in active_grants(user)
        if g.role in roles and g.organization_id is not None
    ]
