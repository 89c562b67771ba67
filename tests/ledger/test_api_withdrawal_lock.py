"""A time-bank withdrawal whose service has started is spent: cancelling it on the page or
through the API refunds nothing and says why (reviewer finding: withdrawals were always
cancellable for refund). The needs flow marks it served with ``timebank_withdrawal_settle``."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, Transaction, Withdrawal
from zhiyuan.ledger.timebank_needs import timebank_withdrawal_settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(volunteer, community):
    admin = make_user(Role.REGION_ADMIN, region=community)
    services.timebank_policy_set(
        region=community, cap_minutes=90_000, min_withdraw_age=0, priced_items=False, actor=admin
    )
    give_minutes(volunteer, community, 120)
    withdrawal = services.timebank_withdraw(
        member=volunteer, region=community, minutes=60, note="陪同就医", key="withdraw-lock-1"
    )
    timebank_withdrawal_settle(withdrawal=withdrawal)
    return withdrawal


def test_the_api_refuses_to_refund_a_served_withdrawal(client, volunteer, served) -> None:
    before = Transaction.objects.count()
    client.force_login(volunteer)
    response = client.post(
        f"/api/v1/ledger/timebank/withdrawals/{served.pk}/cancel", content_type="application/json"
    )
    assert response.status_code == 409 and response.json()["code"] == "withdrawal_served"
    assert balance(volunteer, Asset.TIME_MINUTES) == 60
    assert Transaction.objects.count() == before
    assert Withdrawal.objects.get(pk=served.pk).status == "served"


def test_the_page_says_the_credit_is_spent_and_offers_no_cancel(client, volunteer, served):
    client.force_login(volunteer)
    with translation.override("en"):
        response = client.post(
            f"/ledger/timebank/withdrawals/{served.pk}/cancel/",
            follow=True,
            HTTP_ACCEPT_LANGUAGE="en",
        )
    body = response.content.decode()
    assert "its credit has been spent" in body
    assert "Cancelled; the credit is back" not in body
    assert f"/ledger/timebank/withdrawals/{served.pk}/cancel/" not in body
    assert balance(volunteer, Asset.TIME_MINUTES) == 60


def test_an_unserved_withdrawal_is_still_refunded(client, volunteer, community) -> None:
    admin = make_user(Role.REGION_ADMIN, region=community)
    services.timebank_policy_set(
        region=community, cap_minutes=90_000, min_withdraw_age=0, priced_items=False, actor=admin
    )
    give_minutes(volunteer, community, 120)
    withdrawal = services.timebank_withdraw(
        member=volunteer, region=community, minutes=60, note="买菜", key="withdraw-lock-2"
    )
    client.force_login(volunteer)
    response = client.post(f"/ledger/timebank/withdrawals/{withdrawal.pk}/cancel/")
    assert response.status_code == 302
    assert balance(volunteer, Asset.TIME_MINUTES) == 120
    # Settling after a cancel changes nothing: the credit stays returned.
    assert timebank_withdrawal_settle(withdrawal=withdrawal).spent is False
    assert balance(volunteer, Asset.TIME_MINUTES) == 120
