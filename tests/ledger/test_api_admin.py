"""The region administrator's ledger API beyond rules and reports: priced service items, the
time-bank settings and funds, elders, relatives; and a member's price list and withdrawals."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.ledger.conftest import give_minutes
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Elder, Relative, TimeBankItem, TimeBankPolicy, Withdrawal

pytestmark = pytest.mark.django_db

API = "/api/v1/ledger"


def send(client, method, url, data=None):
    return getattr(client, method)(API + url, data or {}, content_type="application/json")


ADMIN_WRITES = [
    ("put", "/items/haircut", {"name": "理发", "minutes": 30}),
    ("put", "/policy", {"cap_minutes": 600, "min_withdraw_age": 60}),
    ("post", "/elders", {"phone": "13800000000", "birth_date": "1940-01-01", "reason": "alone"}),
    (
        "post",
        "/members/relatives",
        {
            "member_phone": "13800000000",
            "relation": "parent",
            "name": "王",
            "birth_date": "1950-01-01",
        },
    ),
]


def test_outsiders_are_refused(client, district, community) -> None:
    for outsider in (
        make_user(Role.VOLUNTEER, region=community),
        make_user(Role.DISPATCHER, region=district),
        make_user(Role.SYSTEM_ADMIN),
    ):
        client.force_login(outsider)
        for url in ("/items", "/fund", "/elders"):
            assert client.get(API + url).status_code == 403, url
        for method, url, body in ADMIN_WRITES:
            response = send(client, method, url, body)
            assert response.status_code == 403, url
            assert response.json()["code"] == "forbidden"
    client.force_login(make_user(Role.DISPATCHER, region=district))
    for url in ("/timebank/items", "/timebank/withdrawals"):
        assert client.get(API + url).status_code == 403
    assert send(client, "post", "/timebank/withdrawals/1/cancel").status_code == 403
    client.logout()
    assert client.get(API + "/items").status_code == 401
    assert not TimeBankItem.objects.exists() and not TimeBankPolicy.objects.exists()


def test_admin_prices_items_and_members_read_the_price_list(
    client, admin, district, volunteer, other_district
) -> None:
    client.force_login(admin)
    saved = send(client, "put", "/items/haircut", {"name": "上门理发", "minutes": 30})
    assert saved.status_code == 200
    assert saved.json() | {"id": 0} == {
        "id": 0,
        "code": "haircut",
        "name": "上门理发",
        "minutes": 30,
        "region": district.pk,
    }
    again = send(client, "put", "/items/haircut", {"name": "上门理发", "minutes": 45})
    assert again.json()["id"] == saved.json()["id"] and again.json()["minutes"] == 45
    assert send(client, "put", "/items/Bad Code", {"name": "x", "minutes": 1}).json()["code"] == (
        "invalid_code"
    )
    zero = send(client, "put", "/items/bath", {"name": "助浴", "minutes": 0})
    assert zero.status_code == 422 and zero.json()["code"] == "invalid_amount"
    far_admin = make_user(Role.REGION_ADMIN, region=other_district)
    services.timebank_item_save(
        region=other_district, code="walk", name="散步", minutes=60, actor=far_admin
    )
    assert [i["code"] for i in client.get(API + "/items").json()] == ["haircut"]

    policy = send(
        client,
        "put",
        "/policy",
        {"cap_minutes": 60_000, "min_withdraw_age": 65, "priced_items": True},
    )
    assert policy.json() == {
        "region": district.pk,
        "cap_minutes": 60_000,
        "min_withdraw_age": 65,
        "priced_items": True,
    }
    bad = send(client, "put", "/policy", {"cap_minutes": 0, "min_withdraw_age": 65})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_policy"
    state = client.get(API + "/fund").json()
    assert state["policy"]["min_withdraw_age"] == 65 and state["funds"] == []

    client.force_login(volunteer)
    prices = client.get(API + "/timebank/items").json()
    assert prices["priced_items"] is True
    assert [(i["code"], i["minutes"]) for i in prices["items"]] == [("haircut", 45)]


def test_admin_registers_elders_and_relatives_of_their_region(
    client, admin, community, volunteer
) -> None:
    elder_user = make_user(Role.RESIDENT, region=community, phone="13700000001")
    mother = make_user(Role.RESIDENT, region=community, phone="13700000002")
    client.force_login(admin)
    elder = send(
        client,
        "post",
        "/elders",
        {"phone": "13700000001", "birth_date": "1938-09-03", "reason": "alone"},
    )
    assert elder.status_code == 201, elder.content
    assert Elder.objects.get(pk=elder.json()["id"]).user == elder_user
    assert [e["id"] for e in client.get(API + "/elders").json()] == [elder.json()["id"]]

    relative = send(
        client,
        "post",
        "/members/relatives",
        {
            "member_phone": volunteer.phone,
            "relation": "parent",
            "name": "王秀兰",
            "birth_date": "1955-05-01",
            "relative_phone": "13700000002",
        },
    )
    assert relative.status_code == 201, relative.content
    assert relative.json()["direct"] is True and relative.json()["has_account"] is True
    made = Relative.objects.get(pk=relative.json()["id"])
    assert (made.member, made.account_user) == (volunteer, mother)
    assert AuditEvent.objects.filter(action="ledger.relative_added").count() == 1


def test_member_lists_and_cancels_their_withdrawals(client, volunteer, community) -> None:
    policy_admin = make_user(Role.REGION_ADMIN, region=community)
    services.timebank_policy_set(
        region=community,
        cap_minutes=90_000,
        min_withdraw_age=0,
        priced_items=False,
        actor=policy_admin,
    )
    give_minutes(volunteer, community, 120)
    client.force_login(volunteer)
    made = send(
        client,
        "post",
        "/timebank/withdrawals",
        {"minutes": 60, "note": "陪同就医", "idempotency_key": "withdraw-0001"},
    )
    assert made.status_code == 201, made.content
    wid = made.json()["id"]
    assert [w["id"] for w in client.get(API + "/timebank/withdrawals").json()] == [wid]

    other = make_user(Role.VOLUNTEER, region=community)
    client.force_login(other)
    assert client.get(API + "/timebank/withdrawals").json() == []
    assert send(client, "post", f"/timebank/withdrawals/{wid}/cancel").status_code == 404
    assert Withdrawal.objects.get(pk=wid).status == "requested"

    client.force_login(volunteer)
    cancelled = send(client, "post", f"/timebank/withdrawals/{wid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(API + "/balances").json()["time_minutes"] == 120
