"""Reads about volunteers."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from zhiyuan.people.models import VolunteerProfile
from zhiyuan.regions.selectors import region_subtree_q


def volunteer_list_in_regions(codes: list[str] | None) -> QuerySet[VolunteerProfile]:
    return (
        VolunteerProfile.objects.filter(region_subtree_q(codes))
        .select_related("user", "region")
        .order_by("volunteer_number")
    )


def volunteer_counts_by_street(codes: list[str] | None) -> list[tuple[str, int]]:
    """How many volunteers live in each street of the scope (communities rolled up by code)."""
    from django.db.models.functions import Left

    rows = (
        VolunteerProfile.objects.filter(region_subtree_q(codes))
        .annotate(street=Left("region_id", 9))
        .values_list("street")
        .annotate(n=Count("id"))
        .order_by("street")
    )
    return [(str(street), int(n)) for street, n in rows]
