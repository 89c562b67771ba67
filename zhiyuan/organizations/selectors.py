"""Reads about organisations, and the gate other apps call before an organisation acts.

``organization_can_operate(org, at)`` is the one question the activities, needs and dispatch
code asks before an organisation publishes, recruits or receives a dispatched need: it answers
``None`` (go ahead) or a :class:`Refusal` naming the reason — not verified, rejected, suspended
(with the sanction and its end), deregistered — for the organisation or any parent above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
    OrganizationStatus,
    RecruitmentCall,
    RequestStatus,
)
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


def organization_chain(org: Organization) -> list[Organization]:
    """The organisation, then its parent, grandparent… up to the top (one query per level)."""
    chain = [org]
    seen = {org.pk}
    node = org
    while node.parent_id is not None and node.parent_id not in seen:
        node = Organization.objects.get(pk=node.parent_id)
        chain.append(node)
        seen.add(node.pk)
    return chain


def organization_descendant_ids(org: Organization) -> list[int]:
    """Ids of every team below the organisation, to any depth (one query per level)."""
    found: list[int] = []
    frontier = [org.pk]
    while frontier:
        frontier = list(
            Organization.objects.filter(parent_id__in=frontier)
            .exclude(pk__in=[*found, org.pk])
            .values_list("pk", flat=True)
        )
        found += frontier
    return found


def organization_tree(org: Organization) -> list[tuple[int, Organization]]:
    """The organisation's teams as (depth, team), depth-first, for display."""
    ids = organization_descendant_ids(org)
    by_parent: dict[int | None, list[Organization]] = {}
    for team in Organization.objects.filter(pk__in=ids).order_by("name"):
        by_parent.setdefault(team.parent_id, []).append(team)
    rows: list[tuple[int, Organization]] = []

    def walk(parent_id: int, depth: int) -> None:
        for team in by_parent.get(parent_id, []):
            rows.append((depth, team))
            walk(team.pk, depth + 1)

    walk(org.pk, 1)
    return rows


# --- the gate ---------------------------------------------------------------------------------


class OperatePurpose:
    """What the organisation is about to do; recorded with a refusal."""

    PUBLISH = "publish"
    RECRUIT = "recruit"
    RECEIVE_DISPATCH = "receive_dispatch"


@dataclass(frozen=True)
class Refusal:
    """Why an organisation (or volunteer) may not act now, in words and as a stable code."""

    code: str  # unverified | rejected | suspended | deregistered | banned
    message: str
    organization_id: int | None = None
    sanction_id: int | None = None
    until: datetime | None = None


def when(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def _node_refusal(node: Organization, at: datetime) -> Refusal | None:
    from zhiyuan.safeguards.models import SanctionKind
    from zhiyuan.safeguards.selectors import sanction_active, sanction_latest

    sanction = sanction_active(node, at)
    if sanction is not None:
        if sanction.kind == SanctionKind.DEREGISTRATION:
            return Refusal(
                "deregistered",
                _("%(org)s has been deregistered (sanction no. %(id)d: %(reason)s).")
                % {"org": node.name, "id": sanction.pk, "reason": sanction.reason},
                node.pk,
                sanction.pk,
            )
        assert sanction.ends_at is not None  # a suspension always names its end
        return Refusal(
            "suspended",
            _("%(org)s is suspended until %(end)s (sanction no. %(id)d: %(reason)s).")
            % {
                "org": node.name,
                "end": when(sanction.ends_at),
                "id": sanction.pk,
                "reason": sanction.reason,
            },
            node.pk,
            sanction.pk,
            sanction.ends_at,
        )
    if node.status == OrganizationStatus.DEREGISTERED:
        return Refusal(
            "deregistered",
            _("%(org)s has been deregistered and can no longer operate.") % {"org": node.name},
            node.pk,
        )
    if node.status == OrganizationStatus.SUSPENDED:
        last = sanction_latest(node, SanctionKind.SUSPENSION)
        # A suspension that has run out is honoured at once, even before the status is
        # brought up to date by sanction_sync_statuses.
        if last is None or last.starts_at > at:
            return Refusal(
                "suspended",
                _("%(org)s is suspended: %(reason)s")
                % {"org": node.name, "reason": node.status_reason or "—"},
                node.pk,
            )
        return None
    if node.status == OrganizationStatus.PENDING:
        return Refusal(
            "unverified",
            _(
                "%(org)s has not been verified yet: only a verified organisation can publish, "
                "recruit or receive dispatched needs."
            )
            % {"org": node.name},
            node.pk,
        )
    if node.status == OrganizationStatus.REJECTED:
        return Refusal(
            "rejected",
            _("%(org)s was not verified: %(reason)s")
            % {"org": node.name, "reason": node.status_reason or "—"},
            node.pk,
        )
    return None


def organization_can_operate(
    org: Organization, at: datetime | None = None, purpose: str = OperatePurpose.PUBLISH
) -> Refusal | None:
    """May ``org`` publish, recruit or receive dispatched needs at ``at`` (default: now)?

    ``None`` means yes. A team is held to its own standing and to every parent's: suspending
    an organisation stops all its teams. ``purpose`` does not change the answer today; it is
    part of the question so that a later rule (e.g. warnings limiting dispatch) has its place.
    """
    at = at or timezone.now()
    for node in organization_chain(org):
        refusal = _node_refusal(node, at)
        if refusal is not None:
            return refusal
    return None


# --- members, requests and calls --------------------------------------------------------------


def membership_list_active(org: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=org, left_at__isnull=True)
        .select_related("user", "user__volunteer")
        .order_by("role", "joined_at")
    )


def membership_history(org: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=org, left_at__isnull=False)
        .select_related("user")
        .order_by("-left_at")
    )


def membership_list_for_user(user: Any) -> QuerySet[Membership]:
    """Every membership of the person, past ones included (leaving keeps the history)."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("left_at", "-joined_at")
    )


def membership_requests_pending(org: Organization) -> QuerySet[MembershipRequest]:
    return MembershipRequest.objects.filter(
        organization=org, status=RequestStatus.PENDING
    ).select_related("user", "user__volunteer")


def membership_requests_for_user(user: Any) -> QuerySet[MembershipRequest]:
    return MembershipRequest.objects.filter(user=user).select_related("organization")


def recruitment_calls_open(
    region_codes: list[str] | None = None, at: datetime | None = None
) -> QuerySet[RecruitmentCall]:
    """Open calls of verified organisations, optionally in the given region subtrees."""
    today = timezone.localdate(at or timezone.now())
    return (
        RecruitmentCall.objects.filter(
            region_subtree_q(region_codes, field="organization__region"),
            closed_at__isnull=True,
            organization__status=OrganizationStatus.VERIFIED,
        )
        .filter(Q(closes_on__isnull=True) | Q(closes_on__gte=today))
        .select_related("organization", "organization__region")
        .order_by("-published_at")
    )


def organization_registrations_of(user: Any) -> QuerySet[Organization]:
    """The organisations a person registered, whatever their state."""
    return Organization.objects.filter(registered_by=user).order_by("-created_at")


def organization_list_pending(region_codes: list[str] | None) -> QuerySet[Organization]:
    """The verification queue of a region admin: waiting registrations, oldest first."""
    return (
        Organization.objects.filter(
            region_subtree_q(region_codes), status=OrganizationStatus.PENDING
        )
        .select_related("region", "parent", "sponsor", "sponsor_region")
        .order_by("created_at")
    )
