"""In a real browser, the demo check of issue 7: a dispatcher opens a need, sees the ranked
volunteers with the reasons, and fills all open needs of a community in one click."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.matching.world import build_world
from zhiyuan.needs.models import AssignmentState, NeedAssignment
from zhiyuan.needs.states import NeedState

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_dispatcher_ranks_a_need_and_fills_a_community(
    live_server, phone_page: Page, district, other_district
) -> None:
    world = build_world(district, other_district)
    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    start = tomorrow.replace(hour=14, minute=0, second=0, microsecond=0)
    best = world.volunteer("李明", 0.4, qualifications=[("nurse", dt.date(2099, 1, 1))])
    world.volunteer("周华", 2.5, qualifications=[("nurse", dt.date(2099, 1, 1))])
    world.volunteer("吴芳", 0.1, qualifications=[("nurse", dt.date(2000, 1, 1))])
    world.volunteer("郑强", 0.3)
    nursing = world.need(qualifications=["nurse"], window_start=start, description="换药护理")
    errand = world.need(0.2, window_start=start + dt.timedelta(hours=1))
    short = world.need(skills=["sign-language"], window_start=start, description="手语陪同就医")

    page = phone_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号码").fill(world.dispatcher.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("调度中心")

    # 1. From the home page to the open needs, and one need's ranked volunteers.
    page.get_by_role("link", name="一键派发开放需求").click()
    expect(page.get_by_role("heading", name="一键派发开放需求")).to_be_visible()
    page.get_by_role("link", name=f"#{nursing.pk} ").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"谁能帮助需求 #{nursing.pk}")
    ranked = page.locator("ol.matches > li")
    expect(ranked.first).to_contain_text("李明")
    expect(ranked.first).to_contain_text("距离 0.4 公里（愿意前往 5 公里以内）")
    expect(ranked.first).to_contain_text("具备所需技能或资质：护士")
    expect(ranked.first).to_contain_text("本周已接 0 项任务（上限 3 项）")
    expect(ranked.nth(1)).to_contain_text("周华")
    # The one who lives closest is not suggested, and the page says why.
    left_out = page.locator("ul.matches > li", has_text="吴芳")
    expect(left_out).to_contain_text("资质在服务当天前已过期：护士")
    page.screenshot(path="var/e2e-matching-ranking.png", full_page=True)

    # 2. Back to the community, one click fills all its open needs.
    page.go_back()
    page.get_by_role("button", name=f"一键派发{world.community.name}的全部需求").click()
    result = page.locator("#result")
    expect(result.get_by_role("heading", level=2)).to_have_text(f"{world.community.name}的派发结果")
    expect(result.locator(".stat", has_text="项需求已派发")).to_contain_text("2")
    expect(result.locator("ul.short")).to_contain_text(f"#{short.pk}")
    expect(result.locator("ul.short")).to_contain_text("可达范围内没有志愿者具备所需的技能或资质。")
    page.screenshot(path="var/e2e-matching-filled.png", full_page=True)

    for need in (nursing, errand):
        need.refresh_from_db()
        assert need.state == NeedState.DISPATCHED
    assert NeedAssignment.objects.get(need=nursing).volunteer_id == best.pk
    assert NeedAssignment.objects.filter(state=AssignmentState.OFFERED).count() == 2
    short.refresh_from_db()
    assert short.state == NeedState.SUBMITTED
