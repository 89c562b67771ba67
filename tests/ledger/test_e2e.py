"""In a real browser, phone-sized: the demo volunteer sees points and redeems a reward; the
merchant opens the voucher's address (what the phone's camera does with the QR code) and
confirms the hand-over."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder
from zhiyuan.ledger.demo import MERCHANT_PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, url: str, phone: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("手机号码").fill(phone)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_redeem_on_a_phone_and_the_merchant_confirms(live_server, phone_page: Page) -> None:
    DemoBuilder(seed=5, volunteers=150).build()
    page = phone_page
    log_in(page, live_server.url, "13900000002")
    page.goto(f"{live_server.url}/ledger/")
    points = int(page.locator("#points-balance").inner_text())
    assert points >= 260  # the opening import, and whatever the demo's records earned
    page.get_by_role("link", name="爱心超市").first.click()
    item = page.locator("li", has_text="毛巾两条")
    item.get_by_role("link", name="兑换").click()
    # A confirmation first: the reward, its shop, the price and the balance after.
    expect(page.locator("#redeem-summary")).to_contain_text("毛巾两条")
    expect(page.locator("#redeem-after")).to_have_text(str(points - 20))
    Path("var").mkdir(exist_ok=True)
    page.screenshot(path="var/e2e-redeem-confirm.png", full_page=True)
    page.get_by_role("button", name="兑换").click()
    expect(page.get_by_role("img", name="兑换券二维码")).to_be_visible()
    code = page.locator("#voucher-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{8}", code)
    page.goto(f"{live_server.url}/ledger/")
    expect(page.locator("#points-balance")).to_have_text(str(points - 20))

    log_in(page, live_server.url, MERCHANT_PHONE)
    expect(page.get_by_role("heading", name="发放礼品")).to_be_visible()
    page.goto(f"{live_server.url}/store/merchant/?code={code}")
    expect(page.get_by_role("status")).to_contain_text("毛巾两条")
    page.get_by_role("button", name="确认发放").click()
    expect(page.locator(".messages")).to_contain_text("已确认：请发放 毛巾两条")
    page.get_by_label("兑换码").fill(code.lower())
    page.get_by_role("button", name="查验兑换码").click()
    expect(page.get_by_role("status")).to_contain_text("已使用")
    expect(page.get_by_role("button", name="确认发放")).to_have_count(0)
