"""Reads of the rewards store."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from zhiyuan.accounts.models import User
from zhiyuan.core.permissions import organization_scopes, region_scopes
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.regions.selectors import region_subtree_q
from zhiyuan.store.models import Reward, Voucher, VoucherStatus


def rewards_for(region_code: str | None) -> QuerySet[Reward]:
    """Rewards on offer in the district of a member's community."""
    if region_code is None:
        return Reward.objects.none()
    district = region_code[:6] + "000000"
    return (
        Reward.objects.filter(
            region_subtree_q([district], field="organization__region"),
            active=True,
            organization__status=OrganizationStatus.VERIFIED,
        )
        .select_related("organization")
        .order_by("price_points", "name")
    )


def vouchers_of(user: User) -> QuerySet[Voucher]:
    return Voucher.objects.filter(holder=user).select_related("reward__organization")[:50]


def vouchers_used_at(organization_ids: list[int]) -> QuerySet[Voucher]:
    return (
        Voucher.objects.filter(
            reward__organization_id__in=organization_ids, status=VoucherStatus.USED
        )
        .select_related("reward")
        .order_by("-used_at")
    )


def partners_in(codes: list[str] | None) -> QuerySet[Organization]:
    """The organisations offering rewards in these regions: partner merchants first."""
    return Organization.objects.filter(region_subtree_q(codes), kind="merchant").order_by("name")


def reward_scope_q(user: User) -> Q:
    """The rewards this person may manage: their own shops' (merchant, organisation admin), or
    every reward offered in their region (region admin). Nothing for anyone else."""
    orgs = organization_scopes(user, "store.rewards")
    codes = region_scopes(user, "store.rewards")
    return Q(organization_id__in=orgs) | region_subtree_q(codes, field="organization__region")


def rewards_managed_by(user: User) -> QuerySet[Reward]:
    """Rewards the person manages, with how many are reserved by vouchers not yet handed over
    and how many were handed over; on offer first."""
    return (
        Reward.objects.filter(reward_scope_q(user))
        .select_related("organization")
        .annotate(
            reserved=Count("vouchers", filter=Q(vouchers__status=VoucherStatus.ISSUED)),
            handed_over=Count("vouchers", filter=Q(vouchers__status=VoucherStatus.USED)),
        )
        .order_by("-active", "organization__name", "name")
    )


def shops_managed_by(user: User) -> QuerySet[Organization]:
    """The organisations this person may list rewards for."""
    orgs = organization_scopes(user, "store.rewards")
    codes = region_scopes(user, "store.rewards")
    in_region = region_subtree_q(codes) & Q(kind="merchant") if codes != [] else Q(pk__in=[])
    return Organization.objects.filter(Q(pk__in=orgs) | in_region).order_by("name")
