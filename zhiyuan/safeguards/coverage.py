"""Is this volunteer insured for this activity at these times? — the rule, without Django.

The service (``selectors.insurance_cover_for``) reads policies and memberships into the plain
facts below; this module decides. Policy periods are whole days, both ends included: an
activity is covered when its first and last local days both fall inside the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

NAMED = "named"
MEMBERS = "members"
PARTICIPANTS = "participants"


@dataclass(frozen=True)
class PolicyFacts:
    id: int
    organization_id: int
    starts_on: date
    ends_on: date
    basis: str
    activity_types: tuple[str, ...]  # empty: every type
    named_user_ids: frozenset[int] = frozenset()
    # For a members policy: the policyholder and every team below it.
    member_org_ids: frozenset[int] = frozenset()
    cover_death: float = 0.0


@dataclass(frozen=True)
class Question:
    user_id: int
    activity_type: str
    first_day: date
    last_day: date
    # The organisation running the activity, then its parents: a parent's policy covers the
    # activities of its teams.
    organization_chain: tuple[int, ...]
    # Organisations the volunteer is a member of when the activity starts (or now, if it starts
    # later: future membership is not known yet).
    member_of: frozenset[int] = field(default_factory=frozenset)


# Why a policy does not cover, from the least to the most telling: the most telling reason
# among all policies is the one reported.
NO_POLICY = "no_policy"
NOT_NAMED = "not_named"
NOT_MEMBER = "not_member"
TYPE_NOT_COVERED = "type_not_covered"
STARTS_LATER = "starts_later"
ENDS_EARLIER = "ends_earlier"
RANK = [NO_POLICY, NOT_MEMBER, NOT_NAMED, TYPE_NOT_COVERED, STARTS_LATER, ENDS_EARLIER]


@dataclass(frozen=True)
class Miss:
    reason: str
    policy_id: int | None = None


def policy_misses(policy: PolicyFacts, q: Question) -> Miss | None:
    """``None`` when the policy covers the question, else the first reason it does not."""
    if policy.activity_types and q.activity_type not in policy.activity_types:
        return Miss(TYPE_NOT_COVERED, policy.id)
    if policy.basis == NAMED and q.user_id not in policy.named_user_ids:
        return Miss(NOT_NAMED, policy.id)
    if policy.basis == MEMBERS and not policy.member_org_ids & q.member_of:
        return Miss(NOT_MEMBER, policy.id)
    if q.first_day < policy.starts_on:
        return Miss(STARTS_LATER, policy.id)
    if q.last_day > policy.ends_on:
        return Miss(ENDS_EARLIER, policy.id)
    return None


def decide(policies: list[PolicyFacts], q: Question) -> tuple[PolicyFacts | None, Miss | None]:
    """The covering policy with the highest death cover, or the most telling miss."""
    covering: list[PolicyFacts] = []
    misses: list[Miss] = []
    for policy in policies:
        if policy.organization_id not in q.organization_chain:
            continue
        miss = policy_misses(policy, q)
        if miss is None:
            covering.append(policy)
        else:
            misses.append(miss)
    if covering:
        best = max(covering, key=lambda p: (p.cover_death, p.ends_on, p.id))
        return best, None
    if not misses:
        return None, Miss(NO_POLICY)
    return None, max(misses, key=lambda m: RANK.index(m.reason))
