"""The pluggable ranking: the default ranker's pure scoring, and any configured ranker
keeping the protocol (best first, scores in [0, 1], reasons in words)."""

from __future__ import annotations

import pytest
from django.utils import translation

from zhiyuan.needs import selectors
from zhiyuan.needs.ranking import Facts, distance_km, need_ranker, score_candidate


def facts(**overrides) -> Facts:
    base = {
        "distance_km": 1.0,
        "max_travel_km": 5.0,
        "skills_wanted": frozenset({"cooking"}),
        "skills_held": frozenset({"cooking"}),
        "skill_names": {"cooking": "Meals"},
        "free_then": True,
        "emergency": False,
        "emergency_ok": False,
        "slot_label": "Monday morning",
    }
    return Facts(**{**base, **overrides})


def test_distance_is_haversine() -> None:
    # Tiananmen to the Temple of Heaven: about 3.2 km.
    assert distance_km(39.9087, 116.3975, 39.8822, 116.4066) == pytest.approx(3.05, abs=0.1)


def test_nearer_skilled_and_free_scores_higher_with_reasons() -> None:
    with translation.override("en"):
        best, why = score_candidate(facts())
        far, _ = score_candidate(facts(distance_km=4.5))
        unskilled, why_not = score_candidate(facts(skills_held=frozenset()))
        busy, why_busy = score_candidate(facts(free_then=False))
    assert best > far and best > unskilled and best > busy
    assert min(far, unskilled, busy) >= 0 and best <= 1
    assert why == [
        "1.0 km away (travels up to 5 km)",
        "Has 1 of 1 skills asked for: Meals",
        "Usually free then (Monday morning)",
    ]
    assert "Has none of the skills asked for" in why_not
    assert "Not usually free then (Monday morning)" in why_busy


def test_emergencies_prefer_those_on_call() -> None:
    on_call, _ = score_candidate(facts(emergency=True, emergency_ok=True))
    off, _ = score_candidate(facts(emergency=True, emergency_ok=False))
    assert on_call > off


def test_without_a_map_point_the_community_counts() -> None:
    same, _ = score_candidate(facts(distance_km=None, same_community=True, same_street=True))
    street, _ = score_candidate(facts(distance_km=None, same_street=True))
    elsewhere, _ = score_candidate(facts(distance_km=None))
    assert same > street > elsewhere


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["zhiyuan.needs.ranking.SimpleRanker", "zhiyuan.matching.services.EngineRanker"]
)
def test_every_ranker_keeps_the_protocol(world, settings, path) -> None:
    settings.ZHIYUAN_NEED_RANKER = path
    need = world.need(window_start=None)
    ranked = need_ranker().rank(
        need, list(selectors.volunteers_by_user(v.pk for v in world.volunteers).values())
    )
    assert {c.volunteer.user_id for c in ranked} == {v.pk for v in world.volunteers}
    scores = [c.score for c in ranked]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(c.reasons and all(isinstance(str(r), str) for r in c.reasons) for c in ranked)


@pytest.mark.django_db
def test_when_the_configured_ranker_cannot_rank_the_simple_order_helps_the_dispatcher(
    world, settings
) -> None:
    settings.ZHIYUAN_NEED_RANKER = "zhiyuan.matching.services.EngineRanker"
    need = world.need(lat=None, lng=None)  # the engine measures distances: it cannot rank this
    with translation.override("en"):
        ranked = selectors.need_candidates(need)
    assert {c.volunteer.user_id for c in ranked} == {v.pk for v in world.volunteers}
    assert all("map point" in str(c.reasons[0]) for c in ranked)  # the engine's explanation first
    assert any("same community" in str(r) for c in ranked for r in c.reasons)
