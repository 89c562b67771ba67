"""Reads of the records app: a volunteer's hours, the organiser's queues, flag rates, and the
claimed-hours signal the safeguards' risk ranking reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from zhiyuan.organizations.models import Organization
from zhiyuan.records.models import (
    Certificate,
    CorrectionRequest,
    CorrectionStatus,
    RecordRuleVersion,
    RecordStatus,
    ServiceRecord,
)
from zhiyuan.regions.selectors import region_subtree_q


def records_of(volunteer: Any) -> QuerySet[ServiceRecord]:
    """Every version of the volunteer's records, newest service first."""
    return (
        ServiceRecord.objects.filter(volunteer=volunteer)
        .select_related("organization", "activity")
        .order_by("-started_at", "-version")
    )


@dataclass(frozen=True)
class HoursSummary:
    confirmed_minutes: int
    pending_minutes: int
    confirmed_count: int
    by_organization: list[tuple[Organization, int]]

    @property
    def confirmed_hours(self) -> float:
        return round(self.confirmed_minutes / 60, 2)

    @property
    def pending_hours(self) -> float:
        return round(self.pending_minutes / 60, 2)


def hours_summary(volunteer: Any) -> HoursSummary:
    rows = ServiceRecord.objects.filter(volunteer=volunteer)
    totals = rows.aggregate(
        confirmed=Sum("credited_minutes", filter=Q(status=RecordStatus.CONFIRMED)),
        pending=Sum("minutes", filter=Q(status=RecordStatus.PENDING)),
        n=Count("id", filter=Q(status=RecordStatus.CONFIRMED)),
    )
    per_org = (
        rows.filter(status=RecordStatus.CONFIRMED)
        .values("organization_id")
        .annotate(m=Sum("credited_minutes"))
        .order_by("-m")
    )
    orgs = Organization.objects.in_bulk([r["organization_id"] for r in per_org])
    return HoursSummary(
        confirmed_minutes=totals["confirmed"] or 0,
        pending_minutes=totals["pending"] or 0,
        confirmed_count=totals["n"] or 0,
        by_organization=[(orgs[r["organization_id"]], r["m"] or 0) for r in per_org],
    )


def confirmation_queue(org_ids: list[int]) -> QuerySet[ServiceRecord]:
    """Records waiting for confirmation, flagged and overdue first, then oldest due first."""
    return (
        ServiceRecord.objects.filter(organization_id__in=org_ids, status=RecordStatus.PENDING)
        .select_related("volunteer", "activity", "shift", "session", "first_confirmed_by")
        .order_by("overdue_at", "due_at", "pk")
    )


def second_confirmation_queue(region_codes: list[str] | None) -> QuerySet[ServiceRecord]:
    """Flagged records confirmed once, waiting for a second confirmer (region admins)."""
    return (
        ServiceRecord.objects.filter(
            region_subtree_q(region_codes),
            status=RecordStatus.PENDING,
            first_confirmed_by__isnull=False,
        )
        .select_related("volunteer", "activity", "organization", "first_confirmed_by")
        .order_by("due_at", "pk")
    )


def corrections_pending(org_ids: list[int]) -> QuerySet[CorrectionRequest]:
    return (
        CorrectionRequest.objects.filter(
            record__organization_id__in=org_ids, status=CorrectionStatus.PENDING
        )
        .select_related("record", "record__activity", "requested_by")
        .order_by("created_at")
    )


def corrections_of(volunteer: Any) -> QuerySet[CorrectionRequest]:
    return CorrectionRequest.objects.filter(requested_by=volunteer).select_related("record")


@dataclass(frozen=True)
class FlagRate:
    organization: Organization
    records: int
    flagged: int
    overdue: int

    @property
    def rate(self) -> float:
        return round(self.flagged / self.records, 3) if self.records else 0.0


def record_flag_rates(
    region_codes: list[str] | None, since: dt.datetime | None = None
) -> list[FlagRate]:
    """Per organisation of the region: records made since ``since`` (default 90 days), how
    many were flagged by the anomaly checks and how many went past their confirmation date.
    Highest rate first. The safeguards' risk ranking may read it too (one query)."""
    since = since or timezone.now() - dt.timedelta(days=90)
    rows = (
        ServiceRecord.objects.filter(
            region_subtree_q(region_codes, field="organization__region"),
            created_at__gte=since,
            version=1,
        )
        .values("organization_id")
        .annotate(
            n=Count("id"),
            flagged=Count("id", filter=~Q(flags=[])),
            overdue=Count("id", filter=Q(overdue_at__isnull=False)),
        )
    )
    orgs = Organization.objects.in_bulk([r["organization_id"] for r in rows])
    rates = [FlagRate(orgs[r["organization_id"]], r["n"], r["flagged"], r["overdue"]) for r in rows]
    return sorted(rates, key=lambda r: (-r.rate, -r.records, r.organization.pk))


def weekly_claimed_hours(org_ids: list[int], now: dt.datetime) -> dict[int, list[float]]:
    """Hours of records made per organisation per week over the last nine weeks, oldest first
    (the safeguards' "hours jump" signal; registered in ``RecordsConfig.ready``)."""
    weeks = 9
    start = now - dt.timedelta(weeks=weeks)
    rows = (
        ServiceRecord.objects.filter(
            organization_id__in=org_ids, version=1, started_at__gte=start, started_at__lt=now
        )
        .annotate(week=TruncWeek("started_at"))
        .values("organization_id", "week")
        .annotate(m=Sum("minutes"))
    )
    found: dict[int, dict[int, float]] = {}
    for row in rows:
        index = min(weeks - 1, max(0, (row["week"] - start).days // 7))
        found.setdefault(row["organization_id"], {}).setdefault(index, 0.0)
        found[row["organization_id"]][index] += (row["m"] or 0) / 60
    return {
        org: [round(per_week.get(i, 0.0), 2) for i in range(weeks)]
        for org, per_week in found.items()
    }


def certificates_of(volunteer: Any) -> QuerySet[Certificate]:
    return Certificate.objects.filter(volunteer=volunteer).order_by("-issued_at")


def certificate_by_code(code: str) -> Certificate | None:
    """The certificate with this verification code (printed beside its QR code). The public
    check looks certificates up by this random code only: their numbers are consecutive, so a
    number would let anyone walk through every certificate."""
    code = "".join(c for c in (code or "").upper() if c.isalnum())
    if not 6 <= len(code) <= 12:
        return None
    return Certificate.objects.filter(short_code=code).select_related("organization").first()


def certificates_issued(
    org_ids: list[int] | None, region_codes: list[str] | None, query: str = ""
) -> QuerySet[Certificate]:
    """Certificates issued by the given organisations, or by any organisation of the given
    regions (``None``: everywhere), newest first; ``query`` narrows by number or code."""
    rows = Certificate.objects.select_related("organization", "revoked_by")
    scope = Q(pk__in=[])
    if org_ids:
        scope |= Q(organization_id__in=org_ids)
    if region_codes is None:
        scope = Q()
    elif region_codes:
        scope |= region_subtree_q(region_codes, field="organization__region")
    rows = rows.filter(scope)
    query = (query or "").strip().upper()
    if query:
        rows = rows.filter(Q(number__icontains=query) | Q(short_code=query))
    # How many certified records were corrected since (read by ``certificate_standing``).
    return rows.annotate(
        changed_records=Count("records", filter=~Q(records__status=RecordStatus.CONFIRMED))
    ).order_by("-issued_at", "-pk")


def rule_versions(region_code: str, limit: int = 50) -> list[RecordRuleVersion]:
    """The region's own rule versions, newest first, with who changed them."""
    return list(
        RecordRuleVersion.objects.filter(region_id=region_code)
        .select_related("changed_by")
        .order_by("-version")[:limit]
    )


def organizations_served(volunteer: Any) -> list[Organization]:
    ids = (
        ServiceRecord.objects.filter(volunteer=volunteer, status=RecordStatus.CONFIRMED)
        .values_list("organization_id", flat=True)
        .distinct()
    )
    return list(Organization.objects.filter(pk__in=ids).order_by("name"))
