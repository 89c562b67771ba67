"""In a real browser on a phone: a region admin changes the district's recording rules; a
refused value is explained in Chinese next to its field and what was typed stays; the saved
change appears in the history as a numbered version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, district_tree, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.records.models import RecordRule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_region_admin_edits_the_rules_on_a_phone(live_server: Any, phone_page: Any) -> None:
    district = district_tree()
    make_user(Role.REGION_ADMIN, region=district, phone="13911110005", name="陈静")
    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号码").fill("13911110005")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.get_by_role("link", name="记录规则").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("记录规则")
    page.get_by_label("每日最多计入分钟数").fill("30")
    page.get_by_label("忘记签退的，班次结束后多少分钟自动签退").fill("45")
    page.get_by_label("5 星所需服务月数").fill("12")
    page.get_by_label("修改理由").fill("区里新规定")
    page.get_by_role("button", name="保存为新版本").click()
    expect(page.get_by_role("alert").first).to_contain_text("每日上限")
    expect(page.get_by_label("每日最多计入分钟数")).to_have_value("30")
    expect(page.get_by_label("修改理由")).to_have_value("区里新规定")
    assert not RecordRule.objects.exists()
    page.get_by_label("每日最多计入分钟数").fill("600")
    page.get_by_role("button", name="保存为新版本").click()
    expect(page.get_by_role("status")).to_contain_text("第 1 版记录规则已生效")
    expect(page.locator("[data-version='1']")).to_contain_text("720 → 600")
    expect(page.locator("[data-version='1']")).to_contain_text("120 → 45")
    rule = RecordRule.objects.get(region=district)
    assert (rule.daily_cap_minutes, rule.checkout_grace_minutes) == (600, 45)
    assert rule.star_min_months == [0, 0, 0, 0, 12]
    Path("var").mkdir(exist_ok=True)
    page.screenshot(path="var/e2e-recording-rules.png", full_page=True)
