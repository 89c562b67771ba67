"""The pure earning rules: no database, plain data in and points out."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhiyuan.ledger.rules import (
    EarnedSoFar,
    RuleError,
    RuleParams,
    ServiceFacts,
    Urgency,
    age_on,
    evaluate,
    no_show_penalty,
)

PARAMS = RuleParams(coefficients={"elder-care": 12}, cap_per_activity=60, cap_per_day=100)


def test_points_per_hour_by_category_with_bonuses() -> None:
    assert evaluate(PARAMS, ServiceFacts(90, "elder-care"), EarnedSoFar()).points == 18
    assert evaluate(PARAMS, ServiceFacts(60, "other"), EarnedSoFar()).points == 10
    urgent = evaluate(PARAMS, ServiceFacts(60, "elder-care", Urgency.URGENT), EarnedSoFar())
    assert (urgent.points, urgent.base, urgent.bonus) == (14, 12, 2)
    assert evaluate(PARAMS, ServiceFacts(60, "elder-care", "emergency"), EarnedSoFar()).points == 18


def test_caps() -> None:
    capped = evaluate(PARAMS, ServiceFacts(600, "elder-care"), EarnedSoFar(activity=10))
    assert (capped.points, capped.capped_by) == (50, "activity")
    capped = evaluate(PARAMS, ServiceFacts(600, "elder-care"), EarnedSoFar(day=95))
    assert (capped.points, capped.capped_by) == (5, "day")


@given(
    minutes=st.integers(1, 24 * 60),
    urgency=st.sampled_from(list(Urgency)),
    activity=st.integers(0, 300),
    day=st.integers(0, 300),
)
def test_never_above_a_cap_never_negative(minutes, urgency, activity, day) -> None:
    result = evaluate(
        PARAMS, ServiceFacts(minutes, "elder-care", urgency), EarnedSoFar(activity, day)
    )
    assert 0 <= result.points <= max(0, min(60 - activity, 100 - day))
    longer = evaluate(
        PARAMS,
        ServiceFacts(min(minutes + 30, 1440), "elder-care", urgency),
        EarnedSoFar(activity, day),
    )
    assert longer.points >= result.points


@pytest.mark.parametrize(
    "bad",
    [{"cap_per_day": -1}, {"coefficients": {"x": 1.5}}, {"unknown": 1}, {"urgent_bonus_pct": True}],
)
def test_bad_rules_are_refused(bad) -> None:
    with pytest.raises(RuleError):
        RuleParams.from_dict(bad)


def test_rules_round_trip_and_penalty_and_age() -> None:
    assert RuleParams.from_dict(PARAMS.to_dict()) == PARAMS
    assert no_show_penalty(PARAMS, 4) == 4 and no_show_penalty(PARAMS, 50) == 10
    assert age_on(dt.date(1966, 3, 2), dt.date(2026, 3, 1)) == 59
    assert age_on(dt.date(1966, 3, 2), dt.date(2026, 3, 2)) == 60
    with pytest.raises(RuleError):
        evaluate(PARAMS, ServiceFacts(0, "elder-care"), EarnedSoFar())
