"""A volunteer registers on a phone, with the code the console SMS backend 'sends'."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import district_tree
from tests.people.conftest import id_number
from zhiyuan.core.sms import ConsoleSmsBackend

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_volunteer_registers_on_a_phone_and_sees_masked_values(
    live_server, phone_page: Page
) -> None:
    district_tree()
    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="注册成为志愿者").click()
    page.locator("#id_phone").fill("13711112222")
    page.get_by_role("button", name="给我发送验证码").click()
    expect(page.get_by_role("status")).to_contain_text("验证码已通过短信发送")
    code = re.search(r"\d{6}", ConsoleSmsBackend.outbox[-1][1]).group(0)  # type: ignore[union-attr]
    page.get_by_label("短信验证码").fill(code)
    page.get_by_label("真实姓名").fill("林小雨")
    number = id_number("19900101")
    page.get_by_label("证件号码").fill(number[:-1] + ("0" if number[-1] != "0" else "1"))
    page.locator("#pick-community-4").select_option(label="东城区1街道")
    page.locator("#pick-community-5").select_option(label="东城区1街道1社区")
    page.locator("#id_password").fill("walk-the-dog-2026")
    page.get_by_label("我已阅读并接受隐私政策。").check()
    page.get_by_role("button", name="注册", exact=True).click()
    # A mistyped check character: the message says which part, and nothing typed is lost.
    expect(page.locator(".error").first).to_contain_text("最后一位校验码不对")
    expect(page.get_by_label("真实姓名")).to_have_value("林小雨")
    page.get_by_label("证件号码").fill(number)
    page.locator("#id_password").fill("walk-the-dog-2026")
    page.get_by_role("button", name="注册", exact=True).click()
    expect(page.get_by_role("heading", name="我的资料")).to_be_visible()
    expect(page.locator("main")).to_contain_text("137****2222")
    expect(page.locator("main")).to_contain_text(f"110105********{number[-4:]}")
    expect(page.locator("main")).not_to_contain_text(number)
