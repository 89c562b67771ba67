"""Reads of the ledger: balances (now or as of any moment), statements and reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from zhiyuan.accounts.models import User
from zhiyuan.ledger.models import (
    Account,
    Asset,
    EarningRuleSet,
    Elder,
    OwnerKind,
    Posting,
    Relative,
    TimeBankItem,
    TransactionKind,
    Withdrawal,
    WithdrawalStatus,
)
from zhiyuan.regions.selectors import region_subtree_q


def balances_of(user: User) -> dict[str, int]:
    """The person's cached balance in each asset (zero where no account is open yet)."""
    found = dict(
        Account.objects.filter(kind=OwnerKind.USER, user=user).values_list("asset", "balance")
    )
    return {asset.value: int(found.get(asset.value, 0)) for asset in Asset}


def account_of(user: User, asset: Asset | str) -> Account | None:
    return Account.objects.filter(kind=OwnerKind.USER, user=user, asset=asset).first()


def balance_as_of(account: Account, moment: dt.datetime) -> int:
    """The balance derived from the postings booked up to and including ``moment``."""
    booked = Posting.objects.filter(transaction__created_at__lte=moment)
    credits = booked.filter(credit=account).aggregate(s=Sum("amount"))["s"] or 0
    debits = booked.filter(debit=account).aggregate(s=Sum("amount"))["s"] or 0
    return int(credits - debits)


@dataclass(frozen=True)
class StatementLine:
    at: dt.datetime
    transaction_id: int
    kind: str
    kind_label: str
    source: str
    amount: int  # signed: positive in, negative out
    balance: int
    memo: str


@dataclass
class Statement:
    account: Account
    start: dt.datetime
    end: dt.datetime
    opening: int
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def closing(self) -> int:
        return self.lines[-1].balance if self.lines else self.opening

    @property
    def total_in(self) -> int:
        return sum(line.amount for line in self.lines if line.amount > 0)

    @property
    def total_out(self) -> int:
        return -sum(line.amount for line in self.lines if line.amount < 0)


def account_statement(account: Account, start: dt.datetime, end: dt.datetime) -> Statement:
    """Every posting of the account booked in ``[start, end)``, with the running balance."""
    opening = balance_as_of(account, start - dt.timedelta(microseconds=1))
    statement = Statement(account=account, start=start, end=end, opening=opening)
    rows = (
        Posting.objects.filter(Q(debit=account) | Q(credit=account))
        .filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
        .select_related("transaction")
        .order_by("transaction__created_at", "transaction_id", "leg")
    )
    running = opening
    labels = dict(TransactionKind.choices)
    for posting in rows:
        amount = posting.amount if posting.credit_id == account.pk else -posting.amount
        running += amount
        tx = posting.transaction
        statement.lines.append(
            StatementLine(
                at=tx.created_at,
                transaction_id=tx.pk,
                kind=tx.kind,
                kind_label=str(labels.get(tx.kind, tx.kind)),
                source=posting.source,
                amount=amount,
                balance=running,
                memo=tx.memo,
            )
        )
    return statement


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """1 January to 1 January in the deployment's time zone."""
    tz = timezone.get_current_timezone()
    return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)


def recent_history(user: User, limit: int = 20) -> list[dict[str, Any]]:
    """The person's latest postings in either asset, newest first."""
    accounts = list(Account.objects.filter(kind=OwnerKind.USER, user=user))
    ids = [a.pk for a in accounts]
    assets = {a.pk: a.asset for a in accounts}
    labels = dict(TransactionKind.choices)
    rows = (
        Posting.objects.filter(Q(debit_id__in=ids) | Q(credit_id__in=ids))
        .select_related("transaction")
        .order_by("-transaction__created_at", "-transaction_id", "-leg")[:limit]
    )
    history = []
    for posting in rows:
        inbound = posting.credit_id in assets
        history.append(
            {
                "at": posting.transaction.created_at,
                "kind": posting.transaction.kind,
                "kind_label": labels.get(posting.transaction.kind, posting.transaction.kind),
                "asset": posting.asset,
                "amount": posting.amount if inbound else -posting.amount,
                "source": posting.source,
                "transaction_id": posting.transaction_id,
            }
        )
    return history


def relatives_of(user: User) -> QuerySet[Relative]:
    return Relative.objects.filter(member=user, removed_at__isnull=True).order_by("relation")


def withdrawals_to_arrange(codes: list[str] | None) -> QuerySet[Withdrawal]:
    """Members' free-standing time-bank requests in ``codes`` (not those paid through a need,
    which the dispatchers see as needs), the ones still waiting first, then the latest."""
    return (
        Withdrawal.objects.filter(region_subtree_q(codes), need_time_bank__isnull=True)
        .select_related("member", "relative", "region")
        .order_by(
            Case(When(status=WithdrawalStatus.REQUESTED, then=0), default=1),
            "-created_at",
        )
    )


def elders_in(codes: list[str] | None) -> QuerySet[Elder]:
    return (
        Elder.objects.filter(region_subtree_q(codes), active=True)
        .select_related("user", "region")
        .order_by("region_id", "pk")
    )


def held_for_needs(user: User) -> int:
    """Minutes already withdrawn for needs the member posted that nobody has started to serve
    (they come back if the need is cancelled; see zhiyuan/needs/timebank.py)."""
    held = Withdrawal.objects.filter(
        member=user, status=WithdrawalStatus.REQUESTED, need_time_bank__isnull=False
    ).aggregate(minutes=Sum("minutes"))["minutes"]
    return int(held or 0)


def withdrawals_of(user: User) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(member=user).select_related("relative", "need_time_bank")[:20]


def rule_versions(codes: list[str] | None) -> QuerySet[EarningRuleSet]:
    return EarningRuleSet.objects.filter(region_subtree_q(codes)).order_by("region_id", "-version")


def fund_balances(codes: list[str] | None) -> list[Account]:
    return list(
        Account.objects.filter(region_subtree_q(codes), kind=OwnerKind.FUND)
        .select_related("region")
        .order_by("region_id", "asset")
    )


@dataclass(frozen=True)
class ReportRow:
    organization_id: int | None
    organization: str
    issued: int
    redeemed: int


def points_report(codes: list[str] | None, start: dt.datetime, end: dt.datetime) -> list[ReportRow]:
    """Points issued (earned, net of reversals of earnings) and redeemed (net of refunds) in
    ``[start, end)`` per organisation, for transactions booked in the given regions.

    Opening-balance imports are not issuance for service and are left out.
    """
    postings = Posting.objects.filter(
        region_subtree_q(codes, field="transaction__region"),
        asset=Asset.POINTS,
        transaction__created_at__gte=start,
        transaction__created_at__lt=end,
    )
    # A reversal counts against the kind of the booking it reverses.
    kind = Case(
        When(transaction__kind=TransactionKind.REVERSAL, then=F("transaction__reverses__kind")),
        default=F("transaction__kind"),
    )
    # Into a person's account is positive, out of it negative.
    signed = Case(
        When(credit__kind=OwnerKind.USER, then=F("amount")),
        default=Value(0) - F("amount"),
        output_field=IntegerField(),
    )
    rows = (
        postings.annotate(k=kind, signed=signed)
        .filter(k__in=[TransactionKind.EARN, TransactionKind.REDEMPTION])
        .values("transaction__organization_id", "transaction__organization__name", "k")
        .annotate(total=Sum("signed"))
        .order_by()
    )
    by_org: dict[int | None, dict[str, Any]] = {}
    for row in rows:
        org = row["transaction__organization_id"]
        entry = by_org.setdefault(
            org, {"name": row["transaction__organization__name"] or "", "issued": 0, "redeemed": 0}
        )
        if row["k"] == TransactionKind.EARN:
            entry["issued"] += int(row["total"] or 0)
        else:
            entry["redeemed"] += -int(row["total"] or 0)
    return [
        ReportRow(org, entry["name"], entry["issued"], entry["redeemed"])
        for org, entry in sorted(by_org.items(), key=lambda kv: (kv[0] is None, kv[1]["name"]))
    ]


# --- the time bank's priced service items ------------------------------------------------------


def timebank_items_for(region_code: str) -> list[TimeBankItem]:
    """The price list that applies in a region: items of the region and its ancestors, the
    nearest region's item winning where two share a code; by name."""
    from zhiyuan.ledger.services import ancestor_codes

    codes = ancestor_codes(region_code)
    nearest: dict[str, TimeBankItem] = {}
    # A descendant's code sorts after its ancestors' (it fills zeros with digits), so the
    # nearest region comes first in descending order.
    for item in TimeBankItem.objects.filter(region_id__in=codes).order_by("-region_id", "code"):
        nearest.setdefault(item.code, item)
    return sorted(nearest.values(), key=lambda i: (i.name, i.code))


def timebank_items_in(codes: list[str] | None) -> QuerySet[TimeBankItem]:
    """Items priced by the regions an administrator looks after."""
    return (
        TimeBankItem.objects.filter(region_subtree_q(codes))
        .select_related("region")
        .order_by("region_id", "name", "code")
    )


# --- people an administrator may act on --------------------------------------------------------


def person_in_regions(user: User, codes: list[str] | None) -> bool:
    """Whether the person holds a role in one of these regions' subtrees (lives or serves
    there): a region administrator registers only their own region's people."""
    from zhiyuan.accounts.models import RoleGrant

    return (
        RoleGrant.objects.filter(user=user, revoked_at__isnull=True)
        .filter(region_subtree_q(codes))
        .exists()
    )


# --- for whom a member may spend time credit ---------------------------------------------------

SELF = "self"


@dataclass(frozen=True)
class Beneficiary:
    """Someone the member may spend credit for: themself (``relative`` None) or a relative."""

    value: str  # "self" or the relative's id, as a form sends it
    label: str
    relative: Relative | None = None


@dataclass(frozen=True)
class Barred:
    """Someone the member may not spend credit for yet, and why (in the member's words)."""

    value: str
    label: str
    reason: str


@dataclass(frozen=True)
class Beneficiaries:
    min_age: int
    allowed: list[Beneficiary]
    barred: list[Barred]

    def choices(self) -> list[tuple[str, str]]:
        return [(b.value, b.label) for b in self.allowed]

    def reasons(self) -> dict[str, str]:
        return {b.value: b.reason for b in self.barred}


def timebank_beneficiaries(
    member: User, region_code: str | None, today: dt.date | None = None
) -> Beneficiaries:
    """Whom the member may spend time credit for in this region now: themself and each
    registered relative who has reached the region's withdrawal age, the others with the
    reason. The same rule ``ledger.services.timebank_withdraw`` enforces; this read only lets
    the forms offer what the service would accept. Without a region, the default age."""
    from django.utils.translation import gettext as _

    from zhiyuan.ledger import errors
    from zhiyuan.ledger.services import (
        member_birth_date,
        timebank_policy_for,
        withdrawal_age_check,
    )

    today = today or timezone.localdate()
    from zhiyuan.ledger.models import TimeBankPolicy
    from zhiyuan.regions.codes import InvalidRegionCode

    try:
        policy = timebank_policy_for(region_code) if region_code else TimeBankPolicy()
    except InvalidRegionCode:  # a mistyped region sent with a form: its own field says so
        policy = TimeBankPolicy()
    min_age = policy.min_withdraw_age
    allowed: list[Beneficiary] = []
    barred: list[Barred] = []
    people: list[tuple[str, str, Relative | None, dt.date | None]] = [
        (SELF, _("Myself"), None, member_birth_date(member))
    ]
    for kin in relatives_of(member):
        people.append(
            (str(kin.pk), f"{kin.get_relation_display()} {kin.name}", kin, kin.birth_date)
        )
    for value, label, relative, birth in people:
        reason = ""
        try:
            withdrawal_age_check(birth, policy, today)  # the service's own rule
        except errors.BirthDateUnknown as exc:
            reason = str(exc.messages[0])
        except errors.TooYoung:
            reason = _("Under %(age)d: credit can be spent for people aged %(age)d or over.") % {
                "age": min_age
            }
        if reason:
            barred.append(Barred(value, label, reason))
        else:
            allowed.append(Beneficiary(value, label, relative))
    return Beneficiaries(min_age, allowed, barred)


# --- which price list applies where (the administrator's view) --------------------------------


@dataclass(frozen=True)
class PriceZone:
    """A region whose members' deposits follow one policy and one price list: the
    administrator's own region, and each region below it that sets its own time-bank policy or
    prices its own items. A region not listed follows the nearest listed region above it."""

    region: Any  # regions.Region
    priced: bool
    policy_region: str  # the name of the region whose policy applies here
    policy_own: bool  # the policy is this region's own
    items: list[TimeBankItem]  # in effect here when priced: the nearest region's item per code


def timebank_price_zones(region: Any) -> list[PriceZone]:
    """Where, under ``region``, which pricing switch and which items apply."""
    from zhiyuan.ledger.models import TimeBankPolicy
    from zhiyuan.ledger.services import ancestor_codes, timebank_policy_for
    from zhiyuan.regions.models import Region

    below = region_subtree_q([region.pk])
    codes = {region.pk}
    codes |= set(TimeBankPolicy.objects.filter(below).values_list("region_id", flat=True))
    codes |= set(TimeBankItem.objects.filter(below).values_list("region_id", flat=True))
    regions = list(Region.objects.filter(pk__in=codes).order_by("code"))
    names = dict(
        Region.objects.filter(
            pk__in={a for r in regions for a in ancestor_codes(r.pk)}
        ).values_list("code", "name")
    )
    zones = []
    for zone in regions:
        policy = timebank_policy_for(zone.pk)
        zones.append(
            PriceZone(
                region=zone,
                priced=policy.priced_items,
                policy_region=names.get(policy.region_id, policy.region_id),
                policy_own=policy.region_id == zone.pk,
                items=timebank_items_for(zone.pk),
            )
        )
    return zones


def timebank_item_uses(zones: list[PriceZone]) -> dict[int, list[str]]:
    """For each item, the names of the zones where it sets the price (pricing on, and no
    nearer region's item of the same code)."""
    uses: dict[int, list[str]] = {}
    for zone in zones:
        if zone.priced:
            for item in zone.items:
                uses.setdefault(item.pk, []).append(zone.region.name)
    return uses
