"""The web shell: each role's home page, the health check and the error pages."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.core import selectors
from zhiyuan.core.context_processors import ROLE_HOMES
from zhiyuan.core.permissions import active_grants, organization_scopes, region_scopes, require


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send a person to the home page of their first role, or explain that they have none."""
    held = {g.role for g in active_grants(request.user)}
    for role, url_name in ROLE_HOMES:
        if role in held:
            return redirect(url_name)
    return render(request, "core/no_role.html")


def _role_home(role: Role, template: str, build: Any) -> Any:
    @login_required
    def view(request: HttpRequest) -> HttpResponse:
        require(request.user, f"home.{role.value}", request=request)
        context = {"role": role, **build(request)}
        return render(request, template, context)

    view.__name__ = f"home_{role.value}"
    return view


def _resident(request: HttpRequest) -> dict[str, Any]:
    return {"grants": selectors.grants_for(cast(User, request.user), Role.RESIDENT)}


def _volunteer(request: HttpRequest) -> dict[str, Any]:
    return {"profile": selectors.volunteer_overview(cast(User, request.user))}


def _org_admin(request: HttpRequest) -> dict[str, Any]:
    ids = organization_scopes(request.user, "organization.manage")
    return {"organizations": selectors.organizations_with_members(ids)}


def _dispatcher(request: HttpRequest) -> dict[str, Any]:
    return selectors.region_overview(region_scopes(request.user, "volunteer.view"))


def _region_admin(request: HttpRequest) -> dict[str, Any]:
    return selectors.region_overview(region_scopes(request.user, "organization.verify"))


def _system_admin(request: HttpRequest) -> dict[str, Any]:
    return selectors.system_overview()


def _security_admin(request: HttpRequest) -> dict[str, Any]:
    return selectors.security_overview()


def _audit_admin(request: HttpRequest) -> dict[str, Any]:
    return selectors.audit_overview()


home_resident = _role_home(Role.RESIDENT, "core/home_resident.html", _resident)
home_volunteer = _role_home(Role.VOLUNTEER, "core/home_volunteer.html", _volunteer)
home_org_admin = _role_home(Role.ORG_ADMIN, "core/home_org_admin.html", _org_admin)
home_dispatcher = _role_home(Role.DISPATCHER, "core/home_dispatcher.html", _dispatcher)
home_region_admin = _role_home(Role.REGION_ADMIN, "core/home_region_admin.html", _region_admin)
home_system_admin = _role_home(Role.SYSTEM_ADMIN, "core/home_system_admin.html", _system_admin)
home_security_admin = _role_home(
    Role.SECURITY_ADMIN, "core/home_security_admin.html", _security_admin
)
home_audit_admin = _role_home(Role.AUDIT_ADMIN, "core/home_audit_admin.html", _audit_admin)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Is the database reachable and fully migrated? 200 when both, 503 otherwise."""
    body: dict[str, Any] = {"version": settings.ZHIYUAN_VERSION}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["database"] = "ok"
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        body["migrations"] = "applied" if not pending else f"{len(pending)} pending"
    except DatabaseError as exc:
        body["database"] = f"unreachable: {exc.__class__.__name__}"
        body["migrations"] = "unknown"
    healthy = body["database"] == "ok" and body["migrations"] == "applied"
    body["status"] = "ok" if healthy else "unhealthy"
    return JsonResponse(body, status=200 if healthy else 503)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/400.html", status=400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)
