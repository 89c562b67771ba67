"""Log-in, failed log-in, log-out and lock-out go to the audit log."""

from __future__ import annotations

import time
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from zhiyuan.accounts.backends import axes_username
from zhiyuan.core.audit import audit_record
from zhiyuan.core.middleware import SEEN, STARTED
from zhiyuan.core.models import AuditAction, AuditResult


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # The 12-hour absolute session limit counts from here (SessionLimitsMiddleware).
    request.session[STARTED] = request.session[SEEN] = time.time()
    audit_record(action=AuditAction.LOGIN, actor=user, target=user, request=request)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action=AuditAction.LOGOUT, actor=user, target=user, request=request)


@receiver(user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        result=AuditResult.FAILED,
        object_type="accounts.login",
        object_id=axes_username(request, credentials),
        request=request,
    )


@receiver(user_locked_out)
def _locked_out(sender: Any, request: HttpRequest, username: str, **kwargs: Any) -> None:
    audit_record(
        action=AuditAction.LOCKED_OUT,
        result=AuditResult.DENIED,
        object_type="accounts.login",
        object_id=username or "",
        request=request,
    )
