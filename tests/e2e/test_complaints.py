"""In a real browser: a member of the public reports an organisation on a phone, a region admin
handles the case and suspends the organisation, the public sanctions page shows it, and the
reporter follows the case with the code — never logging in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from tests.factories import PASSWORD, make_user
from tests.organizations.helpers import org_with_admin
from zhiyuan.accounts.roles import Role
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.safeguards.models import Case, Sanction

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADMIN_PHONE = "13900000105"


def test_report_handle_suspend_publish_follow(
    live_server, phone_page: Page, page: Page, browser: Browser, district
) -> None:
    org, _ = org_with_admin(district, name="阳光助老服务队")
    make_user(Role.REGION_ADMIN, region=district, phone=ADMIN_PHONE, name="陈静")

    # 1. A member of the public reports the organisation on a phone, without an account.
    public = phone_page
    public.goto(f"{live_server.url}/safeguards/report/")
    expect(public.get_by_role("heading", name="投诉举报")).to_be_visible()
    public.get_by_role("radio", name="向服务对象收费").check()
    public.get_by_role("radio", name="组织", exact=True).check()
    public.get_by_role("combobox", name="组织").select_option(label="阳光助老服务队")
    public.get_by_label("情况描述").fill("上门理发时每位老人收取10元“材料费”，说不交就不来了。")
    public.get_by_label("收取金额（元）").fill("10")
    public.get_by_label("联系方式（选填）").fill("13700009999")
    public.screenshot(path="var/e2e-complaint-report.png", full_page=True)
    public.get_by_role("button", name="提交").click()
    expect(public.get_by_role("heading", name="反映已受理")).to_be_visible()
    code = public.locator("#follow-code").inner_text().strip()
    assert len(code) == 19
    case = Case.objects.get()
    expect(public.get_by_text(case.reference)).to_be_visible()

    # 2. The region admin logs in at a desktop browser (in English, as its language says),
    #    opens the case, decides it and suspends the organisation.
    admin = page
    admin.goto(f"{live_server.url}/accounts/login/")
    admin.get_by_label("Mobile number").fill(ADMIN_PHONE)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_role("link", name="Complaints and reports").click()
    admin.get_by_role("link", name=case.reference).click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text(case.reference)
    # The reporter's contact is masked until asked for (and that is logged).
    expect(admin.get_by_text("13700009999")).to_have_count(0)
    # The penalty rule of Arts. 21 and 37, with the fine range worked out (1-5 x 10 yuan).
    expect(admin.get_by_text("may fine 10.00 to 50.00 yuan")).to_be_visible()
    admin.get_by_role("button", name="Start the investigation").click()
    expect(admin.get_by_text("The investigation is open.")).to_be_visible()
    admin.get_by_label("Outcome").select_option(label="Substantiated")
    admin.get_by_label("What the reporter is told").fill(
        "经核实收费属实，已责令全部退还并暂停该组织活动。"
    )
    admin.get_by_role("button", name="Decide the case").click()
    expect(
        admin.get_by_text("The case is decided; the reporter can read the outcome.")
    ).to_be_visible()
    until = timezone.localtime() + timedelta(days=30)
    admin.get_by_label("Sanction", exact=True).select_option(label="Suspension")
    admin.get_by_label("Reason", exact=True).fill("向服务对象收取“材料费”")
    admin.get_by_label("Until", exact=True).fill(until.strftime("%Y-%m-%dT%H:%M"))
    admin.get_by_role("button", name="Impose the sanction").click()
    admin.screenshot(path="var/e2e-complaint-case.png", full_page=True)
    sanction = Sanction.objects.get()
    expect(admin.get_by_text(f"Suspension imposed (sanction no. {sanction.pk}).")).to_be_visible()
    org = Organization.objects.get(pk=org.pk)
    assert org.status == OrganizationStatus.SUSPENDED

    # 3. Anyone sees the suspension on the public sanctions page (a fresh, logged-out context).
    stranger_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    stranger = stranger_context.new_page()
    stranger.goto(f"{live_server.url}/safeguards/sanctions/")
    row = stranger.get_by_role("row").filter(has_text="阳光助老服务队")
    expect(row).to_contain_text("暂停")
    expect(row).to_contain_text("向服务对象收取“材料费”")
    expect(row).to_contain_text(until.strftime("%Y-%m-%d"))
    expect(stranger.get_by_text("陈静")).to_have_count(0)
    stranger_context.close()

    # 4. The reporter follows the case with the code, still without logging in.
    public.goto(f"{live_server.url}/safeguards/follow/")
    public.get_by_label("查询码").fill(code.lower())
    public.get_by_role("button", name="查看案件").click()
    expect(public.get_by_text("已办结")).to_be_visible()
    expect(
        public.get_by_text("经核实收费属实，已责令全部退还并暂停该组织活动。").first
    ).to_be_visible()
    expect(public.get_by_text("已作出处理决定：暂停。")).to_be_visible()
    # Nothing names the people involved.
    expect(public.get_by_text("陈静")).to_have_count(0)
    expect(public.get_by_text("13700009999")).to_have_count(0)
    public.screenshot(path="var/e2e-complaint-follow.png", full_page=True)
