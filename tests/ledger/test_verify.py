"""``zhiyuan ledger verify`` notices any edit made directly in the database and names it."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import translation

from tests.ledger.conftest import (
    WHEN,
    drop_ledger_guard,
    give_minutes,
    give_points,
    new_key,
    restore_ledger_guard,
)
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Account, Posting, Seal, Transaction
from zhiyuan.ledger.verify import ledger_verify


def build_ledger(volunteer, community, family) -> None:
    give_points(volunteer, community, 50)
    give_minutes(family["mother_user"], community, 10)
    services.ledger_credit_service(
        volunteer=volunteer,
        region=community,
        minutes=60,
        category="cleaning",
        activity_key="a1",
        occurred_at=WHEN,
        source="record:1:v1",
    )
    services.timebank_deposit(member=volunteer, region=community, minutes=90, source="record:2:v1")
    services.timebank_transfer(
        member=volunteer, relative=family["mother"], minutes=30, key=new_key()
    )


# On PostgreSQL a batch is sealed only once its writers have committed, so there the tests
# commit for real (and put the dropped guards back afterwards); SQLite seals what it has.
ON_POSTGRES = os.environ.get("ZHIYUAN_DATABASE_URL", "").startswith("postgres")


def run(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.mark.django_db(transaction=ON_POSTGRES)
class TestVerify:
    @pytest.fixture(autouse=True)
    def ledger(self, volunteer, community, family, rules):
        build_ledger(volunteer, community, family)
        assert services.ledger_seal().count == 5
        yield
        if ON_POSTGRES:
            restore_ledger_guard()

    def test_an_intact_ledger_passes(self, capsys) -> None:
        report = ledger_verify()
        assert report.problem is None
        assert (report.transactions, report.postings) == (5, 5)
        assert set(report.totals.values()) == {0}
        with translation.override("en"):
            call_command("ledger", "verify")
        assert "Ledger intact: 5 postings" in capsys.readouterr().out

    def test_an_edited_amount_is_named(self) -> None:
        target = Posting.objects.order_by("pk")[2]
        drop_ledger_guard()
        run("UPDATE ledger_posting SET amount = amount + 100 WHERE id = %s", [target.pk])
        report = ledger_verify()
        assert (report.problem.what, report.problem.id) == ("posting", target.pk)
        with (
            translation.override("en"),
            pytest.raises(CommandError, match=f"posting #{target.pk}: contents altered"),
        ):
            call_command("ledger", "verify")

    def test_an_edit_that_also_forges_the_posting_digest_is_caught_by_its_transaction(
        self,
    ) -> None:
        target = Posting.objects.select_related("transaction").order_by("pk")[2]
        forged = services.posting_digest(
            target.transaction.idempotency_key,
            target.leg,
            target.asset,
            target.debit_id,
            target.credit_id,
            target.amount + 100,
            target.source,
            target.rule_version_id,
        )
        drop_ledger_guard()
        run(
            "UPDATE ledger_posting SET amount = amount + 100, digest = %s WHERE id = %s",
            [forged, target.pk],
        )
        problems = {(p.what, p.id) for p in ledger_verify().problems}
        assert ("transaction", target.transaction_id) in problems
        assert ("posting", target.pk) not in problems

    def test_a_removed_posting_is_named(self) -> None:
        target = Posting.objects.order_by("pk")[1]
        drop_ledger_guard()
        run("DELETE FROM ledger_posting WHERE id = %s", [target.pk])
        problem = ledger_verify().problem
        assert (problem.what, problem.id) == ("transaction", target.transaction_id)

    def test_a_removed_transaction_breaks_its_seal(self) -> None:
        target = Transaction.objects.order_by("pk")[3]
        drop_ledger_guard()
        run("DELETE FROM ledger_posting WHERE transaction_id = %s", [target.pk])
        run("DELETE FROM ledger_transaction WHERE id = %s", [target.pk])
        problem = ledger_verify().problem
        # The cached balances no longer match either, but the chain is checked first.
        assert problem.what == "seal"

    def test_an_edited_cached_balance_is_named(self, volunteer) -> None:
        account = Account.objects.get(kind="user", user=volunteer, asset="points")
        Account.objects.filter(pk=account.pk).update(balance=999)
        problem = ledger_verify().problem
        assert (problem.what, problem.id) == ("account", account.pk)

    def test_the_chain_links_each_seal_to_the_one_before(self, volunteer, community) -> None:
        give_points(volunteer, community.parent, 1)  # another issuer, another transaction
        second = services.ledger_seal()
        first = Seal.objects.get(number=1)
        assert second.prev_hash == first.hash and second.key_from == first.key_to
        assert ledger_verify().problem is None
        assert services.ledger_seal() is None  # nothing new to seal


@pytest.mark.django_db
def test_a_booking_asks_the_worker_to_seal(
    volunteer, community, django_capture_on_commit_callbacks
) -> None:
    from django_tasks_db.models import DBTaskResult

    from zhiyuan.core.schedule import forget_requests
    from zhiyuan.ledger.tasks import ledger_seal_task

    forget_requests()
    with django_capture_on_commit_callbacks(execute=True):
        give_points(volunteer, community, 5)
        give_minutes(volunteer, community.parent, 5)  # a second booking: no second request
    assert DBTaskResult.objects.filter(task_path__endswith="ledger_seal_task").count() == 1
    if not ON_POSTGRES:  # on PostgreSQL this test's own open transaction holds the watermark
        assert ledger_seal_task.call() == 2
        assert Seal.objects.count() == 1
