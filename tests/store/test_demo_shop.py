"""The demo: the merchant manages the shop's rewards on the phone page, the organisation has a
reward of its own, and the demo volunteer's street prices time-bank service items."""

from __future__ import annotations

import pytest

from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder
from zhiyuan.ledger.demo import MERCHANT_PHONE
from zhiyuan.ledger.verify import ledger_verify
from zhiyuan.store.models import Reward

pytestmark = pytest.mark.django_db


def log_in(client, phone: str):
    client.logout()
    return client.post(
        "/accounts/login/", {"username": phone, "password": DEMO_PASSWORD}, follow=True
    )


def test_demo_shop_pages_and_price_list(client) -> None:
    DemoBuilder(seed=3, volunteers=60).build()
    log_in(client, MERCHANT_PHONE)
    page = client.get("/store/shop/")
    rewards = {r.name: r for r in page.context["rewards"]}
    assert set(rewards) == {"大米 5 公斤", "食用油 1.8 升", "洗衣液", "毛巾两条"}
    assert rewards["大米 5 公斤"].stock + rewards["大米 5 公斤"].reserved == 36
    assert not rewards["洗衣液"].active
    assert client.get(f"/store/shop/{rewards['毛巾两条'].pk}/").status_code == 200
    barber = Reward.objects.get(name="理发一次")  # the other partner's: not this merchant's
    assert client.get(f"/store/shop/{barber.pk}/").status_code == 404

    log_in(client, "13900000003")  # the organisation admin
    assert [r.name for r in client.get("/store/shop/").context["rewards"]] == ["志愿服务纪念徽章"]

    log_in(client, "13900000002")  # the volunteer
    store = client.get("/store/").content.decode()
    assert "志愿服务纪念徽章" in store and "洗衣液" not in store
    prices = client.get("/ledger/timebank/items/")
    assert prices.context["policy"].priced_items
    assert ("陪同就医", 120) in [(i.name, i.minutes) for i in prices.context["items"]]
    assert ledger_verify().problem is None
