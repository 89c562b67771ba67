"""Random sequences of actions by random people never reach an illegal state, and every
refused action leaves the data as it was (hypothesis RuleBasedStateMachine)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.needs.helpers import snapshot
from zhiyuan.needs import services
from zhiyuan.needs.models import AssignmentState, Need, NeedRating, ProxyRelation, Urgency
from zhiyuan.needs.states import OPEN, TERMINAL, TRANSITIONS, IllegalTransition, NeedState

pytestmark = pytest.mark.django_db

REFUSALS = (IllegalTransition, PermissionDenied, ValidationError)
S, A = NeedState, AssignmentState


def test_random_actions_by_random_people(world, bank) -> None:
    from tests.needs.conftest import minutes_of
    from zhiyuan.needs.models import NeedTimeBank, TimeBankStatus

    people = {
        "banker": bank.member,
        "resident": world.resident,
        "dispatcher": world.dispatcher,
        "volunteer0": world.volunteers[0],
        "volunteer1": world.volunteers[1],
        "member": world.volunteers[2],
        "team_admin": world.team_admin,
        "outsider": world.outsider,
    }
    who = st.sampled_from(sorted(people))

    def usually(*natural: str) -> st.SearchStrategy[str]:
        """Half the time the party who would normally act, else anyone at all."""
        return st.one_of(st.sampled_from(natural), who)

    volunteer = usually("volunteer0", "volunteer1", "member")
    legal_targets = {t.target for t in TRANSITIONS.values() if t.target} | {S.SUBMITTED}
    reached: set[str] = set()
    credit_reached: set[str] = set()

    class Needs(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Each run starts from the same world and is rolled back after.
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.needs: list[int] = []
            self.refused = 0

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

        def attempt(self, call: Callable[[], Any]) -> None:
            """Run ``call``; if it is refused, nothing may have changed."""
            before = snapshot()
            try:
                call()  # no savepoint of our own: a partial write would show in the snapshot
            except REFUSALS:
                self.refused += 1
                assert snapshot() == before

        def need(self, data: Any) -> Need:
            # Mostly the latest need, so that one need can travel the whole loop.
            pk = data.draw(st.one_of(st.just(self.needs[-1]), st.sampled_from(self.needs)))
            return Need.objects.get(pk=pk)

        @rule(
            poster=usually("resident", "dispatcher"),
            people_needed=st.integers(min_value=1, max_value=2),
            proxy=st.booleans(),
            urgency=st.sampled_from(Urgency.values),
        )
        def post(self, poster: str, people_needed: int, proxy: bool, urgency: str) -> None:
            extra: dict[str, Any] = {}
            if proxy:
                extra = {
                    "for_someone_else": True,
                    "beneficiary_name": "赵桂芬",
                    "beneficiary_phone": "010-64012345",
                    "proxy_relation": ProxyRelation.NEIGHBOUR,
                }
            before = snapshot()
            try:
                need = world.need(
                    poster=people[poster], people_needed=people_needed, urgency=urgency, **extra
                )
            except REFUSALS:
                assert snapshot() == before
                return
            self.needs.append(need.pk)

        @rule(
            minutes=st.sampled_from([60, 240, 700]),
            relative=st.sampled_from(["mother", "cousin", "self"]),
        )
        def post_timebank(self, minutes: int, relative: str) -> None:
            """The member spends credit for his mother (allowed), his cousin (too young) or
            himself (birth date unknown); 700 minutes overdraws what he has."""
            chosen = {"mother": bank.mother.pk, "cousin": bank.cousin.pk, "self": None}[relative]
            before = snapshot()
            try:
                need = world.need(
                    poster=bank.member, timebank_minutes=minutes, timebank_relative=chosen
                )
            except REFUSALS:
                assert snapshot() == before
                return
            self.needs.append(need.pk)

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=usually("dispatcher"))
        def review(self, data: Any, actor: str) -> None:
            need = self.need(data)
            self.attempt(lambda: services.need_review(need=need, actor=people[actor]))

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=usually("dispatcher"))
        def reject(self, data: Any, actor: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_reject(need=need, actor=people[actor], reason="不在服务范围")
            )

        @precondition(lambda self: self.needs)
        @rule(
            data=st.data(),
            actor=usually("dispatcher"),
            to=st.sampled_from(["v0", "v01", "team", "member"]),
        )
        def dispatch(self, data: Any, actor: str, to: str) -> None:
            need = self.need(data)
            kwargs: dict[str, Any] = {
                "v0": {"volunteers": [world.volunteers[0]]},
                "v01": {"volunteers": world.volunteers[:2]},
                "member": {"volunteers": [world.volunteers[2]]},
                "team": {"organization": world.team},
            }[to]
            self.attempt(lambda: services.need_dispatch(need=need, actor=people[actor], **kwargs))

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=volunteer)
        def accept(self, data: Any, actor: str) -> None:
            need = self.need(data)
            self.attempt(lambda: services.need_accept(need=need, volunteer=people[actor]))

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=volunteer, reason=st.sampled_from(["", "没空"]))
        def decline(self, data: Any, actor: str, reason: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_decline(need=need, volunteer=people[actor], reason=reason)
            )

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=volunteer)
        def withdraw(self, data: Any, actor: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_withdraw(
                    need=need, volunteer=people[actor], reason="临时有事"
                )
            )

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=st.one_of(usually("dispatcher"), st.none()))
        def give_back(self, data: Any, actor: str | None) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_return(
                    need=need, actor=people[actor] if actor else None, reason="改派"
                )
            )

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=volunteer)
        def start(self, data: Any, actor: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_start(need=need, volunteer=people[actor], lat=39.9, lng=116.4)
            )

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=volunteer, note=st.sampled_from(["", "完成了"]))
        def complete(self, data: Any, actor: str, note: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_complete(need=need, volunteer=people[actor], note=note)
            )

        @precondition(lambda self: self.needs)
        @rule(
            data=st.data(), actor=usually("resident"), score=st.integers(min_value=0, max_value=6)
        )
        def rate(self, data: Any, actor: str, score: int) -> None:
            need = self.need(data)
            self.attempt(lambda: services.need_rate(need=need, actor=people[actor], score=score))

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), actor=who, reason=st.sampled_from(["", "已解决"]))
        def cancel(self, data: Any, actor: str, reason: str) -> None:
            need = self.need(data)
            self.attempt(
                lambda: services.need_cancel(need=need, actor=people[actor], reason=reason)
            )

        @precondition(lambda self: self.needs)
        @rule(data=st.data(), late=st.integers(min_value=0, max_value=3))
        def expire(self, data: Any, late: int) -> None:
            need = self.need(data)
            if late == 0:  # the clock passes a deadline now and then
                self.attempt(lambda: services.need_expire(need=need))

        @precondition(lambda self: self.needs)
        @rule(data=st.data())
        def advance(self, data: Any) -> None:
            """The next natural step of the latest need, by the party who would take it."""
            need = Need.objects.get(pk=self.needs[-1])
            parts = {a.volunteer_id: a.state for a in need.assignments.all()}
            by_state = {
                a: [
                    people[k]
                    for k in ("volunteer0", "volunteer1", "member")
                    if parts.get(people[k].pk) == a
                ]
                for a in A
            }
            state = NeedState(need.state)
            if state == S.SUBMITTED:
                self.attempt(lambda: services.need_review(need=need, actor=world.dispatcher))
            elif state in (S.UNDER_REVIEW, S.RETURNED):
                to = data.draw(
                    st.sampled_from(
                        [[world.volunteers[0]], world.volunteers[:2], [world.volunteers[2]]]
                    )
                )
                self.attempt(
                    lambda: services.need_dispatch(need=need, actor=world.dispatcher, volunteers=to)
                )
            elif state in (S.DISPATCHED, S.ACCEPTED) and by_state[A.OFFERED]:
                v = data.draw(st.sampled_from(by_state[A.OFFERED]))
                self.attempt(lambda: services.need_accept(need=need, volunteer=v))
            elif state in (S.ACCEPTED, S.IN_SERVICE) and by_state[A.ACCEPTED]:
                v = data.draw(st.sampled_from(by_state[A.ACCEPTED]))
                self.attempt(lambda: services.need_start(need=need, volunteer=v))
            elif state == S.IN_SERVICE and by_state[A.STARTED]:
                v = data.draw(st.sampled_from(by_state[A.STARTED]))
                self.attempt(lambda: services.need_complete(need=need, volunteer=v, note="完成了"))
            elif state == S.COMPLETED:
                self.attempt(lambda: services.need_rate(need=need, actor=need.posted_by, score=4))

        @invariant()
        def every_need_is_in_a_legal_state(self) -> None:
            for need in Need.objects.filter(pk__in=self.needs).prefetch_related(
                "assignments", "events"
            ):
                state = NeedState(need.state)
                assert state in legal_targets
                reached.add(state)
                parts = [a.state for a in need.assignments.all()]
                holding = [p for p in parts if p in (A.ACCEPTED, A.STARTED, A.FINISHED)]
                assert len(holding) <= need.people_needed
                if state in OPEN or state in (S.REJECTED, S.EXPIRED, S.CANCELLED):
                    assert not holding and A.OFFERED not in parts
                if state == S.DISPATCHED:
                    assert not holding
                if state == S.ACCEPTED:
                    assert (
                        A.ACCEPTED in parts and A.STARTED not in parts and A.FINISHED not in parts
                    )
                if state == S.IN_SERVICE:
                    assert A.STARTED in parts or A.FINISHED in parts
                if state in (S.COMPLETED, S.RATED):
                    assert (
                        A.FINISHED in parts and A.STARTED not in parts and A.ACCEPTED not in parts
                    )
                assert (state == S.RATED) == NeedRating.objects.filter(need=need).exists()
                if state in TERMINAL:
                    assert need.closed_at is not None
                # The history is one unbroken chain ending in the present state.
                events = list(need.events.all())
                assert events[0].action == "submit"
                assert all(a.to_state == b.from_state for a, b in itertools.pairwise(events))
                assert events[-1].to_state == state

        @invariant()
        def time_credit_is_held_spent_or_returned_as_the_need_stands(self) -> None:
            outstanding = 0
            for row in NeedTimeBank.objects.select_related("need"):
                need = row.need
                if need.started_at is not None:
                    assert row.status == TimeBankStatus.SPENT
                elif need.state in (S.CANCELLED, S.REJECTED, S.EXPIRED):
                    assert row.status == TimeBankStatus.REFUNDED
                else:
                    assert row.status == TimeBankStatus.HELD
                credit_reached.add(row.status)
                if row.status != TimeBankStatus.REFUNDED:
                    outstanding += row.minutes
            # Nothing lost or invented: what he has is what he had less what is held or spent.
            assert minutes_of(bank.member) == 600 - outstanding

    run_state_machine_as_test(
        Needs,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            derandomize=True,
        ),
    )
    # The runs went through the whole loop and its side roads, not only refusals.
    assert reached == set(NeedState)
    assert credit_reached == set(TimeBankStatus)
