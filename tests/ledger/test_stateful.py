"""Nothing is lost: any sequence of earning, redeeming, transferring, donating, reversing and
expiring keeps every asset summing to zero and every ordinary account at or above zero."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.factories import make_user
from tests.ledger.conftest import WHEN
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import errors, services
from zhiyuan.ledger.models import (
    Account,
    Asset,
    Earning,
    ElderReason,
    Relation,
    Transaction,
)
from zhiyuan.ledger.verify import ledger_verify
from zhiyuan.store import services as store
from zhiyuan.store.models import Reward, Voucher, VoucherStatus

pytestmark = pytest.mark.django_db

STOCK = 3
_ids = itertools.count(1)


def snapshot() -> dict[int, int]:
    return dict(Account.objects.values_list("pk", "balance"))


@pytest.fixture
def world(district, community, admin, rules, merchant_org, reward):
    Reward.objects.filter(pk=reward.pk).update(stock=STOCK, price_points=15)
    people = [make_user(Role.VOLUNTEER, region=community) for _ in range(3)]
    relatives = {}
    for i, person in enumerate(people):
        relatives[person.pk] = services.relative_register(
            member=person,
            relation=Relation.SPOUSE,
            name=f"家人{i}",
            birth_date=dt.date(1950, 1, 1),
            region=community,
            registered_by=admin,
            account_user=people[(i + 1) % len(people)],
        )
    elder = services.elder_register(
        user=make_user(Role.RESIDENT, region=community),
        region=community,
        birth_date=dt.date(1940, 1, 1),
        reason=ElderReason.ALONE,
        registered_by=admin,
    )
    return {"people": people, "relatives": relatives, "elder": elder, "reward": reward}


def test_nothing_is_lost(world, community) -> None:
    people, relatives, elder, reward = (
        world["people"],
        world["relatives"],
        world["elder"],
        world["reward"],
    )
    person = st.sampled_from(people)
    amount = st.integers(min_value=-2, max_value=90)

    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Each run of the machine starts from the same world and is rolled back after.
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.earned: list[str] = []
            self.transfers: list[Transaction] = []
            self.last: tuple | None = None

        def teardown(self) -> None:
            report = ledger_verify()
            assert report.problem is None, report.problems
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

        def refused(self, call, *refusals) -> object | None:
            """Run ``call``; if refused, check that no balance moved."""
            before = snapshot()
            try:
                return call()
            except refusals:
                assert snapshot() == before
                return None

        @rule(who=person, minutes=st.integers(min_value=1, max_value=300))
        def earn(self, who, minutes) -> None:
            source = f"record:{next(_ids)}:v1"
            result = services.ledger_credit_service(
                volunteer=who,
                region=community,
                minutes=minutes,
                category="elder-care",
                activity_key=f"activity:{minutes % 3}",
                occurred_at=WHEN,
                source=source,
            )
            if result.transaction is not None:
                self.earned.append(source)

        @precondition(lambda self: self.earned)
        @rule(data=st.data(), minutes=st.integers(min_value=1, max_value=300))
        def correct(self, data, minutes) -> None:
            old = data.draw(st.sampled_from(self.earned))
            tx = Transaction.objects.get(idempotency_key=f"earn:{old}")
            who = tx.postings.filter(source=old).first().credit.user
            new = f"{old}-fix{next(_ids)}"
            result = self.refused(
                lambda: services.ledger_credit_service(
                    volunteer=who,
                    region=community,
                    minutes=minutes,
                    category="elder-care",
                    activity_key="fix",
                    occurred_at=WHEN,
                    source=new,
                    replaces=old,
                ),
                errors.Overdrawn,
                errors.AlreadyReversed,
            )
            if result is not None:
                self.earned.remove(old)
                if result.points:
                    self.earned.append(new)

        @rule(who=person, minutes=st.integers(min_value=1, max_value=300))
        def deposit(self, who, minutes) -> None:
            services.timebank_deposit(
                member=who, region=community, minutes=minutes, source=f"record:{next(_ids)}:t"
            )

        @rule(who=person)
        def redeem(self, who) -> None:
            key = f"redeem-{next(_ids):08d}"
            if self.refused(
                lambda: store.store_redeem(volunteer=who, reward=reward, key=key),
                errors.Overdrawn,
                store.OutOfStock,
            ):
                self.last = ("redeem", who, key)

        @rule(who=person, minutes=amount)
        def transfer(self, who, minutes) -> None:
            key = f"transfer-{next(_ids):08d}"
            tx = self.refused(
                lambda: services.timebank_transfer(
                    member=who, relative=relatives[who.pk], minutes=minutes, key=key
                ),
                errors.Overdrawn,
                errors.InvalidAmount,
            )
            if tx is not None:
                self.transfers.append(tx)
                self.last = ("transfer", who, key, minutes)

        @rule(who=person, minutes=amount, to_elder=st.booleans())
        def donate(self, who, minutes, to_elder) -> None:
            self.refused(
                lambda: services.timebank_donate(
                    member=who,
                    region=community,
                    minutes=minutes,
                    elder=elder if to_elder else None,
                    key=f"donate-{next(_ids):08d}",
                ),
                errors.Overdrawn,
                errors.InvalidAmount,
            )

        @precondition(lambda self: self.transfers or self.earned)
        @rule(data=st.data())
        def reverse(self, data) -> None:
            earnings = [
                Transaction.objects.get(idempotency_key=f"earn:{source}") for source in self.earned
            ]
            tx = data.draw(st.sampled_from(self.transfers + earnings))
            done = self.refused(
                lambda: services.ledger_reverse(original=tx, key=f"reverse-{tx.pk:08d}"),
                errors.Overdrawn,
                errors.AlreadyReversed,
            )
            if done is not None and tx in earnings:
                self.earned.remove(tx.idempotency_key.removeprefix("earn:"))

        @precondition(lambda self: self.last is not None)
        @rule()
        def retry(self) -> None:
            before = snapshot()
            if self.last[0] == "redeem":  # a true retry of a booked redemption
                _op, who, key = self.last
                store.store_redeem(volunteer=who, reward=reward, key=key)
            else:
                _op, who, key, minutes = self.last
                services.timebank_transfer(
                    member=who, relative=relatives[who.pk], minutes=minutes, key=key
                )
            assert snapshot() == before

        @rule(data=st.data(), expire=st.booleans())
        def give_back(self, data, expire) -> None:
            issued = list(Voucher.objects.filter(status=VoucherStatus.ISSUED))
            if not issued:
                return
            voucher = data.draw(st.sampled_from(issued))
            if expire:
                later = timezone.now() + dt.timedelta(days=voucher.reward.valid_days + 1)
                store.store_voucher_return(voucher=voucher, expired=True, now=later)
            else:
                store.store_voucher_return(voucher=voucher, actor=voucher.holder)

        @invariant()
        def sums_to_zero_and_nobody_ordinary_is_negative(self) -> None:
            for asset in Asset:
                total = Account.objects.filter(asset=asset).aggregate(s=Sum("balance"))["s"]
                assert (total or 0) == 0
            assert not Account.objects.filter(is_system=False, balance__lt=0).exists()

        @invariant()
        def points_held_are_points_earned_less_points_spent(self) -> None:
            for who in people:
                earned = Earning.objects.filter(volunteer=who).aggregate(s=Sum("points"))["s"]
                spent = Voucher.objects.filter(
                    holder=who, status__in=[VoucherStatus.ISSUED, VoucherStatus.USED]
                ).aggregate(s=Sum("price_points"))["s"]
                held = Account.objects.filter(kind="user", user=who, asset=Asset.POINTS).first()
                assert (held.balance if held else 0) == (earned or 0) - (spent or 0)

        @invariant()
        def stock_is_never_oversold(self) -> None:
            stock = Reward.objects.get(pk=reward.pk).stock
            held = Voucher.objects.filter(
                reward=reward, status__in=[VoucherStatus.ISSUED, VoucherStatus.USED]
            ).count()
            assert stock >= 0 and stock + held == STOCK

    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            derandomize=True,
        ),
    )
