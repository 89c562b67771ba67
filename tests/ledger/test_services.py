"""The ledger's rules, through its services: earning, correcting, the time bank, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import translation

from tests.factories import make_user
from tests.ledger.conftest import WHEN, balance, give_minutes, give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import errors, selectors, services
from zhiyuan.ledger.models import (
    Account,
    Asset,
    ElderReason,
    Posting,
    Relation,
    Transaction,
    TransactionKind,
    WithdrawalStatus,
)

pytestmark = pytest.mark.django_db


def earn(volunteer, region, source="record:1:v1", minutes=120, **kw):
    facts = {
        "category": "elder-care",
        "activity_key": "activity:1",
        "occurred_at": WHEN,
        **kw,
    }
    return services.ledger_credit_service(
        volunteer=volunteer, region=region, minutes=minutes, source=source, **facts
    )


def sums_to_zero() -> bool:
    for asset in Asset:
        total = sum(Account.objects.filter(asset=asset).values_list("balance", flat=True))
        if total != 0:
            return False
    return True


class TestEarning:
    def test_coefficient_times_hours_with_the_rule_version_and_record_named(
        self, volunteer, community, rules
    ) -> None:
        result = earn(volunteer, community, minutes=90)
        assert result.points == 12 * 90 // 60 == 18
        posting = Posting.objects.get(transaction=result.transaction)
        assert posting.source == "record:1:v1"
        assert posting.rule_version_id == rules.pk
        assert balance(volunteer) == 18
        assert sums_to_zero()

    def test_urgent_and_emergency_bonuses(self, volunteer, community, rules) -> None:
        urgent = earn(volunteer, community, "record:2:v1", 60, urgency="urgent", activity_key="a2")
        emergency = earn(
            volunteer, community, "record:3:v1", 60, urgency="emergency", activity_key="a3"
        )
        assert (urgent.points, emergency.points) == (12 * 120 // 100, 12 * 150 // 100)

    def test_caps_per_activity_and_per_day(self, volunteer, community, rules) -> None:
        first = earn(volunteer, community, "record:1:v1", 240, activity_key="big")  # 48
        second = earn(volunteer, community, "record:2:v1", 240, activity_key="big")  # 60-48
        assert (first.points, second.points) == (48, 12)
        assert second.breakdown["capped_by"] == "activity"
        third = earn(volunteer, community, "record:3:v1", 240, activity_key="other")  # day: 100
        assert third.points == 100 - 60
        assert third.breakdown["capped_by"] == "day"
        nothing = earn(volunteer, community, "record:4:v1", 60, activity_key="more")
        assert nothing.points == 0 and nothing.transaction is None
        assert balance(volunteer) == 100

    def test_a_retried_confirmation_earns_once(self, volunteer, community, rules) -> None:
        first = earn(volunteer, community)
        again = earn(volunteer, community)
        assert again.transaction == first.transaction
        assert balance(volunteer) == 24
        assert Transaction.objects.filter(kind=TransactionKind.EARN).count() == 1

    def test_a_retry_with_other_facts_is_refused(self, volunteer, community, rules) -> None:
        earn(volunteer, community)
        with (
            translation.override("en"),
            pytest.raises(errors.IdempotencyConflict, match="different"),
        ):
            earn(volunteer, community, minutes=480)
        assert balance(volunteer) == 24

    def test_a_correction_reverses_and_recredits_the_difference(
        self, volunteer, community, rules
    ) -> None:
        first = earn(volunteer, community, "record:9:v1", 120)  # 24
        fixed = earn(volunteer, community, "record:9:v2", 60, replaces="record:9:v1")  # 12
        assert fixed.points == 12
        assert fixed.transaction.reverses == first.transaction
        assert balance(volunteer) == 12
        legs = list(fixed.transaction.postings.order_by("leg").values_list("source", "amount"))
        assert legs == [("record:9:v2", 12), ("record:9:v1", 24)]
        with pytest.raises(errors.AlreadyReversed):
            earn(volunteer, community, "record:9:v3", 30, replaces="record:9:v1")
        # The corrected version no longer counts against the caps.
        assert selectors.balances_of(volunteer)["points"] == 12

    def test_reversing_a_correction_takes_back_only_the_corrected_version(
        self, volunteer, community, rules
    ) -> None:
        earn(volunteer, community, "record:9:v1", 120)  # 24
        fixed = earn(volunteer, community, "record:9:v2", 60, replaces="record:9:v1")  # 12
        services.ledger_reverse(original=fixed.transaction, key="reverse:record:9:v2")
        assert balance(volunteer) == 0
        again = earn(volunteer, community, "record:9:v3", 30, activity_key="activity:1")
        assert again.points == 6  # the caps no longer count either version

    def test_no_rules_no_points(self, volunteer, other_district) -> None:
        with pytest.raises(errors.NoRules):
            earn(volunteer, other_district)

    def test_rules_are_versioned_and_the_version_in_force_applies(
        self, volunteer, community, district, admin, rules
    ) -> None:
        later = services.earning_rules_publish(
            region=district,
            params={"default_coefficient": 10, "coefficients": {"elder-care": 30}},
            effective_from=WHEN + dt.timedelta(days=1),
            actor=admin,
        )
        assert later.version == rules.version + 1
        before = earn(volunteer, community, "record:1:v1", 60)
        after = earn(
            volunteer,
            community,
            "record:2:v1",
            60,
            occurred_at=WHEN + dt.timedelta(days=2),
            activity_key="a2",
        )
        assert (before.rule_set, after.rule_set) == (rules, later)
        assert (before.points, after.points) == (12, 30)

    def test_bad_rules_are_refused_with_the_field_named(self, district, admin) -> None:
        with translation.override("en"), pytest.raises(errors.LedgerRefused, match="cap_per_day"):
            services.earning_rules_publish(
                region=district, params={"cap_per_day": -1}, effective_from=WHEN, actor=admin
            )

    def test_only_region_admins_publish_rules(self, district, volunteer) -> None:
        with pytest.raises(PermissionDenied):
            services.earning_rules_publish(
                region=district, params={}, effective_from=WHEN, actor=volunteer
            )

    def test_no_show_penalty_never_overdraws(self, volunteer, community, rules) -> None:
        give_points(volunteer, community, 4)
        tx = services.ledger_penalise_no_show(
            volunteer=volunteer, region=community, occurred_at=WHEN, source="record:5:v1"
        )
        assert tx.postings.get().amount == 4
        assert balance(volunteer) == 0
        assert (
            services.ledger_penalise_no_show(
                volunteer=volunteer, region=community, occurred_at=WHEN, source="record:6:v1"
            )
            is None
        )


class TestOpeningImport:
    def test_import_is_its_own_audited_kind_and_happens_once(self, volunteer, district) -> None:
        tx = give_points(volunteer, district, 50)
        assert tx.kind == TransactionKind.OPENING_IMPORT
        assert give_points(volunteer, district, 50) == tx
        assert balance(volunteer) == 50
        event = AuditEvent.objects.get(action="ledger.opening_import")
        assert event.object_id == str(tx.pk)
        assert event.detail["reference"] == f"paper-{volunteer.pk}"


class TestBadInput:
    """Each refused with its own message, and no balance changes."""

    def test_overdraw(self, volunteer, community, family) -> None:
        give_minutes(volunteer, community, 30)
        with translation.override("en"), pytest.raises(errors.Overdrawn, match="30 available"):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=31, key=new_key()
            )
        assert balance(volunteer, Asset.TIME_MINUTES) == 30
        assert balance(family["mother_user"], Asset.TIME_MINUTES) == 0

    @pytest.mark.parametrize("amount", [0, -5, 1.5, True])
    def test_zero_negative_or_fractional_amounts(
        self, volunteer, community, family, amount
    ) -> None:
        give_minutes(volunteer, community, 30)
        with translation.override("en"), pytest.raises(errors.InvalidAmount, match="greater than"):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=amount, key=new_key()
            )
        assert balance(volunteer, Asset.TIME_MINUTES) == 30

    def test_transfer_to_someone_not_a_direct_relative(self, volunteer, community, family) -> None:
        give_minutes(volunteer, community, 30)
        with translation.override("en"), pytest.raises(errors.NotADirectRelative, match="spouse"):
            services.timebank_transfer(
                member=volunteer, relative=family["cousin"], minutes=5, key=new_key()
            )
        stranger = make_user(Role.VOLUNTEER, region=community)
        with pytest.raises(errors.NotADirectRelative):  # someone else's relative
            services.timebank_transfer(
                member=stranger, relative=family["mother"], minutes=5, key=new_key()
            )
        assert balance(volunteer, Asset.TIME_MINUTES) == 30

    def test_a_retry_with_changed_content(self, volunteer, community, family) -> None:
        give_minutes(volunteer, community, 30)
        key = new_key()
        services.timebank_transfer(member=volunteer, relative=family["mother"], minutes=5, key=key)
        with translation.override("en"), pytest.raises(errors.IdempotencyConflict):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=6, key=key
            )
        assert balance(volunteer, Asset.TIME_MINUTES) == 25

    def test_a_malformed_key(self, volunteer, family) -> None:
        with pytest.raises(errors.InvalidKey):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=5, key="x"
            )

    def test_messages_differ(self) -> None:
        with translation.override("en"):
            messages = {
                str(e.messages[0])
                for e in (
                    errors.InvalidAmount(),
                    errors.Overdrawn(1, 2),
                    errors.IdempotencyConflict(),
                    errors.NotADirectRelative(),
                    errors.AlreadyReversed(),
                    errors.TooYoung(60),
                    errors.BirthDateUnknown(),
                    errors.NotEligible(),
                )
            }
        assert len(messages) == 8


class TestDatabaseGuards:
    def test_postings_and_transactions_refuse_update_and_delete(self, volunteer, district) -> None:
        give_points(volunteer, district, 5)
        for sql in (
            "UPDATE ledger_posting SET amount = 500",
            "DELETE FROM ledger_posting",
            "UPDATE ledger_transaction SET memo = 'x'",
            "DELETE FROM ledger_transaction",
        ):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
        assert balance(volunteer) == 5

    def test_the_database_refuses_an_overdraft_written_around_the_service(
        self, volunteer, district
    ) -> None:
        tx = give_points(volunteer, district, 5)
        other = make_user(Role.VOLUNTEER, region=district)
        theirs = services.account_open(services.user_account(other, Asset.POINTS))
        mine = selectors.account_of(volunteer, Asset.POINTS)
        with pytest.raises(IntegrityError), transaction.atomic():
            Posting.objects.create(
                transaction=tx,
                leg=9,
                asset="points",
                debit=mine,
                credit=theirs,
                amount=6,
                source="forged:1",
                digest="0",
            )
        assert balance(volunteer) == 5

    def test_the_database_refuses_a_posting_between_assets(self, volunteer, district) -> None:
        tx = give_points(volunteer, district, 5)
        points = selectors.account_of(volunteer, Asset.POINTS)
        minutes = services.account_open(services.user_account(volunteer, Asset.TIME_MINUTES))
        with pytest.raises(DatabaseError), transaction.atomic():
            Posting.objects.create(
                transaction=tx,
                leg=9,
                asset="points",
                debit=points,
                credit=minutes,
                amount=1,
                source="forged:1",
                digest="0",
            )

    @pytest.mark.postgres
    def test_a_transaction_without_postings_fails_at_commit(self, district) -> None:
        with transaction.atomic():
            Transaction.objects.create(
                idempotency_key="empty-transaction",
                request_hash="0",
                kind="transfer",
                created_at=WHEN,
                region=district,
                digest="0",
            )
            # What COMMIT would do: run the deferred check now.
            with pytest.raises(DatabaseError, match="no postings"), connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            transaction.set_rollback(True)


class TestTimeBank:
    def test_deposit_an_hour_is_sixty_minutes(self, volunteer, community) -> None:
        services.timebank_deposit(
            member=volunteer, region=community, minutes=90, source="record:1:v1"
        )
        services.timebank_deposit(
            member=volunteer, region=community, minutes=90, source="record:1:v1"
        )
        assert balance(volunteer, Asset.TIME_MINUTES) == 90

    def test_a_region_may_price_items(self, volunteer, community, district, admin) -> None:
        services.timebank_policy_set(
            region=district, cap_minutes=90000, min_withdraw_age=60, priced_items=True, actor=admin
        )
        services.timebank_item_save(
            region=district, code="bath", name="助浴", minutes=120, actor=admin
        )
        services.timebank_deposit(
            member=volunteer, region=community, item_code="bath", quantity=2, source="record:2:v1"
        )
        assert balance(volunteer, Asset.TIME_MINUTES) == 240
        with pytest.raises(errors.ItemUnknown):
            services.timebank_deposit(
                member=volunteer, region=community, item_code="none", source="record:3:v1"
            )

    def test_the_cap_sends_the_excess_to_the_public_fund(
        self, volunteer, community, district, admin
    ) -> None:
        services.timebank_policy_set(
            region=district, cap_minutes=100, min_withdraw_age=60, priced_items=False, actor=admin
        )
        services.timebank_deposit(member=volunteer, region=community, minutes=80, source="r:1")
        tx = services.timebank_deposit(member=volunteer, region=community, minutes=50, source="r:2")
        assert balance(volunteer, Asset.TIME_MINUTES) == 100
        fund = Account.objects.get(kind="fund", region=district, asset=Asset.TIME_MINUTES)
        assert fund.balance == 30
        assert [p.amount for p in tx.postings.order_by("leg")] == [50, 30]

    def test_withdrawal_for_an_old_enough_relative(self, volunteer, community, family) -> None:
        give_minutes(volunteer, community, 120)
        withdrawal = services.timebank_withdraw(
            member=volunteer,
            region=community,
            minutes=60,
            note="陪同就医",
            relative=family["mother"],
            key=new_key(),
        )
        assert balance(volunteer, Asset.TIME_MINUTES) == 60
        services.timebank_withdrawal_cancel(withdrawal=withdrawal, actor=volunteer)
        services.timebank_withdrawal_cancel(withdrawal=withdrawal, actor=volunteer)
        withdrawal.refresh_from_db()
        assert withdrawal.status == WithdrawalStatus.CANCELLED
        assert balance(volunteer, Asset.TIME_MINUTES) == 120

    def test_withdrawal_age(self, volunteer, community, family, admin, district) -> None:
        give_minutes(volunteer, community, 120)
        with translation.override("en"), pytest.raises(errors.BirthDateUnknown):
            services.timebank_withdraw(
                member=volunteer, region=community, minutes=60, note="x", key=new_key()
            )
        young = services.relative_register(
            member=volunteer,
            relation=Relation.CHILD,
            name="小明",
            birth_date=dt.date(2015, 1, 1),
            region=community,
            registered_by=admin,
        )
        with translation.override("en"), pytest.raises(errors.TooYoung, match="60"):
            services.timebank_withdraw(
                member=volunteer,
                region=community,
                minutes=60,
                note="x",
                relative=young,
                key=new_key(),
            )
        services.timebank_policy_set(
            region=district, cap_minutes=90000, min_withdraw_age=0, priced_items=False, actor=admin
        )
        services.timebank_withdraw(
            member=volunteer, region=community, minutes=60, note="x", relative=young, key=new_key()
        )
        assert balance(volunteer, Asset.TIME_MINUTES) == 60

    def test_transfer_and_donations(self, volunteer, community, family, admin) -> None:
        give_minutes(volunteer, community, 100)
        services.timebank_transfer(
            member=volunteer, relative=family["mother"], minutes=40, key=new_key()
        )
        assert balance(family["mother_user"], Asset.TIME_MINUTES) == 40
        services.timebank_donate(member=volunteer, region=community, minutes=10, key=new_key())
        elder_user = make_user(Role.RESIDENT, region=community)
        elder = services.elder_register(
            user=elder_user,
            region=community,
            birth_date=dt.date(1940, 2, 2),
            reason=ElderReason.ALONE,
            registered_by=admin,
        )
        services.timebank_donate(
            member=volunteer, region=community, minutes=20, elder=elder, key=new_key()
        )
        assert balance(volunteer, Asset.TIME_MINUTES) == 30
        assert balance(elder_user, Asset.TIME_MINUTES) == 20
        assert sums_to_zero()

    def test_fund_seeding_is_an_audited_admin_decision(self, community, admin, volunteer) -> None:
        elder_user = make_user(Role.RESIDENT, region=community)
        elder = services.elder_register(
            user=elder_user,
            region=community,
            birth_date=dt.date(1940, 2, 2),
            reason=ElderReason.LOW_INCOME,
            registered_by=admin,
        )
        tx = services.timebank_fund_seed(
            elder=elder, minutes=600, decided_by=admin, decision="街道会议 2026-3 号", key=new_key()
        )
        assert balance(elder_user, Asset.TIME_MINUTES) == 600
        assert tx.memo == "街道会议 2026-3 号"
        assert AuditEvent.objects.get(action="ledger.fund_seed").actor == admin
        with pytest.raises(PermissionDenied):
            services.timebank_fund_seed(
                elder=elder, minutes=600, decided_by=volunteer, decision="x", key=new_key()
            )
        elder.active = False
        elder.save()
        with pytest.raises(errors.NotEligible):
            services.timebank_fund_seed(
                elder=elder, minutes=1, decided_by=admin, decision="x", key=new_key()
            )


class TestReads:
    def test_balance_as_of_any_time_and_statements(self, volunteer, community, family) -> None:
        with time_machine.travel("2026-01-10 09:00 +0800", tick=False):
            give_minutes(volunteer, community, 100)
        with time_machine.travel("2026-02-10 09:00 +0800", tick=False):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=30, key=new_key()
            )
        with time_machine.travel("2027-01-05 09:00 +0800", tick=False):
            services.timebank_transfer(
                member=volunteer, relative=family["mother"], minutes=20, key=new_key()
            )
        account = selectors.account_of(volunteer, Asset.TIME_MINUTES)
        assert selectors.balance_as_of(account, dt.datetime(2026, 1, 31, tzinfo=dt.UTC)) == 100
        assert selectors.balance_as_of(account, dt.datetime(2026, 12, 31, tzinfo=dt.UTC)) == 70
        start, end = selectors.year_bounds(2026)
        statement = selectors.account_statement(account, start, end)
        assert (statement.opening, statement.total_in, statement.total_out) == (0, 100, 30)
        assert statement.closing == 70
        assert [line.balance for line in statement.lines] == [100, 70]
        next_year = selectors.account_statement(account, *selectors.year_bounds(2027))
        assert (next_year.opening, next_year.closing) == (70, 50)
