"""The time-bank need form offers only the people the member may spend credit for (the
region's withdrawal age), names the others with the reason, and tells a member who may spend
for nobody why, instead of showing a form that can only be refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import make_user
from tests.needs.conftest import minutes_of
from zhiyuan.accounts.roles import Role
from zhiyuan.needs.models import NeedTimeBank

pytestmark = pytest.mark.django_db
PAGE = "/needs/timebank/new/"


def test_the_form_offers_only_the_relative_of_age(world, bank) -> None:
    client = Client()
    client.force_login(bank.member)
    page = client.get(PAGE)
    text = page.content.decode()
    field = page.context["form"].fields["timebank_for"]
    assert list(field.choices) == [(str(bank.mother.pk), "父母 王秀兰")]
    select = text[text.index('name="timebank_for"') :]
    select = select[: select.index("</select>")]
    assert f'value="{bank.mother.pk}"' in select
    assert 'value="self"' not in select and f'value="{bank.cousin.pk}"' not in select
    barred = text[text.index('id="timebank-barred"') :]
    assert "我自己：尚未登记您的出生日期" in barred and "其他亲属 李四：未满 60 周岁" in barred
    with translation.override("en"):
        english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Not offered for now:" in english and "李四: Under 60" in english


def test_a_member_who_may_spend_for_nobody_sees_why_and_no_form(world) -> None:
    member = make_user(Role.VOLUNTEER, region=world.community, name="赵年轻")
    client = Client()
    client.force_login(member)
    text = client.get(PAGE).content.decode()
    assert "您目前还不能为任何人支出时间。" in text and "我自己：尚未登记您的出生日期" in text
    assert 'name="description"' not in text and 'name="timebank_minutes"' not in text
    # Posting anyway is refused beside "for whom", with the reason; nothing is held.
    refused = client.post(
        PAGE,
        {
            "community": world.community.code,
            "category": world.category.pk,
            "description": "请人帮忙",
            "urgency": "routine",
            "address": "某地",
            "use_my_phone": "on",
            "people_needed": 1,
            "timebank_minutes": 60,
            "timebank_for": "self",
        },
    )
    assert refused.status_code == 200 and not NeedTimeBank.objects.exists()
    assert "尚未登记您的出生日期" in " ".join(refused.context["form"].errors["timebank_for"])
    assert minutes_of(member) == 0
