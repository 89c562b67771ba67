"""In a real browser, on phones: an organiser publishes an activity; a volunteer signs up,
checks in by scanning the rotating code shown on the organiser's phone, and checks out; the
organiser confirms the record; the volunteer downloads the certificate, and its public
verification page shows it.

The test reads the code from the organiser's page and opens the link a phone camera would open
after scanning it. The live server runs in this process, so moving the clock (time_machine)
moves the server's clock too: the volunteer serves 25 minutes in a few seconds.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from tests.activities.fixtures import give_identity
from tests.factories import PASSWORD, OrganizationFactory, district_tree, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.activities.models import Activity, Shift
from zhiyuan.organizations.models import MemberRole, Membership
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.records.models import Certificate, RecordStatus, ServiceRecord
from zhiyuan.regions.models import Region
from zhiyuan.safeguards.models import ActivityType, CoverBasis
from zhiyuan.safeguards.services import insurance_policy_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def phone(browser: Browser) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", accept_downloads=True
    )
    return context.new_page()


def log_in(page: Page, base: str, number: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("手机号码").fill(number)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def current_code(page: Page, base: str, shift: Shift) -> str:
    page.goto(f"{base}/activities/manage/shifts/{shift.pk}/qr/")
    expect(page.locator("figure.qr svg")).to_be_visible()
    return page.get_by_test_id("checkin-code").inner_text().strip()


def setup_people() -> dict[str, Any]:
    district = district_tree()
    community = Region.objects.filter(level=5).order_by("code").first()
    org = OrganizationFactory(region=district, name="东城区助老志愿者协会")
    organiser = make_user(Role.ORG_ADMIN, organization=org, name="张丽", phone="13911110001")
    Membership.objects.create(organization=org, user=organiser, role=MemberRole.ADMIN)
    volunteer = make_user(Role.VOLUNTEER, region=community, name="李志强", phone="13911110002")
    VolunteerProfile.objects.create(
        user=volunteer, volunteer_number=new_volunteer_number(), region=community
    )
    give_identity(volunteer, "19880808")
    today = timezone.localdate()
    insurance_policy_create(
        organization=org,
        insurer="中国人寿",
        policy_number="E2E-1",
        starts_on=today - dt.timedelta(days=1),
        ends_on=today + dt.timedelta(days=30),
        cover_death=Decimal(500000),
        cover_disability=Decimal(500000),
        cover_medical=Decimal(50000),
        basis=CoverBasis.PARTICIPANTS,
        activity_types=[t.value for t in ActivityType],
        actor=organiser,
    )
    return {"org": org, "community": community, "organiser": organiser, "volunteer": volunteer}


def test_publish_sign_up_scan_confirm_and_certify(live_server: Any, browser: Browser) -> None:
    base = live_server.url
    people = setup_people()
    with time_machine.travel(timezone.now(), tick=True) as clock:
        start = timezone.localtime() + dt.timedelta(minutes=30)
        start = start.replace(second=0, microsecond=0)

        # The organiser publishes an activity from their phone.
        organiser = phone(browser)
        log_in(organiser, base, "13911110001")
        organiser.goto(f"{base}/activities/manage/new/")
        organiser.get_by_label("组织", exact=True).select_option(label="东城区助老志愿者协会")
        organiser.get_by_label("标题", exact=True).fill("社区图书角整理")
        organiser.get_by_label("地点（社区）").select_option(label=people["community"].name)
        organiser.get_by_label("地点", exact=True).fill("社区图书角")
        organiser.get_by_label("纬度").fill("39.9289")
        organiser.get_by_label("经度").fill("116.4160")
        organiser.get_by_label("开始时间", exact=True).fill(start.strftime("%Y-%m-%dT%H:%M"))
        organiser.get_by_label("结束时间", exact=True).fill(
            (start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        )
        organiser.get_by_label("名额", exact=True).fill("5")
        organiser.get_by_role("button", name="保存为草稿").click()
        expect(organiser.get_by_role("status")).to_contain_text("已保存为草稿")
        organiser.get_by_role("button", name="发布").click()
        expect(organiser.get_by_role("status")).to_contain_text("已发布")
        activity = Activity.objects.get(title="社区图书角整理")
        shift = Shift.objects.get(activity=activity)

        # The volunteer signs up on their phone.
        volunteer = phone(browser)
        log_in(volunteer, base, "13911110002")
        volunteer.goto(f"{base}/activities/")
        volunteer.get_by_role("link", name="社区图书角整理").click()
        volunteer.get_by_role("button", name="报名").click()
        expect(volunteer.get_by_role("status")).to_contain_text("报名成功")

        # Check in: scan the code on the organiser's phone (open the link it encodes).
        code = current_code(organiser, base, shift)
        assert code.startswith("zq1.")
        volunteer.goto(f"{base}/activities/scan/?c={code}")
        expect(volunteer.get_by_text("社区图书角整理")).to_be_visible()
        volunteer.get_by_role("button", name="立即签到").click()
        expect(volunteer.get_by_role("status")).to_contain_text("签到")

        # 25 minutes of service later (sessions end after 30 idle minutes), check out.
        clock.shift(dt.timedelta(minutes=25))
        later = current_code(organiser, base, shift)
        assert later != code
        volunteer.goto(f"{base}/activities/scan/?c={later}")
        volunteer.get_by_role("button", name="立即签退").click()
        expect(volunteer.get_by_role("status")).to_contain_text("签退")
        record = ServiceRecord.objects.get(volunteer=people["volunteer"])
        assert record.status == RecordStatus.PENDING and 24 <= record.minutes <= 26

        # The organiser confirms it from the queue.
        organiser.goto(f"{base}/records/queue/")
        expect(organiser.locator(f"[data-record='{record.pk}']")).to_contain_text("李志强")
        organiser.locator(f"[data-record='{record.pk}']").get_by_role(
            "button", name="确认", exact=True
        ).click()
        expect(organiser.get_by_role("status")).to_contain_text("已确认")
        record.refresh_from_db()
        assert record.status == RecordStatus.CONFIRMED

        # The volunteer asks for a certificate and downloads it.
        volunteer.goto(f"{base}/records/mine/")
        volunteer.get_by_label("组织", exact=True).select_option(label="东城区助老志愿者协会")
        volunteer.get_by_role("button", name="开具证明").click()
        expect(volunteer.get_by_role("status")).to_contain_text("已可下载")
        certificate = Certificate.objects.get(volunteer=people["volunteer"])
        with volunteer.expect_download() as download:
            volunteer.get_by_role("link", name=certificate.number).click()
        path = Path(download.value.path())
        assert path.read_bytes().startswith(b"%PDF")

        # Anyone holding the code sees the certificate, masked, and that it stands.
        visitor = phone(browser)
        visitor.goto(f"{base}/records/verify/")
        visitor.get_by_label("核验码").fill(certificate.short_code)
        visitor.get_by_role("button", name="查验证明").click()
        expect(visitor.get_by_role("status")).to_contain_text("此证明真实有效")
        expect(visitor.locator("dl.facts")).to_contain_text(certificate.number)
        expect(visitor.locator("dl.facts")).to_contain_text("李**")
        expect(visitor.locator("dl.facts")).not_to_contain_text("李志强")
        Path("var").mkdir(exist_ok=True)
        visitor.screenshot(path="var/e2e-certificate-verify.png")
        organiser.goto(f"{base}/activities/manage/shifts/{shift.pk}/qr/")
        organiser.screenshot(path="var/e2e-checkin-code.png")

        # The organisation revokes it; the public check then says it no longer stands and
        # why, in plain words, without the organiser's note.
        organiser.goto(f"{base}/records/certificates/issued/")
        issued = organiser.locator(f"[data-certificate='{certificate.pk}']")
        # The issuer sees the check code the volunteer's document carries.
        expect(issued.locator(".check-code")).to_have_text(certificate.short_code)
        issued.get_by_role("link", name="撤销").click()
        organiser.get_by_label("撤销原因（公开核验页显示）").select_option(value="issued_in_error")
        organiser.get_by_label("给志愿者和本组织的说明").fill("日期填错，另行开具")
        organiser.get_by_role("button", name="撤销该证明").click()
        expect(organiser.get_by_role("status")).to_contain_text("已撤销")
        visitor.reload()
        expect(visitor.get_by_role("status")).to_contain_text("此证明已失效")
        expect(visitor.get_by_role("status")).to_contain_text("该证明系误开")
        expect(visitor.locator("main")).not_to_contain_text("日期填错")
        visitor.screenshot(path="var/e2e-certificate-revoked.png")
