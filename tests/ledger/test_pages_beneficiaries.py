"""For whom time credit may be spent, on the time-bank page: only the people the region's
withdrawal age allows are offered; the others are named with the reason; a member who may
spend for nobody is told why instead of being shown an empty form. The page also says how the
form relates to posting a need paid with credit."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from tests.activities.fixtures import give_identity
from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, Withdrawal

pytestmark = pytest.mark.django_db

PAGE = "/ledger/timebank/"


def withdraw(client: Client, beneficiary: str, minutes: int = 30):
    return client.post(
        PAGE,
        {
            "action": "withdraw",
            "key": new_key(),
            "beneficiary": beneficiary,
            "minutes": minutes,
            "note": "理发",
        },
    )


def test_only_those_old_enough_are_offered_and_the_others_are_named_with_why(
    client: Client, volunteer, community, family
) -> None:
    give_minutes(volunteer, community, 120)
    client.force_login(volunteer)
    page = client.get(PAGE)
    text = page.content.decode()
    mother, cousin = family["mother"], family["cousin"]
    # The member has no birth date on record and the cousin is 36: only the mother is offered.
    field = page.context["withdrawal_form"].fields["beneficiary"]
    assert list(field.choices) == [(str(mother.pk), "父母 王秀兰")]
    assert '<option value="self"' not in text and f'<option value="{cousin.pk}"' not in text
    barred = text[text.index('id="timebank-barred"') :]
    assert "我自己：尚未登记您的出生日期" in barred
    assert "其他亲属 李四：未满 60 周岁" in barred
    # Spending for the mother works from the page.
    assert withdraw(client, str(mother.pk)).status_code == 302
    assert (
        Withdrawal.objects.get().relative == mother and balance(volunteer, Asset.TIME_MINUTES) == 90
    )


def test_someone_not_offered_and_sent_anyway_is_refused_with_the_reason(
    client: Client, volunteer, community, family
) -> None:
    give_minutes(volunteer, community, 120)
    client.force_login(volunteer)
    for beneficiary, reason in (
        ("self", "尚未登记您的出生日期"),
        (str(family["cousin"].pk), "未满 60 周岁"),
    ):
        refused = withdraw(client, beneficiary)
        assert refused.status_code == 200
        errors = refused.context["withdrawal_form"].errors["beneficiary"]
        assert reason in " ".join(errors)
    assert not Withdrawal.objects.exists() and balance(volunteer, Asset.TIME_MINUTES) == 120


def test_a_member_who_may_spend_for_nobody_is_told_why_instead_of_a_form(
    client: Client, volunteer, community
) -> None:
    client.force_login(volunteer)
    text = client.get(PAGE).content.decode()
    assert "您目前还不能为任何人支出时间。" in text
    assert "我自己：尚未登记您的出生日期" in text
    assert 'value="withdraw"' not in text and 'href="/needs/timebank/new/"' not in text
    with translation.override("en"):
        english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You cannot spend credit for anyone yet." in english
    assert "Myself: Your birth date is not on record yet" in english


def test_a_member_of_age_may_spend_for_themself_and_the_page_points_to_needs(
    client: Client, community, admin
) -> None:
    elder = make_user(Role.VOLUNTEER, region=community)
    give_identity(elder, "19580301")
    client.force_login(elder)
    page = client.get(PAGE)
    text = page.content.decode()
    assert list(page.context["withdrawal_form"].fields["beneficiary"].choices) == [
        ("self", "我自己")
    ]
    assert 'id="timebank-barred"' not in text
    # Posting a need is the way to have a volunteer found; the form is the by-hand case.
    assert text.index('href="/needs/timebank/new/"') < text.index('id="withdraw-by-hand"')
    assert "平台不会为此寻找志愿者" in text


def test_a_region_without_an_age_rule_offers_everyone(
    client: Client, volunteer, community, district, family, admin
) -> None:
    services.timebank_policy_set(
        region=district, cap_minutes=60_000, min_withdraw_age=0, priced_items=False, actor=admin
    )
    client.force_login(volunteer)
    field = client.get(PAGE).context["withdrawal_form"].fields["beneficiary"]
    assert {value for value, _label in field.choices} == {
        "self",
        str(family["mother"].pk),
        str(family["cousin"].pk),
    }
