"""Log-in by mobile number."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from zhiyuan.accounts.phones import InvalidPhone


class PhoneBackend(ModelBackend):
    """Django's model backend, with a malformed number treated as an unknown account."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except InvalidPhone:
            return None


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """What django-axes counts failures against: the blind index, never the number itself."""
    from zhiyuan.accounts.models import phone_index

    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username", "")
    try:
        return phone_index(str(raw or ""))
    except InvalidPhone:
        # Malformed input cannot match an account; count it under a fixed key so it is still
        # visible to the security administrator without storing what was typed.
        return "invalid-phone"
