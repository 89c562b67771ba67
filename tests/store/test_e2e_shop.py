"""In a real browser, phone-sized: the merchant opens their rewards from the scan page, counts
the stock (a count below what vouchers hold is refused and explained), and takes a reward off
sale."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.ledger.conftest import give_points
from zhiyuan.store import services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_merchant_counts_stock_and_withdraws_on_a_phone(
    live_server, phone_page: Page, merchant, volunteer, district, reward
) -> None:
    give_points(volunteer, district, 100)
    for n in range(2):
        services.store_redeem(volunteer=volunteer, reward=reward, key=f"e2e-redeem-{n:04d}")
    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号码").fill(merchant.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="发放礼品")).to_be_visible()

    page.get_by_role("link", name="我的礼品").click()
    expect(page.locator("#shop-rewards")).to_contain_text("预留 2")
    page.get_by_role("link", name="大米一袋").click()
    expect(page.locator("#reward-stock")).to_have_text("3")

    count = page.get_by_label("现有数量（含为兑换券预留的）")
    count.fill("1")
    page.get_by_role("button", name="保存库存").click()
    expect(page.get_by_role("alert")).to_contain_text("已有 2 件被尚未领取的兑换券预留")
    expect(count).to_have_value("1")  # what was typed stays
    count.fill("12")
    page.get_by_role("button", name="保存库存").click()
    expect(page.locator(".messages")).to_contain_text("库存已保存")
    expect(page.locator("#reward-stock")).to_have_text("10")

    page.get_by_role("button", name="下架").click()
    expect(page.locator(".messages")).to_contain_text("已下架")
    expect(page.get_by_role("button", name="重新上架")).to_be_visible()
    # Phone-sized: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
