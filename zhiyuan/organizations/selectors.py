"""Reads about organisations."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from zhiyuan.organizations.models import Organization
from zhiyuan.regions.selectors import region_subtree_q


def organization_list_visible(
    region_codes: list[str] | None, organization_ids: list[int]
) -> QuerySet[Organization]:
    """Organisations in the given region subtrees or among the given ids, with member counts."""
    condition = region_subtree_q(region_codes)
    if region_codes is not None and organization_ids:
        condition |= Q(pk__in=organization_ids)
    return (
        Organization.objects.filter(condition)
        .annotate(members=Count("memberships", filter=Q(memberships__left_at__isnull=True)))
        .select_related("region")
        .order_by("name")
    )
