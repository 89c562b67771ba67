"""Reads of the rewards store."""

from __future__ import annotations

from django.db.models import QuerySet

from zhiyuan.accounts.models import User
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
