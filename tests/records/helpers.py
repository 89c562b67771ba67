"""Helpers of the records tests."""

from __future__ import annotations

from typing import Any

from zhiyuan.accounts.services import token_create


def bearer(user: Any) -> dict[str, str]:
    """Headers that authenticate an API request as ``user``."""
    _, key = token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}
