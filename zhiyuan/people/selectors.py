"""Reads about volunteers."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from zhiyuan.people.models import Consent, Identity, ProfileStatus, VolunteerProfile
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


def profile_of(user: Any) -> VolunteerProfile | None:
    return (
        VolunteerProfile.objects.filter(user=user)
        .select_related("region", "user")
        .prefetch_related("skills", "qualifications")
        .first()
    )


def identity_of(user: Any) -> Identity | None:
    return Identity.objects.filter(user=user).first()


def consents_of(user: Any) -> list[Consent]:
    return list(Consent.objects.filter(subject=user).select_related("notice", "given_by"))


def volunteer_rows(codes: list[str] | None, query: str = "") -> QuerySet[VolunteerProfile]:
    """Volunteers in scope for the admin list; search by volunteer number or exact name."""
    rows = volunteer_list_in_regions(codes).exclude(status=ProfileStatus.CLOSED)
    query = query.strip()
    if query.isdigit():
        rows = rows.filter(volunteer_number__startswith=query)
    elif query:
        rows = rows.filter(user__name=query)
    return rows


def volunteer_in_scope(codes: list[str] | None, number: str) -> VolunteerProfile | None:
    return (
        VolunteerProfile.objects.filter(region_subtree_q(codes), volunteer_number=number)
        .select_related("user", "region")
        .prefetch_related("skills", "qualifications")
        .first()
    )
