"""The adapter: database rows to engine arrays (positions, skill bits, slots, caps, loads,
ratings, sanctions) and the pair rules the engine does not know."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from django.utils.translation import override

from tests.factories import make_user
from tests.matching.world import EVERY_SLOT, NOW, MWorld, at, point, slot
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant
from zhiyuan.activities.models import Activity, Shift, Signup, SignupStatus
from zhiyuan.matching import adapter, selectors
from zhiyuan.matching.adapter import TaskSpec, TooManySkills
from zhiyuan.needs import services as need_services
from zhiyuan.needs.models import AssignmentState, NeedAssignment, NeedRating
from zhiyuan.needs.ranking import distance_km
from zhiyuan.people.models import Skill, VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.safeguards.models import PartyKind, Sanction, SanctionKind
from zhiyuan.safeguards.selectors import volunteer_can_serve

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 3, 2)


def built_for(world: MWorld, needs: list[Any]) -> adapter.Built:
    tasks, skipped = selectors.need_tasks(needs)
    assert not skipped
    pool = selectors.volunteer_pool(world.community.code)
    rows = adapter.volunteer_rows(pool, tasks[0].week, skip_needs=[n.pk for n in needs])
    return adapter.build(tasks, rows)


def index_of(built: adapter.Built, user: Any) -> int:
    return next(i for i, r in enumerate(built.volunteers) if r.user_id == user.pk)


def test_slots_weeks_and_spans() -> None:
    # 3 March 2026 is a Tuesday: 14:00 is Tuesday afternoon, slot 1 * 3 + 1.
    assert adapter.slot_of(at(3, 14)) == 4
    assert adapter.slot_of(at(3, 11, 59)) == 3
    assert adapter.slot_of(at(3, 18)) == 5
    assert adapter.week_of(at(8, 23)) == MONDAY
    assert adapter.week_of(at(9, 0)) == MONDAY + dt.timedelta(days=7)
    # A shift 11:00-13:00 on Wednesday spans its morning and its afternoon.
    assert adapter.slots_spanned(at(4, 11), at(4, 13), MONDAY) == slot(2, 0) | slot(2, 1)
    # Ending exactly at noon stays in the morning; a start without an end is one slot.
    assert adapter.slots_spanned(at(4, 9), at(4, 12), MONDAY) == slot(2, 0)
    assert adapter.slots_spanned(at(4, 19), None, MONDAY) == slot(2, 2)
    # Only the part inside the week asked about counts.
    assert adapter.slots_spanned(at(8, 20), at(9, 10), MONDAY) == slot(6, 2)


def test_projection_keeps_distances() -> None:
    a, b = point(0, 0), point(3, 4)
    xy = adapter.project(np.array([a[0], b[0]]), np.array([a[1], b[1]]), (39.9, 116.4))
    projected = float(np.hypot(*(xy[1] - xy[0])))
    assert projected == pytest.approx(5.0, rel=1e-3)
    assert projected == pytest.approx(distance_km(*a, *b), rel=1e-3)


def test_skill_bits_only_for_what_the_tasks_ask(mworld: MWorld) -> None:
    anna = mworld.volunteer(
        "安娜",
        skills=["first-aid", "cooking", "repair"],
        qualifications=[("nurse", dt.date(2026, 3, 10))],
    )
    bo = mworld.volunteer("薄", 1, qualifications=[("nurse", dt.date(2026, 3, 3))])
    first_aid = mworld.need(skills=["first-aid"], window_start=at(3, 14), window_end=at(3, 17))
    nursing = mworld.need(qualifications=["nurse"], window_start=at(5, 9), window_end=at(5, 11))
    built = built_for(mworld, [first_aid, nursing])

    with override("en"):
        labels = [(b.kind, b.label) for b in built.bits]
    assert labels == [("skill", "Skill first-aid"), ("qualification", "Nurse")]
    inst = built.instance
    assert inst.task_skills.tolist() == [0b01, 0b10]
    a, b = index_of(built, anna), index_of(built, bo)
    # Cooking and repair were asked for by no task: no bit.
    assert int(inst.volunteer_skills[a]) == 0b11
    # Bo's nursing qualification ends on 3 March, before the task on the 5th: lapsed, not held.
    assert int(inst.volunteer_skills[b]) == 0
    assert int(inst.volunteer_expired_skills[b]) == 0b10
    with override("en"):
        why = adapter.explain(built, b, 1)
    assert not why.eligible
    assert "qualification_expired" in why.codes
    assert "Qualification expired before the day: Nurse" in why.reasons


def test_a_qualification_is_a_bit_per_day(mworld: MWorld) -> None:
    bo = mworld.volunteer("薄", qualifications=[("nurse", dt.date(2026, 3, 3))])
    tuesday = mworld.need(qualifications=["nurse"], window_start=at(3, 9), window_end=at(3, 11))
    thursday = mworld.need(qualifications=["nurse"], window_start=at(5, 9), window_end=at(5, 11))
    built = built_for(mworld, [tuesday, thursday])
    b = index_of(built, bo)
    assert len(built.bits) == 2
    assert adapter.explain(built, b, 0).eligible
    assert "qualification_expired" in adapter.explain(built, b, 1).codes
    solution = adapter.solve_exact(built)
    assert solution.pairs_of(0) == [b]
    assert solution.pairs_of(1) == []
    assert solution.short[0].reason == "qualifications_expired"


def test_days_with_the_same_holders_share_a_bit(mworld: MWorld) -> None:
    mworld.volunteer("薄", qualifications=[("nurse", dt.date(2026, 12, 31))])
    needs = [
        mworld.need(qualifications=["nurse"], window_start=at(d, 9), window_end=at(d, 11))
        for d in (3, 4, 5)
    ]
    assert len(built_for(mworld, needs).bits) == 1


def test_more_than_32_skills_are_refused_clearly(mworld: MWorld) -> None:
    skills = [
        Skill.objects.create(code=f"s{k}", name_zh=f"技能{k}", name_en=f"Skill {k}")
        for k in range(33)
    ]
    tasks = [
        TaskSpec(
            key=f"t{k}",
            obj=None,
            lat=point()[0],
            lng=point()[1],
            at=at(3, 9),
            people=1,
            urgency=1.0,
            skill_ids=frozenset({s.pk}),
        )
        for k, s in enumerate(skills)
    ]
    with override("en"), pytest.raises(TooManySkills) as caught:
        adapter.build(tasks, [])
    assert "33 different skills and qualifications" in caught.value.message
    assert "32 at most" in caught.value.message
    # 32 are fine.
    assert len(adapter.build(tasks[:32], []).bits) == 32


def _shift_signup(world: MWorld, volunteer: Any, start: dt.datetime, end: dt.datetime) -> Shift:
    activity = Activity.objects.create(
        organization=world.org,
        region=world.community,
        title="助老探访",
        place_name="活动中心",
        lat=point()[0],
        lng=point()[1],
        created_by=world.org_admin,
        status="published",
    )
    shift = Shift.objects.create(
        activity=activity, starts_at=start, ends_at=end, capacity=3, seats_taken=1
    )
    Signup.objects.create(
        shift=shift, volunteer=volunteer, status=SignupStatus.CONFIRMED, signed_up_by=volunteer
    )
    return shift


def test_held_tasks_clear_their_slots_and_count_against_the_cap(mworld: MWorld) -> None:
    vera = mworld.volunteer("薇拉")
    held = mworld.need(window_start=at(3, 14), window_end=at(3, 16))
    need_services.need_dispatch(need=held, actor=mworld.dispatcher, volunteers=[vera])
    need_services.need_accept(need=held, volunteer=vera)
    # An offer not yet answered counts too: the slot is promised until she answers.
    offered = mworld.need(window_start=at(6, 19), window_end=at(6, 21))
    need_services.need_dispatch(need=offered, actor=mworld.dispatcher, volunteers=[vera])
    # A shift seat on Wednesday 11:00-13:00: two slots busy, one task.
    _shift_signup(mworld, vera, at(4, 11), at(4, 13))
    # Next week's offer is not this week's load.
    later = mworld.need(window_start=at(10, 9), window_end=at(10, 11))
    need_services.need_dispatch(need=later, actor=mworld.dispatcher, volunteers=[vera])

    new = mworld.need(window_start=at(3, 15), window_end=at(3, 17))
    built = built_for(mworld, [new])
    v = index_of(built, vera)
    row = built.volunteers[v]
    busy = slot(1, 1) | slot(4, 2) | slot(2, 0) | slot(2, 1)
    assert (row.load, row.busy, row.cap) == (3, busy, 3)
    assert int(built.instance.volunteer_slots[v]) == EVERY_SLOT & ~busy
    assert int(built.instance.volunteer_load[v]) == 3
    with override("en"):
        why = adapter.explain(built, v, 0)
    assert set(why.codes) == {"busy_then", "at_cap"}
    assert "Already busy then: holds another task on Tuesday afternoon" in why.reasons
    assert "Already busy: 3 of 3 tasks this week" in why.reasons


def test_weekly_cap_by_region(mworld: MWorld, settings: Any) -> None:
    here = mworld.volunteer("近")
    there = mworld.volunteer("远", region=mworld.other_community)
    need = mworld.need(window_start=at(3, 14))
    assert {r.cap for r in built_for(mworld, [need]).volunteers} == {3}
    settings.ZHIYUAN_MATCHING_WEEKLY_CAP = {"": 2, "110101001": 1}
    built = built_for(mworld, [need])
    assert built.volunteers[index_of(built, here)].cap == 1
    assert built.volunteers[index_of(built, there)].cap == 2
    settings.ZHIYUAN_MATCHING_WEEKLY_CAP = 5
    assert {r.cap for r in built_for(mworld, [need]).volunteers} == {5}


def test_rating_is_the_residents_mean_else_four(mworld: MWorld) -> None:
    rated = mworld.volunteer("好评")
    fresh = mworld.volunteer("新人")
    for score in (5, 4):
        old = mworld.need()
        NeedAssignment.objects.create(
            need=old,
            volunteer=rated,
            state=AssignmentState.FINISHED,
            started_at=NOW - dt.timedelta(days=9),
            finished_at=NOW - dt.timedelta(days=9),
        )
        NeedRating.objects.create(need=old, score=score, rated_by=mworld.resident)
    need = mworld.need(window_start=at(3, 14))
    built = built_for(mworld, [need])
    r, f = built.volunteers[index_of(built, rated)], built.volunteers[index_of(built, fresh)]
    assert (r.rating, r.rated) == (4.5, True)
    assert (f.rating, f.rated) == (4.0, False)
    with override("en"):
        assert "Rated 4.5 by residents" in adapter.explain(built, index_of(built, rated), 0).reasons
        assert (
            "No ratings yet (counted as 4.0)"
            in adapter.explain(built, index_of(built, fresh), 0).reasons
        )


def test_sanctions_in_one_query_agree_with_volunteer_can_serve(mworld: MWorld) -> None:
    now = timezone.now()
    day = dt.timedelta(days=1)
    cases = {
        "ban": dict(kind=SanctionKind.BAN, starts_at=now - day),
        "suspended": dict(kind=SanctionKind.SUSPENSION, starts_at=now - day, ends_at=now + day),
        "ended": dict(kind=SanctionKind.SUSPENSION, starts_at=now - 3 * day, ends_at=now - day),
        "lifted": dict(
            kind=SanctionKind.SUSPENSION,
            starts_at=now - day,
            ends_at=now + day,
            lifted_at=now - dt.timedelta(hours=1),
        ),
        "future": dict(kind=SanctionKind.SUSPENSION, starts_at=now + day, ends_at=now + 2 * day),
        "warning": dict(kind=SanctionKind.WARNING, starts_at=now - day),
        "clean": None,
    }
    users = {}
    for name, sanction in cases.items():
        users[name] = mworld.volunteer(name)
        if sanction:
            Sanction.objects.create(
                party_kind=PartyKind.VOLUNTEER,
                user=users[name],
                region=mworld.district,
                reason="测试",
                **sanction,
            )
    barred = adapter.volunteers_sanctioned([u.pk for u in users.values()])
    assert barred == {u.pk for u in users.values() if volunteer_can_serve(u) is not None}
    assert barred == {users["ban"].pk, users["suspended"].pk}


def test_personal_travel_limit_and_the_person_helped(mworld: MWorld) -> None:
    near = mworld.volunteer("近", 2, max_travel_km=3)
    far = mworld.volunteer("远", 4, max_travel_km=3)
    keen = mworld.volunteer("热心", 4, max_travel_km=8)
    # A volunteer who is also a resident asks for help: she cannot be sent to her own need.
    asker = make_user(Role.RESIDENT, region=mworld.community, name="求助者")
    role_grant(user=asker, role=Role.VOLUNTEER, region=mworld.community)
    VolunteerProfile.objects.create(
        user=asker,
        volunteer_number=new_volunteer_number(),
        region=mworld.community,
        home_lat=point()[0],
        home_lng=point()[1],
        availability=EVERY_SLOT,
    )
    need = mworld.need(poster=asker, window_start=at(3, 14))
    built = built_for(mworld, [need])
    with override("en"):
        views = {
            u.name: adapter.explain(built, index_of(built, u), 0) for u in (near, far, keen, asker)
        }
    assert views["近"].eligible and views["热心"].eligible
    assert views["远"].codes == ["too_far"]
    assert views["远"].reasons == ["4.0 km away: further than they travel (3 km)"]
    assert views["求助者"].codes == ["requester"]
    solution = adapter.solve_exact(built)
    assert sorted(built.volunteers[v].user_id for v in solution.volunteer) == [near.pk]


def test_emergencies_go_to_people_on_call(mworld: MWorld) -> None:
    # Now is Monday morning. Olga is on call but not usually free on Monday mornings.
    olga = mworld.volunteer("奥尔加", emergency_ok=True, availability=EVERY_SLOT & ~slot(0, 0))
    paul = mworld.volunteer("保罗", 0.5, emergency_ok=False)
    emergency = mworld.need(urgency="emergency")
    routine = mworld.need(0.2)  # as soon as possible: Monday morning too
    built = built_for(mworld, [emergency, routine])
    o, p = index_of(built, olga), index_of(built, paul)
    with override("en"):
        assert adapter.explain(built, o, 0).eligible
        assert "On call for emergencies" in adapter.explain(built, o, 0).reasons
        assert adapter.explain(built, p, 0).codes == ["not_on_call"]
        # Being on call does not make her free for ordinary work in that slot.
        assert adapter.explain(built, o, 1).codes == ["not_free"]
        assert adapter.explain(built, p, 1).eligible
    solution = adapter.solve_exact(built)
    assert solution.pairs_of(0) == [o]
    assert solution.pairs_of(1) == [p]
    assert sum(solution.violations.values()) == 0


def test_a_need_without_a_map_point_is_not_guessed(mworld: MWorld) -> None:
    need = mworld.need()
    need.lat = need.lng = None
    need.save(update_fields=["lat", "lng"])
    tasks, skipped = selectors.need_tasks([need])
    assert tasks == [] and skipped == {need.pk: selectors.NO_POINT}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_ranking_and_the_explanations_agree_on_who_can_go(mworld: MWorld, seed: int) -> None:
    # Two rule books meet here: the engine's candidates plus the adapter's pair rules decide
    # the order; the explanation decides what the dispatcher reads. They must agree.
    import random

    rng = random.Random(seed)
    for k in range(25):
        user = mworld.volunteer(
            f"v{k}",
            rng.uniform(-9, 9),
            rng.uniform(-9, 9),
            skills=rng.sample(["a", "b"], rng.randint(0, 2)),
            availability=rng.randrange(1 << 21),
            max_travel_km=rng.choice([2, 5, 10]),
            emergency_ok=rng.random() < 0.5,
            qualifications=[("nurse", dt.date(2026, 3, rng.choice([1, 31])))]
            if rng.random() < 0.5
            else [],
        )
        if rng.random() < 0.15:
            Sanction.objects.create(
                party_kind=PartyKind.VOLUNTEER,
                user=user,
                region=mworld.district,
                reason="测试",
                kind=SanctionKind.BAN,
                starts_at=NOW - dt.timedelta(days=1),
            )
    for _ in range(3):
        need = mworld.need(
            rng.uniform(-3, 3),
            rng.uniform(-3, 3),
            skills=rng.sample(["a", "b"], rng.randint(0, 1)),
            qualifications=["nurse"] if rng.random() < 0.5 else [],
            urgency=rng.choice(["routine", "emergency"]),
            window_start=at(rng.choice([3, 4]), rng.choice([9, 14, 19])),
        )
        built = built_for(mworld, [need])
        good, rest = adapter.order_for_task(built)
        assert sorted(good + rest) == list(range(len(built.volunteers)))
        assert all(adapter.explain(built, v, 0).eligible for v in good)
        assert not any(adapter.explain(built, v, 0).eligible for v in rest)
        utilities = [adapter.explain(built, v, 0).utility for v in good]
        assert utilities == sorted(utilities, reverse=True)
