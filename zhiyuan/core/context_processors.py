"""What the shared layout needs on every page: the role-aware menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from zhiyuan.accounts.roles import Role
from zhiyuan.core.permissions import active_grants


@dataclass(frozen=True)
class MenuItem:
    url: str
    label: str | Promise


# Each role's home page, in the order the menu lists them.
ROLE_HOMES: list[tuple[Role, str]] = [
    (Role.RESIDENT, "core:home_resident"),
    (Role.VOLUNTEER, "core:home_volunteer"),
    (Role.ORG_ADMIN, "core:home_org_admin"),
    (Role.DISPATCHER, "core:home_dispatcher"),
    (Role.REGION_ADMIN, "core:home_region_admin"),
    (Role.SYSTEM_ADMIN, "core:home_system_admin"),
    (Role.SECURITY_ADMIN, "core:home_security_admin"),
    (Role.AUDIT_ADMIN, "core:home_audit_admin"),
    (Role.MERCHANT, "store:merchant_home"),
]


def menu_for(user: Any) -> list[MenuItem]:
    held = {g.role for g in active_grants(user)}
    return [MenuItem(reverse(name), Role(role).label) for role, name in ROLE_HOMES if role in held]


def shell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    menu = menu_for(user) if user is not None and user.is_authenticated else []
    return {
        "zhiyuan_menu": menu,
        "zhiyuan_version": settings.ZHIYUAN_VERSION,
        "zhiyuan_site_name": _("Zhiyuan volunteer service"),
    }
