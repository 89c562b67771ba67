"""Reads of the safeguards, and the questions other apps ask.

- ``sanction_active(party, at)``: the restricting sanction in force against an organisation or
  a volunteer, or None.
- ``volunteer_can_serve(user, at)``: None, or a Refusal naming the sanction and its end — the
  activities issue asks it at sign-up, the needs issue before dispatching to a volunteer.
- ``insurance_cover_for(user, organization, activity_type, start, end)``: Cover(policy) or
  NotCovered(reason).
- ``insurance_uncovered(activities)``: for each upcoming activity, who in it is not covered.
- ``agreement_acceptance_for(user, template, subject)``: has the person accepted the current
  version?
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.organizations.models import Membership, Organization
from zhiyuan.organizations.selectors import Refusal, organization_descendant_ids, when
from zhiyuan.regions.selectors import region_subtree_q
from zhiyuan.safeguards import coverage, risk
from zhiyuan.safeguards.models import (
    RESTRICTING,
    ActivityType,
    AgreementAcceptance,
    AgreementTemplate,
    AgreementVersion,
    Case,
    CaseCategory,
    CaseOutcome,
    CaseStatus,
    IncidentSeverity,
    InsurancePolicy,
    InsuredPerson,
    PartyKind,
    Sanction,
    SanctionKind,
)

# --- sanctions --------------------------------------------------------------------------------


def _party_filter(party: Any) -> Q:
    if isinstance(party, Organization):
        return Q(party_kind=PartyKind.ORGANIZATION, organization_id=party.pk)
    return Q(party_kind=PartyKind.VOLUNTEER, user_id=party.pk)


def _in_force(at: datetime) -> Q:
    return (
        Q(starts_at__lte=at)
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        & (Q(lifted_at__isnull=True) | Q(lifted_at__gt=at))
    )


def sanction_active(party: Any, at: datetime | None = None) -> Sanction | None:
    """The restricting sanction (suspension, deregistration, ban) in force against ``party``
    (an Organization or a User) at ``at``: the permanent one first, else the one ending last."""
    at = at or timezone.now()
    candidates = list(
        Sanction.objects.filter(_party_filter(party), _in_force(at), kind__in=RESTRICTING)
    )
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda s: (s.ends_at is None, s.ends_at or s.starts_at, s.pk),
    )


def sanction_latest(party: Any, kind: str) -> Sanction | None:
    return Sanction.objects.filter(_party_filter(party), kind=kind).order_by("-starts_at").first()


def sanction_list_for(party: Any) -> QuerySet[Sanction]:
    return (
        Sanction.objects.filter(_party_filter(party)).select_related("case").order_by("-starts_at")
    )


def sanction_list_public(at: datetime | None = None) -> QuerySet[Sanction]:
    """Sanctions against organisations in force now: the public page (no personal data)."""
    at = at or timezone.now()
    return (
        Sanction.objects.filter(_in_force(at), party_kind=PartyKind.ORGANIZATION)
        .select_related("organization", "region")
        .order_by("-starts_at")
    )


def sanction_list_in_regions(region_codes: list[str] | None) -> QuerySet[Sanction]:
    return (
        Sanction.objects.filter(region_subtree_q(region_codes))
        .select_related("organization", "user", "case")
        .order_by("-starts_at")
    )


def volunteer_can_serve(user: Any, at: datetime | None = None) -> Refusal | None:
    """May this person sign up, join or take a dispatched task now? None means yes."""
    at = at or timezone.now()
    sanction = sanction_active(user, at)
    if sanction is None:
        return None
    if sanction.kind == SanctionKind.BAN:
        return Refusal(
            "banned",
            _("You are barred from volunteer service here (sanction no. %(id)d: %(reason)s).")
            % {"id": sanction.pk, "reason": sanction.reason},
            sanction_id=sanction.pk,
        )
    assert sanction.ends_at is not None
    return Refusal(
        "suspended",
        _("Your volunteer service is suspended until %(end)s (sanction no. %(id)d: %(reason)s).")
        % {"end": when(sanction.ends_at), "id": sanction.pk, "reason": sanction.reason},
        sanction_id=sanction.pk,
        until=sanction.ends_at,
    )


# --- insurance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cover:
    """The volunteer is covered, by this policy."""

    policy: InsurancePolicy

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class NotCovered:
    """The volunteer is not covered; ``reason`` is a stable code, ``message`` says why."""

    reason: str
    message: str
    policy: InsurancePolicy | None = None

    def __bool__(self) -> bool:
        return False


def _day(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return timezone.localdate(value)
    return value


def _moment(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return timezone.make_aware(datetime.combine(value, time.min))


def _chain_ids(org: Organization, cache: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    if org.pk not in cache:
        from zhiyuan.organizations.selectors import organization_chain

        cache[org.pk] = tuple(o.pk for o in organization_chain(org))
    return cache[org.pk]


class _CoverBook:
    """Policies and memberships read once for many questions (the report asks hundreds)."""

    def __init__(self, chains: Iterable[tuple[int, ...]], user_ids: Iterable[int], at: datetime):
        org_ids = {o for chain in chains for o in chain}
        self.policies = {
            p.pk: p
            for p in InsurancePolicy.objects.filter(
                organization_id__in=org_ids, cancelled_at__isnull=True
            ).select_related("organization")
        }
        named: dict[int, set[int]] = {}
        for policy_id, user_id in InsuredPerson.objects.filter(
            policy_id__in=self.policies
        ).values_list("policy_id", "user_id"):
            named.setdefault(policy_id, set()).add(user_id)
        families: dict[int, frozenset[int]] = {}
        for p in self.policies.values():
            if p.basis == coverage.MEMBERS and p.organization_id not in families:
                families[p.organization_id] = frozenset(
                    [p.organization_id, *organization_descendant_ids(p.organization)]
                )
        self.facts = [
            coverage.PolicyFacts(
                id=p.pk,
                organization_id=p.organization_id,
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                basis=p.basis,
                activity_types=tuple(p.activity_types or ()),
                named_user_ids=frozenset(named.get(p.pk, ())),
                member_org_ids=families.get(p.organization_id, frozenset()),
                cover_death=float(p.cover_death),
            )
            for p in self.policies.values()
        ]
        self.memberships: dict[int, list[tuple[int, datetime, datetime | None]]] = {}
        family_ids = {o for fam in families.values() for o in fam}
        for user_id, org_id, joined, left in Membership.objects.filter(
            user_id__in=set(user_ids), organization_id__in=family_ids
        ).values_list("user_id", "organization_id", "joined_at", "left_at"):
            self.memberships.setdefault(user_id, []).append((org_id, joined, left))
        self.now = at

    def member_of(self, user_id: int, start: datetime) -> frozenset[int]:
        # Membership at the start; for an activity still to come, membership now.
        at = min(start, self.now)
        return frozenset(
            org_id
            for org_id, joined, left in self.memberships.get(user_id, [])
            if joined <= at and (left is None or left > at)
        )

    def ask(
        self,
        user_id: int,
        chain: tuple[int, ...],
        activity_type: str,
        start: date | datetime,
        end: date | datetime,
    ) -> Cover | NotCovered:
        question = coverage.Question(
            user_id=user_id,
            activity_type=activity_type,
            first_day=_day(start),
            last_day=_day(end),
            organization_chain=chain,
            member_of=self.member_of(user_id, _moment(start)),
        )
        best, miss = coverage.decide(self.facts, question)
        if best is not None:
            return Cover(self.policies[best.id])
        assert miss is not None
        policy = self.policies.get(miss.policy_id) if miss.policy_id else None
        return NotCovered(miss.reason, _miss_message(miss.reason, policy, activity_type), policy)


def _miss_message(reason: str, policy: InsurancePolicy | None, activity_type: str) -> str:
    if policy is None:
        return _("No insurance policy of the organisation (or of its parents) is in force.")
    number = f"{policy.insurer} {policy.policy_number}"
    type_label = dict(ActivityType.choices).get(activity_type, activity_type)
    messages = {
        coverage.NOT_NAMED: _("Not named on policy %(policy)s."),
        coverage.NOT_MEMBER: _(
            "Policy %(policy)s covers members, and this person is not a member of "
            "%(org)s or its teams."
        ),
        coverage.TYPE_NOT_COVERED: _("Policy %(policy)s does not cover %(type)s."),
        coverage.STARTS_LATER: _("Policy %(policy)s starts on %(day)s, after the activity begins."),
        coverage.ENDS_EARLIER: _("Policy %(policy)s ends on %(day)s, before the activity ends."),
    }
    day = policy.starts_on if reason == coverage.STARTS_LATER else policy.ends_on
    return messages[reason] % {
        "policy": number,
        "org": policy.organization.name,
        "type": type_label,
        "day": day.isoformat(),
    }


def insurance_cover_for(
    volunteer_user: Any,
    organization: Organization,
    activity_type: str,
    start: date | datetime,
    end: date | datetime,
) -> Cover | NotCovered:
    """Is ``volunteer_user`` insured for an activity of ``activity_type`` run by
    ``organization`` from ``start`` to ``end``? Policies of the organisation and of its
    parents count; the answer names the policy, or the most telling reason there is none."""
    chain = _chain_ids(organization, {})
    book = _CoverBook([chain], [volunteer_user.pk], timezone.now())
    return book.ask(volunteer_user.pk, chain, activity_type, start, end)


@dataclass(frozen=True)
class UpcomingActivity:
    """What the insurance report needs to know of an activity (the activities issue builds
    these from its own rows)."""

    key: str
    organization: Organization
    activity_type: str
    start: datetime
    end: datetime
    participants: list[Any]


@dataclass
class ActivityCoverReport:
    activity: UpcomingActivity
    uncovered: list[tuple[Any, NotCovered]] = field(default_factory=list)
    covered: int = 0


def insurance_uncovered(activities: list[UpcomingActivity]) -> list[ActivityCoverReport]:
    """For each activity, who taking part is not covered and why (a fixed number of queries
    per distinct organising organisation, whatever the number of participants)."""
    chains: dict[int, tuple[int, ...]] = {}
    for a in activities:
        _chain_ids(a.organization, chains)
    users = {u.pk for a in activities for u in a.participants}
    book = _CoverBook(chains.values(), users, timezone.now())
    reports = []
    for a in activities:
        report = ActivityCoverReport(a)
        for person in a.participants:
            answer = book.ask(person.pk, chains[a.organization.pk], a.activity_type, a.start, a.end)
            if isinstance(answer, NotCovered):
                report.uncovered.append((person, answer))
            else:
                report.covered += 1
        reports.append(report)
    return reports


def insurance_members_uncovered(
    organization: Organization, activity_type: str, first_day: date, last_day: date
) -> tuple[int, list[tuple[Membership, NotCovered]]]:
    """Current members of the organisation and its teams not covered for an activity of this
    type over these days, if the organisation ran it: (members checked, uncovered with why)."""
    ids = [organization.pk, *organization_descendant_ids(organization)]
    members = list(
        Membership.objects.filter(organization_id__in=ids, left_at__isnull=True)
        .select_related("user", "organization")
        .order_by("organization__name", "joined_at")
    )
    # A person in two of the teams is listed once, under the first.
    first_of: dict[int, Membership] = {}
    for m in members:
        first_of.setdefault(m.user_id, m)
    unique = list(first_of.values())
    activity = UpcomingActivity(
        key="",
        organization=organization,
        activity_type=activity_type,
        start=_moment(first_day),
        end=_moment(last_day),
        participants=[m.user for m in unique],
    )
    report = insurance_uncovered([activity])[0]
    by_user = {m.user_id: m for m in unique}
    return len(unique), [(by_user[u.pk], why) for u, why in report.uncovered]


def insurance_policies_of(organization: Organization) -> QuerySet[InsurancePolicy]:
    return InsurancePolicy.objects.filter(organization=organization).annotate(
        named=Count("insured", distinct=True), incident_count=Count("incidents", distinct=True)
    )


# --- agreements -------------------------------------------------------------------------------


def agreement_current_version(template: AgreementTemplate) -> AgreementVersion | None:
    return template.versions.order_by("-number").first()


def agreement_acceptance_for(
    user: Any, template: AgreementTemplate, subject: str = ""
) -> AgreementAcceptance | None:
    """The person's acceptance of the template's current version for ``subject``, or None
    (an acceptance of an older version does not count: the words changed)."""
    current = agreement_current_version(template)
    if current is None:
        return None
    return AgreementAcceptance.objects.filter(version=current, user=user, subject=subject).first()


# --- complaints -------------------------------------------------------------------------------


def follow_code_hash(code: str) -> str:
    normalised = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def case_find_by_code(code: str) -> Case | None:
    if not code or len(code) > 40:
        return None
    return Case.objects.filter(follow_code_hash=follow_code_hash(code)).first()


def case_list_for_admin(region_codes: list[str] | None, status: str = "") -> QuerySet[Case]:
    cases = Case.objects.filter(region_subtree_q(region_codes)).select_related(
        "organization", "assignee", "region"
    )
    if status == "open":
        cases = cases.exclude(status=CaseStatus.DECIDED)
    elif status in CaseStatus.values:
        cases = cases.filter(status=status)
    return cases.order_by("status", "due_at")


# --- risk signals -----------------------------------------------------------------------------

# Providers of weekly claimed hours per organisation: callables taking (organisation ids, now)
# and returning {organisation id: [hours per week, oldest first]}. The records issue appends
# one; until then the hours signal is absent, not zero.
HOURS_PROVIDERS: list[Callable[[list[int], datetime], dict[int, list[float]]]] = []
# Providers of further signals: (organisation ids, now) -> {organisation id: {name: points}}.
# The points are added to the score as they are; name them for the page (RISK_LABELS) or they
# show by their code.
SIGNAL_PROVIDERS: list[Callable[[list[int], datetime], dict[int, dict[str, float]]]] = []


@dataclass(frozen=True)
class RiskRow:
    organization: Organization
    score: float
    parts: list[tuple[str, float]]
    signals: risk.Signals


def risk_ranking(region_codes: list[str] | None, at: datetime | None = None) -> list[RiskRow]:
    """Organisations of the region ranked by risk signals (a fixed number of queries)."""
    at = at or timezone.now()
    orgs = {o.pk: o for o in Organization.objects.filter(region_subtree_q(region_codes))}
    signals = {pk: risk.Signals(pk) for pk in orgs}
    cases = Case.objects.filter(organization_id__in=orgs)
    recent = at - timedelta(days=90)
    year = at - timedelta(days=365)
    for case_row in cases.values("organization_id").annotate(
        complaints=Count("id", filter=Q(created_at__gte=recent)),
        charging=Count(
            "id",
            filter=Q(
                created_at__gte=recent,
                category__in=[CaseCategory.CHARGING, CaseCategory.PROFIT],
            ),
        ),
        unresolved=Count("id", filter=~Q(status=CaseStatus.DECIDED)),
        overdue=Count("id", filter=~Q(status=CaseStatus.DECIDED) & Q(due_at__lt=at)),
        substantiated=Count(
            "id", filter=Q(outcome=CaseOutcome.SUBSTANTIATED, decided_at__gte=year)
        ),
    ):
        s = signals[case_row["organization_id"]]
        s.complaints, s.charging = case_row["complaints"], case_row["charging"]
        s.unresolved, s.overdue = case_row["unresolved"], case_row["overdue"]
        s.substantiated = case_row["substantiated"]
    for sanction_row in (
        Sanction.objects.filter(organization_id__in=orgs)
        .values("organization_id")
        .annotate(
            active=Count("id", filter=_in_force(at) & Q(kind__in=RESTRICTING)),
            total=Count("id"),
        )
    ):
        s = signals[sanction_row["organization_id"]]
        s.active_sanction = sanction_row["active"]
        s.past_sanctions = sanction_row["total"] - sanction_row["active"]
    for incident_row in (
        InsurancePolicy.objects.filter(organization_id__in=orgs)
        .values("organization_id")
        .annotate(
            serious=Count(
                "incidents",
                filter=Q(
                    incidents__occurred_at__gte=year,
                    incidents__severity__in=[IncidentSeverity.SERIOUS, IncidentSeverity.DEATH],
                ),
            )
        )
    ):
        signals[incident_row["organization_id"]].serious_incidents += incident_row["serious"]
    for provider in HOURS_PROVIDERS:
        for org_id, weekly in provider(list(orgs), at).items():
            if org_id in signals:
                signals[org_id].hours_jump = risk.hours_jump(weekly)
    for signal_provider in SIGNAL_PROVIDERS:
        for org_id, extra in signal_provider(list(orgs), at).items():
            if org_id in signals:
                signals[org_id].extra.update(extra)
    return [
        RiskRow(orgs[s.organization_id], total, parts, s)
        for s, total, parts in risk.rank(list(signals.values()))
    ]
