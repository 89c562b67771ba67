"""Risk signals: counted from cases, sanctions and incidents; ranked; the hours hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.safeguards import risk, selectors, services
from zhiyuan.safeguards.models import CaseCategory, CaseOutcome, SubjectKind


def test_score_parts_are_explained() -> None:
    signals = risk.Signals(1, complaints=2, charging=1, unresolved=1)
    total, parts = risk.score(signals)
    assert total == 2 * 1.0 + 4.0 + 2.0
    assert parts[0] == ("charging", 4.0)


def test_hours_jump() -> None:
    assert risk.hours_jump([10, 10, 10]) is None  # too little history
    assert risk.hours_jump([10, 12, 8, 10, 30]) == 3.0
    assert risk.hours_jump([0, 0, 0, 0, 5]) == float("inf")
    jumped = risk.Signals(1, hours_jump=3.0)
    assert risk.score(jumped)[0] == risk.WEIGHTS["hours_jump"]
    assert risk.score(risk.Signals(1, hours_jump=1.5))[0] == 0


def test_rank_keeps_only_organisations_with_signals() -> None:
    rows = risk.rank([risk.Signals(1), risk.Signals(2, complaints=1), risk.Signals(3, overdue=1)])
    assert [s.organization_id for s, _, _ in rows] == [3, 2]


@pytest.mark.django_db
def test_ranking_from_the_data(district, other_district, monkeypatch) -> None:
    admin = make_user(Role.REGION_ADMIN, region=district)
    quiet = OrganizationFactory(region=district, name="安静")
    noisy = OrganizationFactory(region=district, name="问题多")
    mild = OrganizationFactory(region=district, name="一般")
    elsewhere = OrganizationFactory(region=other_district, name="别处")

    def complain(org, category=CaseCategory.OTHER):
        return services.case_submit(
            category=category,
            subject_kind=SubjectKind.ORGANIZATION,
            organization=org,
            description="这是一段足够长的描述。",
        ).case

    decided = complain(noisy, CaseCategory.CHARGING)
    services.case_decide(
        case=decided,
        expected_version=1,
        outcome=CaseOutcome.SUBSTANTIATED,
        public_summary="属实",
        actor=admin,
    )
    complain(noisy, CaseCategory.PROFIT)
    complain(mild)
    complain(elsewhere)
    services.sanction_impose(
        party=noisy,
        kind="suspension",
        reason="x",
        ends_at=timezone.now() + timedelta(days=5),
        actor=admin,
    )
    rows = selectors.risk_ranking([district.code])
    monkeypatch.setattr(selectors, "HOURS_PROVIDERS", [])
    monkeypatch.setattr(selectors, "SIGNAL_PROVIDERS", [])
    rows = selectors.risk_ranking([district.code])
    assert [r.organization.name for r in rows] == ["问题多", "一般"]
    assert quiet not in [r.organization for r in rows]
    parts = dict(rows[0].parts)
    assert parts["substantiated"] == 5.0 and parts["active_sanction"] == 6.0
    assert parts["charging"] == 8.0

    # The records issue plugs in weekly hours; a jump then counts.
    monkeypatch.setattr(selectors, "HOURS_PROVIDERS", [lambda ids, at: {mild.pk: [5, 5, 5, 5, 40]}])
    mild_row = next(r for r in selectors.risk_ranking([district.code]) if r.organization == mild)
    assert dict(mild_row.parts)["hours_jump"] == risk.WEIGHTS["hours_jump"]

    # Other apps add signals in points (the records issue: unconfirmed or flagged records).
    monkeypatch.setattr(
        selectors, "SIGNAL_PROVIDERS", [lambda ids, at: {quiet.pk: {"flagged_records": 2.5}}]
    )
    quiet_row = next(r for r in selectors.risk_ranking([district.code]) if r.organization == quiet)
    assert quiet_row.parts == [("flagged_records", 2.5)]

    with CaptureQueriesContext(connection) as few:
        selectors.risk_ranking([district.code])
    for _ in range(10):
        complain(OrganizationFactory(region=district))
    with CaptureQueriesContext(connection) as many:
        selectors.risk_ranking([district.code])
    assert len(few) == len(many)
