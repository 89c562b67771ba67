"""Log-in and log-out pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from zhiyuan.accounts.forms import PhoneLoginForm
from zhiyuan.accounts.second_factor import (
    device_for,
    needs_second_factor,
    qr_data_uri,
    second_factor_verify,
    secret_text,
)


class LoginView(auth_views.LoginView):
    form_class = PhoneLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
def second_factor(request: HttpRequest) -> HttpResponse:
    """Set up (first time) or confirm the administrator's time-based code."""
    if not needs_second_factor(request.user):
        return redirect("core:home")
    device = device_for(request.user)
    error = ""
    if request.method == "POST":
        if second_factor_verify(request=request, device=device, code=request.POST.get("code", "")):
            target = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = reverse("core:home")
            return redirect(target or "core:home")
        error = _(
            "The code is not right, or too many tries were made: wait a little and try again."
        )
    context = {"device": device, "error": error}
    if not device.confirmed:
        context |= {"qr": qr_data_uri(device), "secret": secret_text(device)}
    return render(request, "accounts/second_factor.html", context)


def locked_out(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """What django-axes answers after five failed log-ins for one account."""
    if request.path.startswith("/api/"):
        message = _("Too many failed log-ins: try again in 15 minutes.")
        return JsonResponse({"code": "locked_out", "message": message}, status=429)
    return render(request, "accounts/locked_out.html", status=429)
