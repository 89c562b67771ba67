"""Reads about accounts and their role grants that other apps share."""

from __future__ import annotations

from zhiyuan.accounts.models import RoleGrant
from zhiyuan.accounts.roles import Role
from zhiyuan.regions.codes import ancestor_codes


def role_holders_over(role: Role, region_code: str) -> list[int]:
    """Users holding ``role`` over a region that covers ``region_code`` (the region itself or
    one above it), by id: the dispatchers of a need, the administrators of a request."""
    return list(
        RoleGrant.objects.filter(
            role=role, revoked_at__isnull=True, region_id__in=ancestor_codes(region_code)
        )
        .values_list("user_id", flat=True)
        .distinct()
    )
