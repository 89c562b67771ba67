"""In a real browser, four people close the loop 群众点单—中心派单—志愿者接单—群众评单:
a resident posts a need from a phone, the centre's dispatcher dispatches it from a desk, a
volunteer accepts, serves and completes it on a phone, the resident rates it; the team's admin
confirms the service record and the volunteer's confirmed hours grow.

The live server runs in this process, so moving the clock (time_machine) moves the server's
clock too: the volunteer serves 20 minutes in a few seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from tests.factories import PASSWORD, OrganizationFactory, district_tree, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.needs.models import Need
from zhiyuan.needs.states import NeedState
from zhiyuan.organizations.models import MemberRole, Membership
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.records.selectors import hours_summary
from zhiyuan.regions.models import Region

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_as(browser: Browser, base: str, number: str, *, phone: bool) -> Page:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    page = browser.new_context(viewport=size, locale="zh-CN").new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("手机号码").fill(number)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return page


def setup_people() -> dict[str, Any]:
    district = district_tree()
    community = Region.objects.filter(level=5).order_by("code").first()
    team = OrganizationFactory(region=district, name="东城区助老服务队")
    admin = make_user(Role.ORG_ADMIN, organization=team, name="张丽", phone="13911120003")
    Membership.objects.create(organization=team, user=admin, role=MemberRole.ADMIN)
    volunteer = make_user(Role.VOLUNTEER, region=community, name="李志强", phone="13911120002")
    VolunteerProfile.objects.create(
        user=volunteer,
        volunteer_number=new_volunteer_number(),
        region=community,
        home_lat=39.925,
        home_lng=116.417,
        availability=(1 << 21) - 1,
    )
    Membership.objects.create(organization=team, user=volunteer)
    make_user(Role.RESIDENT, region=community, name="王秀兰", phone="13911120001")
    make_user(Role.DISPATCHER, region=district, name="刘洋", phone="13911120004")
    return {"community": community, "volunteer": volunteer}


def test_four_people_close_the_loop(live_server: Any, browser: Browser) -> None:
    base = live_server.url
    people = setup_people()
    with time_machine.travel(timezone.now(), tick=True) as clock:
        # 群众点单: the resident asks for help from a phone, in a few taps.
        resident = open_as(browser, base, "13911120001", phone=True)
        resident.get_by_role("link", name="发布需求").first.click()
        resident.get_by_label("需要哪类帮助？").select_option(label="代购代办")
        resident.get_by_label("需要什么服务").fill("腿脚不便，请帮忙买米和油送上六楼")
        resident.get_by_label("地址").fill("东四北大街107号2单元601")
        resident.get_by_role("button", name="发布我的需求").click()
        expect(resident.get_by_role("status").first).to_contain_text("服务中心")
        expect(resident.locator("#need-state")).to_have_text("已提交")
        need = Need.objects.get()
        Path("var").mkdir(exist_ok=True)
        resident.screenshot(path="var/e2e-need-posted.png", full_page=True)

        # 中心派单: the dispatcher finds it in the queue and offers it to the volunteer.
        dispatcher = open_as(browser, base, "13911120004", phone=False)
        dispatcher.goto(f"{base}/needs/queue/")
        dispatcher.get_by_role("link", name=re.compile(f"#{need.pk} ")).click()
        dispatcher.get_by_role("link", name="派单", exact=True).click()
        dispatcher.get_by_role("checkbox", name=re.compile("李志强")).check()
        dispatcher.get_by_role("button", name="派给勾选的志愿者").click()
        expect(dispatcher.get_by_text(f"需求 #{need.pk} 已派单。")).to_be_visible()

        # 志愿者接单: the volunteer sees the offer on a phone, accepts, serves and finishes.
        volunteer = open_as(browser, base, "13911120002", phone=True)
        volunteer.goto(f"{base}/needs/offers/")
        volunteer.get_by_role("link", name=re.compile(f"#{need.pk} ")).click()
        expect(volunteer.get_by_text("东四北大街107号2单元601")).to_have_count(0)  # not yet
        volunteer.get_by_role("button", name="接受").click()
        expect(volunteer.locator("#need-address")).to_have_text("东四北大街107号2单元601")
        volunteer.get_by_role("button", name="开始服务").click()
        expect(volunteer.locator("#need-state")).to_have_text("服务中")
        clock.shift(dt.timedelta(minutes=20))
        volunteer.get_by_label("完成情况").fill("米和油已送到六楼，老人很满意")
        volunteer.get_by_role("button", name="完成", exact=True).click()
        expect(volunteer.locator("#need-state")).to_have_text("已完成")
        expect(volunteer.get_by_text("东四北大街107号2单元601")).to_have_count(0)  # hidden again

        # 群众评单: the resident confirms and rates it.
        resident.goto(f"{base}/needs/{need.pk}/")
        expect(resident.get_by_role("status").first).to_contain_text("请确认并评价")
        resident.get_by_role("link", name="确认并评价").click()
        resident.get_by_label("5 — 非常满意").check()
        resident.get_by_label("热心耐心").check()
        resident.get_by_role("button", name="提交评价").click()
        expect(resident.locator("#need-state")).to_have_text("已评价")
        need.refresh_from_db()
        assert need.state == NeedState.RATED

        # Whoever organised records: the team's admin confirms the record; the hours grow.
        before = hours_summary(people["volunteer"]).confirmed_minutes
        admin = open_as(browser, base, "13911120003", phone=False)
        admin.goto(f"{base}/records/queue/")
        admin.get_by_role("button", name="确认", exact=True).first.click()
        volunteer.goto(f"{base}/records/mine/")
        after = hours_summary(people["volunteer"]).confirmed_minutes
        assert before == 0 and after == 20
        expect(volunteer.locator(".stat-value").first).to_have_text("0.33")
        volunteer.screenshot(path="var/e2e-need-hours.png", full_page=True)


def test_the_demo_accounts_run_the_loop(live_server: Any, browser: Browser) -> None:
    """On the demo district, with the demo log-ins a newcomer is given: the resident posts, the
    dispatcher finds the demo volunteer by name and offers the need, the volunteer accepts and
    finishes, the resident rates."""
    from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder

    DemoBuilder(seed=5, volunteers=30).build()

    def demo(number: str, *, phone: bool) -> Page:
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        page = browser.new_context(viewport=size, locale="zh-CN").new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("手机号码").fill(number)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page

    with time_machine.travel(timezone.now(), tick=True) as clock:
        resident = demo("13900000001", phone=True)
        expect(resident.get_by_role("heading", name="我要求助")).to_be_visible()  # on the home page
        resident.get_by_role("link", name="发布需求").first.click()
        resident.get_by_label("需要哪类帮助？").select_option(label="智能手机教学")
        resident.get_by_label("需要什么服务").fill("想学用手机视频通话")
        resident.get_by_label("地址").fill("东四北大街1号1单元101")
        resident.get_by_role("button", name="发布我的需求").click()
        need_url = resident.url

        dispatcher = demo("13900000004", phone=False)
        expect(dispatcher.get_by_text("待派单").first).to_be_visible()  # the living queue
        dispatcher.goto(need_url + "dispatch/")
        dispatcher.get_by_label("按编号或姓名查找志愿者").fill("李志强")
        dispatcher.get_by_role("button", name="查找").click()
        dispatcher.get_by_role("button", name="派给勾选的志愿者").click()
        expect(dispatcher.get_by_text("已派单").first).to_be_visible()

        volunteer = demo("13900000002", phone=True)
        volunteer.goto(need_url)
        volunteer.get_by_role("button", name="接受").click()
        volunteer.get_by_role("button", name="开始服务").click()
        clock.shift(dt.timedelta(minutes=15))
        volunteer.get_by_label("完成情况").fill("已教会视频通话")
        volunteer.get_by_role("button", name="完成", exact=True).click()
        expect(volunteer.locator("#need-state")).to_have_text("已完成")

        resident.goto(need_url + "rate/")
        resident.get_by_label("5 — 非常满意").check()
        resident.get_by_role("button", name="提交评价").click()
        expect(resident.locator("#need-state")).to_have_text("已评价")


def test_a_member_spends_time_credit_for_his_mother_from_a_phone(
    live_server: Any, browser: Browser
) -> None:
    """The time bank through the needs flow: the member posts for his registered mother, the
    credit is held; the mother cancels before service and the credit comes back."""
    from zhiyuan.ledger.models import Relation
    from zhiyuan.ledger.selectors import balances_of
    from zhiyuan.ledger.services import ledger_import_opening_balance, relative_register

    people = setup_people()
    volunteer = people["volunteer"]
    district = Region.objects.get(code=people["community"].code[:6] + "000000")
    admin = make_user(Role.REGION_ADMIN, region=district)
    ledger_import_opening_balance(
        user=volunteer, region=district, minutes=300, reference=f"paper-{volunteer.pk}"
    )
    mother = make_user(Role.RESIDENT, region=people["community"], phone="13911120005")
    relative_register(
        member=volunteer,
        relation=Relation.PARENT,
        name="王秀兰",
        birth_date=dt.date(1955, 3, 1),
        region=people["community"],
        registered_by=admin,
        account_user=mother,
    )
    member = open_as(browser, live_server.url, "13911120002", phone=True)
    member.get_by_role("link", name="用时间兑换服务").first.click()
    expect(member.locator("#timebank-balance")).to_contain_text("300")
    member.get_by_label("需要哪类帮助？").select_option(label="代购代办")
    member.get_by_label("需要什么服务").fill("妈妈腿脚不便，请帮忙买菜送上楼")
    member.get_by_label("地址").fill("东四北大街107号2单元601")
    member.get_by_label("支出的时间").select_option(label="120 分钟")
    member.get_by_label("为谁").select_option(label="父母 王秀兰")
    member.get_by_role("button", name="发布我的需求").click()
    expect(member.locator("#need-state")).to_have_text("已提交")
    expect(member.locator("#need-timebank")).to_contain_text("120")
    assert balances_of(volunteer)["time_minutes"] == 180
    need = Need.objects.get()
    assert need.beneficiary == mother
    member.screenshot(path="var/e2e-need-timebank.png", full_page=True)

    # The mother follows it from her own phone and cancels: the credit comes back.
    resident = open_as(browser, live_server.url, "13911120005", phone=True)
    resident.goto(f"{live_server.url}/needs/{need.pk}/")
    resident.get_by_text("取消这条需求").click()
    resident.get_by_role("button", name="取消需求").click()
    expect(resident.locator("#need-state")).to_have_text("已取消")
    member.reload()
    expect(member.locator("#need-timebank")).to_contain_text("时间已退回")
    assert balances_of(volunteer)["time_minutes"] == 300
