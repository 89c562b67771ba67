"""Scope in the ledger API (reviewer findings): an administrator registers only their own
region's people; a member donates only to the eligible elders of their own district; an
administrator credits only their own region's elders. Out of scope answers 404 and changes
nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, Elder, ElderReason, Relative, Transaction

pytestmark = pytest.mark.django_db

API = "/api/v1/ledger"


def post(client, url, data):
    return client.post(API + url, data, content_type="application/json")


@pytest.fixture
def far_admin(other_district):
    return make_user(Role.REGION_ADMIN, region=other_district)


def elder_in(region, admin, name: str = "赵桂芳") -> Elder:
    person = make_user(Role.RESIDENT, region=region, name=name)
    return services.elder_register(
        user=person,
        region=region,
        birth_date=dt.date(1938, 9, 3),
        reason=ElderReason.ALONE,
        registered_by=admin,
    )


def test_relative_registration_refuses_accounts_of_another_region(
    client, admin, volunteer, other_district
) -> None:
    far = make_user(Role.RESIDENT, region=other_district)
    client.force_login(admin)
    body = {
        "member_phone": volunteer.phone,
        "relation": "parent",
        "name": "王秀兰",
        "birth_date": "1955-05-01",
        "relative_phone": far.phone,
    }
    response = post(client, "/members/relatives", body)
    assert response.status_code == 404 and response.json()["code"] == "relative_unknown"
    response = post(client, "/members/relatives", body | {"member_phone": far.phone})
    assert response.status_code == 404 and response.json()["code"] == "member_unknown"
    assert not Relative.objects.exists()


def test_elder_registration_refuses_accounts_of_another_region(
    client, admin, other_district
) -> None:
    far = make_user(Role.RESIDENT, region=other_district)
    client.force_login(admin)
    response = post(
        client, "/elders", {"phone": far.phone, "birth_date": "1938-09-03", "reason": "alone"}
    )
    assert response.status_code == 404 and response.json()["code"] == "person_unknown"
    assert not Elder.objects.exists()


def test_donation_to_an_elder_of_another_district_is_not_found(
    client, volunteer, community, admin, other_district, far_admin
) -> None:
    far_elder = elder_in(other_district, far_admin)
    near_elder = elder_in(community, admin, name="钱奶奶")
    give_minutes(volunteer, community, 100)
    before = Transaction.objects.count()
    client.force_login(volunteer)
    response = post(
        client,
        "/timebank/donations",
        {"minutes": 30, "elder_id": far_elder.pk, "idempotency_key": "donate-far-1"},
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert balance(volunteer, Asset.TIME_MINUTES) == 100
    assert balance(far_elder.user, Asset.TIME_MINUTES) == 0
    assert Transaction.objects.count() == before

    done = post(
        client,
        "/timebank/donations",
        {"minutes": 30, "elder_id": near_elder.pk, "idempotency_key": "donate-near-1"},
    )
    assert done.status_code == 201
    assert balance(near_elder.user, Asset.TIME_MINUTES) == 30


def test_donation_to_an_elder_no_longer_eligible_is_refused(
    client, volunteer, community, admin
) -> None:
    elder = elder_in(community, admin)
    Elder.objects.filter(pk=elder.pk).update(active=False)
    give_minutes(volunteer, community, 100)
    client.force_login(volunteer)
    response = post(
        client,
        "/timebank/donations",
        {"minutes": 30, "elder_id": elder.pk, "idempotency_key": "donate-old-1"},
    )
    assert response.status_code == 422 and response.json()["code"] == "not_eligible"
    assert balance(volunteer, Asset.TIME_MINUTES) == 100


def test_fund_seed_for_an_elder_of_another_region_is_not_found(
    client, admin, other_district, far_admin
) -> None:
    far_elder = elder_in(other_district, far_admin)
    client.force_login(admin)
    response = post(
        client,
        "/fund/seed",
        {
            "elder_id": far_elder.pk,
            "minutes": 60,
            "decision": "会议 1 号",
            "idempotency_key": "seed-far-1",
        },
    )
    assert response.status_code == 404
    assert balance(far_elder.user, Asset.TIME_MINUTES) == 0
