"""The second factor for administrators (TOTP, django-otp).

Region admins and the three separated administrators must confirm a time-based code after
their password before any page works. ``ZHIYUAN_ADMIN_OTP`` decides: ``required`` (production,
and the tests that check it) or ``optional`` (the demo, where reviewers log in as every role).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import segno
from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from zhiyuan.accounts.roles import ADMIN_ROLES
from zhiyuan.core.audit import audit_actions, audit_record
from zhiyuan.core.models import AuditResult
from zhiyuan.core.permissions import active_grants


@audit_actions
class SecondFactorAudit(models.TextChoices):
    ENROLLED = "auth.otp_enrolled", gettext_lazy("Second factor set up")
    VERIFIED = "auth.otp_verified", gettext_lazy("Second factor confirmed")
    FAILED = "auth.otp_failed", gettext_lazy("Wrong second-factor code")


def otp_required() -> bool:
    return getattr(settings, "ZHIYUAN_ADMIN_OTP", "required") == "required"


def needs_second_factor(user: Any) -> bool:
    if not user.is_authenticated:
        return False
    # Django's own staff flags reach the admin site, so they count as administrators too.
    return bool(user.is_staff or user.is_superuser) or any(
        g.role in ADMIN_ROLES for g in active_grants(user)
    )


def device_for(user: Any) -> TOTPDevice:
    """The user's TOTP device: the confirmed one, or a fresh unconfirmed one to enrol."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="zhiyuan", confirmed=False)
    return device


def qr_data_uri(device: TOTPDevice) -> str:
    svg = segno.make(device.config_url, error="m").svg_inline(scale=4)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def secret_text(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def second_factor_verify(*, request: HttpRequest, device: TOTPDevice, code: str) -> bool:
    """Check a code; on success mark the session verified (and confirm a new device)."""
    ok = device.verify_is_allowed()[0] and device.verify_token((code or "").strip())
    if not ok:
        audit_record(
            action=SecondFactorAudit.FAILED,
            actor=request.user,
            target=request.user,  # type: ignore[arg-type]
            result=AuditResult.FAILED,
            request=request,
        )
        return False
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(
            action=SecondFactorAudit.ENROLLED, actor=request.user, target=device, request=request
        )
    otp_login(request, device)
    audit_record(
        action=SecondFactorAudit.VERIFIED, actor=request.user, target=device, request=request
    )
    return True


OPEN_PATHS = ("/accounts/", "/static/", "/i18n/", "/jsi18n/", "/healthz")


class AdminSecondFactorMiddleware:
    """Until an administrator has confirmed a code this session, every page sends them to the
    second-factor page and every API call answers 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            otp_required()
            and user is not None
            and needs_second_factor(user)
            and not user.is_verified()
            and not request.path.startswith(OPEN_PATHS)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {
                        "code": "second_factor_required",
                        "message": _("Confirm your second factor first."),
                    },
                    status=403,
                )
            return redirect(f"{reverse('accounts:second_factor')}?next={request.path}")
        return self.get_response(request)
