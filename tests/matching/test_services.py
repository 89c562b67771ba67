"""The engine in the dispatch loop: the needs app's ranker, "fill all open needs" (exact,
feasible, dispatched through the needs app's own service) and staffing suggestions."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.utils.translation import override

from tests.activities.fixtures import first_shift
from tests.matching.reference import brute_force_optimum, lp_optimum
from tests.matching.world import EVERY_SLOT, MWorld, at, slot
from zhiyuan.activities import services as activity_services
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import record_refusal
from zhiyuan.matching import adapter, services
from zhiyuan.matching.engine import evaluate
from zhiyuan.matching.services import EngineRanker, matching_fill_region
from zhiyuan.needs import selectors as need_selectors
from zhiyuan.needs import services as need_services
from zhiyuan.needs.models import AssignmentState, Need, NeedAssignment, NeedEvent
from zhiyuan.needs.ranking import RankedCandidate, Ranker
from zhiyuan.needs.states import NeedState
from zhiyuan.people.models import VolunteerProfile

pytestmark = pytest.mark.django_db

ENGINE = "zhiyuan.matching.services.EngineRanker"


def profiles(*users: Any) -> list[VolunteerProfile]:
    return list(
        VolunteerProfile.objects.filter(user__in=users)
        .select_related("user", "region")
        .prefetch_related("skills", "qualifications")
    )


def offers(need: Need) -> set[int]:
    return set(
        NeedAssignment.objects.filter(need=need, state=AssignmentState.OFFERED).values_list(
            "volunteer_id", flat=True
        )
    )


# --- the ranker ----------------------------------------------------------------------------------


def test_engine_ranker_ranks_by_the_engines_utility(mworld: MWorld) -> None:
    ranker: Ranker = EngineRanker()  # the needs app's protocol (checked by mypy)
    assert callable(ranker.rank)
    near = mworld.volunteer("近", 0.5)
    far = mworld.volunteer("远", 3)
    busy = mworld.volunteer("忙", 0.2, availability=EVERY_SLOT & ~slot(1, 1))
    need = mworld.need(window_start=at(3, 14), window_end=at(3, 17))
    with override("en"):
        ranked = EngineRanker().rank(need, profiles(far, busy, near))
    assert all(isinstance(c, RankedCandidate) for c in ranked)
    assert [c.volunteer.user_id for c in ranked] == [near.pk, far.pk, busy.pk]
    # Utility (routine need, rating 4.0 assumed): 18 - 0.5 km and 18 - 3 km, over the best
    # possible 20 (plus the continuity bonus that could have been earned).
    assert ranked[0].score == pytest.approx((18 - 0.5) / 25, abs=1e-3)
    assert ranked[1].score == pytest.approx((18 - 3) / 25, abs=1e-3)
    assert ranked[2].score == 0.0
    assert ranked[0].distance_km == pytest.approx(0.5, abs=1e-3)
    assert ranked[0].reasons[:5] == [
        "0.5 km away (travels up to 5 km)",
        "No special skill needed",
        "Free on Tuesday afternoon",
        "No ratings yet (counted as 4.0)",
        "0 of 3 tasks this week",
    ]
    assert ranked[0].reasons[5].startswith("Match value 17.5 = urgency 1 × (10 + 2 × 4.0) − 0.5 km")
    assert ranked[2].reasons == ["Not usually free on Tuesday afternoon"]


def test_the_dispatchers_list_comes_from_the_engine(mworld: MWorld) -> None:
    # zhiyuan/settings.py selects the engine for the needs app (ZHIYUAN_NEED_RANKER).
    from zhiyuan.needs.ranking import need_ranker

    assert isinstance(need_ranker(), EngineRanker)
    mworld.volunteer("近", 0.5)
    mworld.volunteer("远", 2)
    mworld.volunteer("不在", 1, availability=0)
    need = mworld.need(window_start=at(3, 14))
    with override("en"):
        listed = need_selectors.need_candidates(need)
    assert [c.volunteer.user.name for c in listed] == ["近", "远", "不在"]
    assert all(any(r.startswith("Match value") for r in c.reasons) for c in listed[:2])
    assert listed[2].reasons == ["Not usually free on Tuesday afternoon"]


# --- fill all open needs ----------------------------------------------------------------------


def test_fill_all_dispatches_the_optimum_through_the_needs_service(mworld: MWorld) -> None:
    medic = mworld.volunteer("医", 1, skills=["first-aid"])
    helper = mworld.volunteer("帮", 0.3)
    # Tuesday afternoon: one first-aid need (only the medic can), one for anybody.
    first_aid = mworld.need(0.8, skills=["first-aid"], window_start=at(3, 14))
    errand = mworld.need(0.1, window_start=at(3, 15))
    nobody = mworld.need(0.2, skills=["sign-language"], window_start=at(4, 9))
    away = mworld.need(
        region=mworld.other_community, poster=mworld.dispatcher, window_start=at(3, 9)
    )

    with override("en"):
        result = matching_fill_region(
            actor=mworld.dispatcher, region=mworld.community, request=None
        )

    assert {d.need.pk: [v.row.user_id for v in d.volunteers] for d in result.dispatched} == {
        first_aid.pk: [medic.pk],
        errand.pk: [helper.pk],
    }
    for need, who in ((first_aid, medic), (errand, helper)):
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED
        assert offers(need) == {who.pk}
        event = NeedEvent.objects.filter(need=need).latest("pk")
        assert (event.action, event.actor_id) == ("dispatch", mworld.dispatcher.pk)
        part = NeedAssignment.objects.get(need=need, volunteer=who)
        assert 0 < part.score <= 1
        assert any(r.startswith("Match value") for r in part.reasons)
    assert [(u.need.pk, u.reason) for u in result.unfilled] == [(nobody.pk, "nobody_qualified")]
    assert result.unfilled[0].text == (
        "No volunteer within reach has the skills or qualifications asked for."
    )
    nobody.refresh_from_db()
    away.refresh_from_db()
    assert nobody.state == away.state == NeedState.SUBMITTED
    assert result.violations == 0
    entry = AuditEvent.objects.filter(action="matching.region_filled").get()
    assert entry.detail["offers"] == 2


def test_fill_all_is_refused_to_an_outsider(mworld: MWorld) -> None:
    mworld.volunteer("帮")
    need = mworld.need(window_start=at(3, 14))
    for outsider in (mworld.outsider_dispatcher, mworld.org_admin, mworld.resident):
        with pytest.raises(PermissionDenied) as refused:
            matching_fill_region(actor=outsider, region=mworld.community, request=None)
        record_refusal(refusal := refused.value)  # as the request layer does
        assert refusal.audit["object_type"] == "matching.fill"
    need.refresh_from_db()
    assert need.state == NeedState.SUBMITTED
    assert not NeedAssignment.objects.exists()
    assert (
        AuditEvent.objects.filter(action="access.denied", object_type="matching.fill").count() == 3
    )


def test_fill_all_leaves_needs_already_dispatched_alone(mworld: MWorld) -> None:
    ann = mworld.volunteer("安")
    ben = mworld.volunteer("本", 0.1)
    by_hand = mworld.need(window_start=at(3, 14))
    need_services.need_dispatch(need=by_hand, actor=mworld.dispatcher, volunteers=[ann])
    fresh = mworld.need(window_start=at(3, 14))
    result = matching_fill_region(actor=mworld.dispatcher, region=mworld.community, request=None)
    # The hand-made offer stands; Ann's Tuesday afternoon is promised, so Ben gets the new need.
    assert offers(by_hand) == {ann.pk}
    assert [d.need.pk for d in result.dispatched] == [fresh.pk]
    assert offers(fresh) == {ben.pk}
    # A second run finds nothing left to fill.
    again = matching_fill_region(actor=mworld.dispatcher, region=mworld.community, request=None)
    assert again.dispatched == [] and again.unfilled == []


def test_fill_all_says_why_a_need_stays_short(mworld: MWorld) -> None:
    mworld.volunteer("远", 4, max_travel_km=3)
    mworld.volunteer("忙", 0.5, availability=EVERY_SLOT & ~slot(2, 0))
    mworld.volunteer("过期", 0.5, qualifications=[("nurse", dt.date(2026, 3, 1))])
    nursing = mworld.need(qualifications=["nurse"], window_start=at(5, 14))
    wednesday = mworld.need(0.5, window_start=at(4, 9), people_needed=3)
    with override("en"):
        result = matching_fill_region(
            actor=mworld.dispatcher, region=mworld.community, request=None
        )
        reasons = {u.need.pk: (u.reason, u.offered, u.text) for u in result.unfilled}
    assert reasons[nursing.pk] == (
        "qualifications_expired",
        0,
        "The volunteers within reach who had the qualification let it expire.",
    )
    # Wednesday morning needs three: "远" lives 3.5 km off but travels 3, "忙" is not free
    # then; only "过期" can go, and is asked.
    assert reasons[wednesday.pk][:2] == ("too_few_eligible", 1)
    assert [d.need.pk for d in result.dispatched] == [wednesday.pk]


def test_a_need_only_out_of_everyones_own_reach(mworld: MWorld) -> None:
    mworld.volunteer("远", 0, max_travel_km=2)
    far = mworld.need(4, window_start=at(3, 14))
    with override("en"):
        result = matching_fill_region(
            actor=mworld.dispatcher, region=mworld.community, request=None
        )
    assert [(u.need.pk, u.reason) for u in result.unfilled] == [(far.pk, "too_far_for_them")]
    assert result.unfilled[0].text == (
        "The volunteers who could go live further away than they are willing to travel."
    )


def test_continuity_of_care_prefers_the_last_helper(mworld: MWorld) -> None:
    usual = mworld.volunteer("老熟人", 1.5)
    mworld.volunteer("新人", 0.5)
    old = mworld.need()
    NeedAssignment.objects.create(
        need=old,
        volunteer=usual,
        state=AssignmentState.FINISHED,
        started_at=at(1, 9),
        finished_at=at(1, 10),
    )
    need = mworld.need(window_start=at(3, 14))
    with override("en"):
        result = matching_fill_region(
            actor=mworld.dispatcher, region=mworld.community, request=None
        )
    (done,) = result.dispatched
    assert [v.row.user_id for v in done.volunteers] == [usual.pk]
    assert "Helped this resident before" in done.volunteers[0].reasons
    assert done.need.pk == need.pk


def _random_world(world: MWorld, seed: int, reach: int) -> None:
    rng = random.Random(seed)
    codes = ["a", "b", "c"]
    for k in range(7):
        world.volunteer(
            f"v{k}",
            rng.uniform(-4, 4),
            rng.uniform(-4, 4),
            skills=rng.sample(codes, rng.randint(0, 2)),
            availability=sum(1 << s for s in rng.sample(range(6), 4)),
            max_travel_km=reach,
            qualifications=[("nurse", dt.date(2026, 3, rng.choice([3, 20])))]
            if rng.random() < 0.4
            else [],
        )
    for _ in range(4):
        day, hour = rng.choice([(2, 14), (3, 9), (3, 14)])
        world.need(
            rng.uniform(-4, 4),
            rng.uniform(-4, 4),
            skills=rng.sample(codes, rng.randint(0, 1)),
            qualifications=["nurse"] if rng.random() < 0.3 else [],
            urgency=rng.choice(["routine", "urgent", "emergency"])
            if rng.random() < 0.5
            else "routine",
            window_start=at(day, hour),
            people_needed=rng.randint(1, 3),
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fill_all_is_feasible_and_optimal_on_a_database_built_instance(
    mworld: MWorld, seed: int
) -> None:
    # Everyone travels as far as the engine's limit: the engine's own problem, exactly.
    _random_world(mworld, seed, reach=10)
    result = matching_fill_region(actor=mworld.dispatcher, region=mworld.community, request=None)
    (solution,) = result.solutions
    built = solution.built
    inst = built.instance
    chosen = evaluate(inst, solution.volunteer, solution.task, built.weights)
    assert chosen.feasible, chosen.violations
    best = brute_force_optimum(inst, continuity_bonus=built.weights.continuity_bonus)
    assert chosen.total_utility == pytest.approx(best, abs=1e-4)
    # What was dispatched is exactly the solution.
    for j, task in enumerate(built.tasks):
        want = {built.volunteers[v].user_id for v in solution.pairs_of(j)}
        assert offers(task.obj) == want


@pytest.mark.parametrize("seed", [4, 5])
def test_fill_all_equals_the_lp_optimum(mworld: MWorld, settings: Any, seed: int) -> None:
    settings.ZHIYUAN_MATCHING_CONTINUITY_BONUS = 0.0
    _random_world(mworld, seed, reach=10)
    result = matching_fill_region(actor=mworld.dispatcher, region=mworld.community, request=None)
    (solution,) = result.solutions
    lp = lp_optimum(solution.built.instance)
    assert lp.fractional == 0
    assert solution.total_utility == pytest.approx(lp.value, abs=1e-5)


def _allowed_pairs(built: adapter.Built) -> list[tuple[int, int, int, float]]:
    """Every pair the rules allow, one at a time in plain Python: (v, t, slot, utility)."""
    inst = built.instance
    out = []
    for v, t in itertools.product(range(inst.n_volunteers), range(inst.n_tasks)):
        held, need = int(inst.volunteer_skills[v]), int(inst.task_skills[t])
        s = int(inst.task_slot[t])
        dist = float(np.hypot(*(inst.volunteer_xy_km[v] - inst.task_xy_km[t])))
        mask = int(built.task_mask[t])
        free = (int(built.real_free[v]) & mask) == mask or (
            bool(built.task_emergency[t]) and int(inst.volunteer_slots[v]) >> s & 1
        )
        if (
            need & ~held
            or not free
            or dist > min(inst.max_km, float(built.reach_km[v]))
            or inst.sanctioned[v]
            or int(inst.volunteer_cap[v]) - int(inst.load[v]) <= 0
            or (v, t) in built.excluded
        ):
            continue
        u = float(inst.task_urgency[t]) * (10 + 2 * float(inst.volunteer_rating[v])) - dist
        if int(inst.preferred[t]) == v:
            u += built.weights.continuity_bonus
        if u > 0:
            out.append((v, t, s, u))
    return out


def _brute(built: adapter.Built) -> float:
    inst = built.instance
    pairs = sorted(_allowed_pairs(built), key=lambda p: -p[3])
    room = [int(c) - int(ld) for c, ld in zip(inst.volunteer_cap, inst.load, strict=True)]
    need = [int(x) for x in inst.task_need]
    used: set[tuple[int, int]] = set()
    best = 0.0

    def go(i: int, value: float) -> None:
        nonlocal best
        best = max(best, value)
        if i == len(pairs) or value + sum(p[3] for p in pairs[i:]) <= best:
            return
        v, t, s, u = pairs[i]
        if room[v] > 0 and need[t] > 0 and (v, s) not in used:
            room[v] -= 1
            need[t] -= 1
            used.add((v, s))
            go(i + 1, value + u)
            used.discard((v, s))
            room[v] += 1
            need[t] += 1
        go(i + 1, value)

    go(0, 0.0)
    return best


@pytest.mark.parametrize("seed", [6, 7])
def test_fill_all_is_optimal_with_personal_travel_limits(mworld: MWorld, seed: int) -> None:
    # Most travel less than the engine's limit: the adapter's pair rule binds.
    _random_world(mworld, seed, reach=3)
    result = matching_fill_region(actor=mworld.dispatcher, region=mworld.community, request=None)
    (solution,) = result.solutions
    built = solution.built
    assert sum(solution.violations.values()) == 0
    allowed = {(v, t) for v, t, _s, _u in _allowed_pairs(built)}
    assert all(
        (int(v), int(t)) in allowed for v, t in zip(solution.volunteer, solution.task, strict=True)
    )
    objective = float(solution.utility.sum())
    assert objective == pytest.approx(_brute(built), abs=1e-4)


# --- staffing suggestions --------------------------------------------------------------------


@pytest.fixture
def shift(clock: Any, make_activity: Any) -> Any:
    # Wednesday 4 March, 9:00-12:00; six seats, four people wanted.
    activity = make_activity(
        capacity=6,
        shifts=[activity_services.ShiftSpec(at(4, 9), at(4, 12), 6, min_staff=4)],
        min_age=18,
    )
    return first_shift(activity)


def test_staffing_suggestions_whom_to_invite(mworld: MWorld, shift: Any) -> None:
    from tests.activities.fixtures import give_identity

    def adult(name: str, east: float, **kw: Any) -> Any:
        user = mworld.volunteer(name, east, **kw)
        give_identity(user, "19900101", sequence=user.pk % 1000)
        return user

    signed = adult("已报名", 0.1)
    activity_services.signup_create(shift=shift, volunteer=signed)
    near = adult("近", 0.3)
    further = adult("稍远", 2)
    young = mworld.volunteer("少年", 0.2)
    give_identity(young, "20110101", sequence=young.pk % 1000)
    half_free = adult("半天", 0.2, availability=EVERY_SLOT & ~slot(2, 0))

    with override("en"):
        staffing = services.matching_staffing_suggestions(shift=shift)
        excluded = {v.row.user_id: v.reasons for v in staffing.excluded}
    assert (staffing.confirmed, staffing.holding, staffing.missing) == (1, 1, 3)
    assert [v.row.user_id for v in staffing.suggestions] == [near.pk, further.pk]
    assert "Free on Wednesday morning" in staffing.suggestions[0].reasons
    assert excluded[young.pk] == ["Below the activity's minimum age"]
    assert excluded[half_free.pk] == ["Not usually free on Wednesday morning"]
    assert excluded[signed.pk] == ["Already signed up for this shift"]


def test_staffing_for_a_shift_not_open_suggests_nobody(mworld: MWorld, make_activity: Any) -> None:
    draft = first_shift(make_activity(publish=False))
    mworld.volunteer("近", 0.3)
    with override("en"):
        staffing = services.matching_staffing_suggestions(shift=draft)
    assert staffing.suggestions == []
    assert staffing.problem == "This shift is not open for sign-up, so nobody can be invited."


# --- races -------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_fill_alls_at_once_do_not_promise_one_volunteer_twice(
    district: Any, other_district: Any, settings: Any
) -> None:
    import threading

    from django.db import connection
    from django.utils import timezone

    from tests.matching.world import build_world

    settings.ZHIYUAN_MATCHING_WEEKLY_CAP = 1
    world = build_world(district, other_district)
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=14, minute=0)
    only = world.volunteer("唯一", 0.5)
    here = world.need(window_start=start)
    there = world.need(
        0.3, region=world.other_community, poster=world.dispatcher, window_start=start
    )
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(i: int, region: Any) -> None:
        try:
            barrier.wait()
            results[i] = matching_fill_region(actor=world.dispatcher, region=region, request=None)
        except Exception as exc:  # the test looks at what each one got
            results[i] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(0, world.community)),
        threading.Thread(target=run, args=(1, world.other_community)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The district lock serialises the two runs: the second sees the first's offer in her
    # load, so she is offered exactly one of the two needs (her cap is one a week).
    assert all(isinstance(r, services.FillResult) for r in results), results
    assert NeedAssignment.objects.filter(volunteer=only).count() == 1
    short = [u for r in results for u in r.unfilled]
    assert [u.reason for u in short] == ["nobody_free_in_slot"]  # her slot is promised
    assert {short[0].need.pk} < {here.pk, there.pk}
