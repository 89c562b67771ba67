"""In a real browser: the log-in page, each demo role reaching its home, the language switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder, demo_logins

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEADINGS = {
    "resident": "王秀兰",
    "volunteer": "李志强",
    "org_admin": "我的组织",
    "dispatcher": "调度中心",
    "region_admin": "区域管理",
    "system_admin": "系统管理",
    "security_admin": "角色与安全",
    "audit_admin": "审计日志",
    "merchant": "发放礼品",
}


def test_every_demo_role_logs_in_on_a_phone(live_server, phone_page: Page) -> None:
    DemoBuilder(seed=5, volunteers=30).build()
    page = phone_page
    for login in demo_logins():
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/accounts/login/")
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        page.get_by_label("手机号码").fill(login.phone)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(HEADINGS[login.role.value])
        expect(page.get_by_role("navigation", name="主菜单")).to_contain_text(str(login.role.label))


def test_wrong_password_keeps_the_number_and_explains(live_server, phone_page: Page) -> None:
    DemoBuilder(seed=5, volunteers=10).build()
    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号码").fill("13900000002")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("手机号码或密码不正确")
    expect(page.get_by_label("手机号码")).to_have_value("13900000002")


def test_language_switch(live_server, phone_page: Page) -> None:
    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    Path("var").mkdir(exist_ok=True)
    page.screenshot(path="var/e2e-login-en.png")
