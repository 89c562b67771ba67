"""The demo: a volunteer sees points, redeems a reward, and the merchant confirms it."""

from __future__ import annotations

import pytest

from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder
from zhiyuan.ledger.demo import MERCHANT_PHONE
from zhiyuan.ledger.models import Transaction, TransactionKind
from zhiyuan.ledger.selectors import balances_of
from zhiyuan.ledger.verify import ledger_verify
from zhiyuan.store.models import Voucher, VoucherStatus

pytestmark = pytest.mark.django_db


def log_in(client, phone: str):
    client.logout()
    return client.post(
        "/accounts/login/", {"username": phone, "password": DEMO_PASSWORD}, follow=True
    )


def test_demo_volunteer_redeems_and_the_merchant_confirms(client) -> None:
    DemoBuilder(seed=3, volunteers=150).build()
    # Points before the records issue come from an honest, distinct opening import.
    # Points earned before Zhiyuan come from an honest, distinct opening import.
    assert Transaction.objects.filter(kind=TransactionKind.OPENING_IMPORT).count() > 10
    landed = log_in(client, "13900000002")
    volunteer = landed.context["user"]
    points = balances_of(volunteer)["points"]
    assert points >= 260
    wallet = client.get("/ledger/").content.decode()
    assert f'id="points-balance">{points}<' in wallet
    store = client.get("/store/")
    reward = next(
        r for r, _refusal in store.context["rewards"] if r.organization.name == "东四爱心超市"
    )
    confirm = client.get(f"/store/rewards/{reward.pk}/redeem/")
    done = client.post(
        f"/store/rewards/{reward.pk}/redeem/",
        {"key": confirm.context["form"].initial["key"], "reward": reward.pk},
    )
    code = Voucher.objects.get().code
    assert done.url == f"/store/vouchers/{code}/"
    assert balances_of(volunteer)["points"] == points - reward.price_points

    landed = log_in(client, MERCHANT_PHONE)
    assert landed.redirect_chain[-1][0] == "/store/merchant/"
    assert reward.name in client.get(f"/store/merchant/?code={code}").content.decode()
    client.post("/store/merchant/", {"code": code})
    assert Voucher.objects.get().status == VoucherStatus.USED
    assert ledger_verify().problem is None

    # The region admin finds the free-standing time-bank request the demo volunteer made for
    # his mother, waiting to be arranged.
    log_in(client, "13900000005")
    arrange = client.get("/ledger/admin/withdrawals/").content.decode()
    assert "每月上门理发（社区服务站已约好理发师）" in arrange
    assert ">标记为已服务</button>" in arrange
