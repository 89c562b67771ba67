"""Log-in and log-out pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from zhiyuan.accounts.forms import PhoneLoginForm


class LoginView(auth_views.LoginView):
    form_class = PhoneLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def locked_out(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """What django-axes answers after five failed log-ins for one account."""
    if request.path.startswith("/api/"):
        message = _("Too many failed log-ins: try again in 15 minutes.")
        return JsonResponse({"code": "locked_out", "message": message}, status=429)
    return render(request, "accounts/locked_out.html", status=429)
