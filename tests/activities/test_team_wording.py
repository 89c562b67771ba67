"""A team's group sign-up result speaks about the members, by name, to the organiser who
signed them up: who has a seat, who waits, who was refused and why — never "you", as if the
organiser had been refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tests.activities.fixtures import first_shift, new_volunteer
from tests.factories import make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services
from zhiyuan.organizations.models import MemberRole, Membership

pytestmark = pytest.mark.django_db


def test_each_member_is_named_with_what_happened_in_chinese(
    client: Client, make_activity, org, organiser, community, district
) -> None:
    shift = first_shift(make_activity(capacity=1, title="社区环境清洁", no_minors=True))
    seated = new_volunteer(community)
    waiting = new_volunteer(community)
    already = new_volunteer(community)
    child = new_volunteer(community, birth="20150101")
    barred = new_volunteer(community)
    for person in (seated, waiting, already, child, barred):
        Membership.objects.create(organization=org, user=person, role=MemberRole.MEMBER)
    services.signup_create(shift=shift, volunteer=already)  # takes the only seat
    from zhiyuan.safeguards.services import sanction_impose

    sanction = sanction_impose(
        party=barred,
        kind="suspension",
        reason="多次无故缺席",
        ends_at=timezone.now() + dt.timedelta(days=30),
        actor=make_user(Role.REGION_ADMIN, region=district),
    )
    client.force_login(organiser)
    done = client.post(
        f"/activities/teams/shifts/{shift.pk}/",
        {"team": org.pk, "volunteers": [p.pk for p in (seated, waiting, already, child, barred)]},
    )
    text = done.content.decode()
    results = text[text.index('id="group-summary"') :]
    assert f"{seated.name} 已进入候补名单：本班次已满。" in results
    assert f"{waiting.name} 已进入候补名单：本班次已满。" in results
    assert f"{already.name} 未能报名。" in results and f"{already.name} 已报名本班次。" in results
    assert f"{child.name} 在 2026-03-04 时为 11 周岁；本活动仅限 18 周岁及以上的志愿者。" in results
    assert f"{barred.name} 的志愿服务被暂停至" in results
    assert f"（处理决定第{sanction.pk}号）" in results
    # The sanction's reason is the member's business, not the team organiser's.
    assert "多次无故缺席" not in results
    assert "已报名 0 人，候补 2 人，未能报名 3 人。" in results
    # Nothing addresses the organiser as the one refused.
    assert "您" not in results[: results.index("\n  </ul>")]


def test_the_api_tells_the_team_admin_about_each_member_by_name(
    client: Client, make_activity, org, organiser, community
) -> None:
    shift = first_shift(make_activity(capacity=1, title="社区环境清洁", no_minors=True))
    seated = new_volunteer(community)
    child = new_volunteer(community, birth="20150101")
    for person in (seated, child):
        Membership.objects.create(organization=org, user=person, role=MemberRole.MEMBER)
    done = client.post(
        f"/api/v1/activities/shifts/{shift.pk}/group-signups",
        json.dumps({"team": org.pk, "volunteers": [seated.pk, child.pk]}),
        content_type="application/json",
        **bearer(organiser),
    )
    assert done.status_code == 200
    by_person = {r["volunteer"]: r for r in done.json()}
    assert by_person[seated.pk]["status"] == "confirmed"
    assert seated.name in by_person[seated.pk]["message"]
    refused = by_person[child.pk]
    assert refused["status"] is None
    assert refused["message"] == f"{child.name} 未能报名。"
    reasons = {r["code"]: r["message"] for r in refused["reasons"]}
    assert reasons["age"].startswith(f"{child.name} 在 ")
    assert reasons["age"].endswith("本活动仅限 18 周岁及以上的志愿者。")
    assert "您" not in done.content.decode()
