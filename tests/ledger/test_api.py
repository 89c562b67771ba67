"""The ledger and store API: idempotent writes, each refusal with its own code, outsiders
refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import RULES, balance, give_minutes, give_points
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import token_create
from zhiyuan.ledger.models import Asset
from zhiyuan.store.models import Voucher

pytestmark = pytest.mark.django_db

API = "/api/v1"


def post(client, url, data, **extra):
    return client.post(API + url, data, content_type="application/json", **extra)


MEMBER_GETS = ["/ledger/balances", "/ledger/history", "/ledger/statement", "/ledger/relatives"]
VOLUNTEER_GETS = ["/store/rewards", "/store/vouchers"]
ADMIN_GETS = ["/ledger/rules", "/ledger/report?start=2026-01-01&end=2027-01-01"]


def test_outsiders_are_refused_everywhere(client, district, merchant_org) -> None:
    org_admin = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    client.force_login(org_admin)
    for url in MEMBER_GETS + VOLUNTEER_GETS + ADMIN_GETS + ["/store/merchant/vouchers/ABCDEFGH"]:
        assert client.get(API + url).status_code == 403, url
    for url, body in [
        (
            "/ledger/timebank/transfers",
            {"relative_id": 1, "minutes": 1, "idempotency_key": "k" * 8},
        ),
        ("/ledger/timebank/donations", {"minutes": 1, "idempotency_key": "k" * 8}),
        ("/ledger/timebank/withdrawals", {"minutes": 1, "note": "x", "idempotency_key": "k" * 8}),
        ("/ledger/rules", {"params": {}, "effective_from": "2026-01-01T00:00:00Z"}),
        (
            "/ledger/fund/seed",
            {"elder_id": 1, "minutes": 1, "decision": "x", "idempotency_key": "k" * 8},
        ),
        ("/store/redemptions", {"reward_id": 1, "idempotency_key": "k" * 8}),
        ("/store/merchant/vouchers/ABCDEFGH/use", {}),
    ]:
        response = post(client, url, body)
        assert response.status_code == 403, url
        assert response.json()["code"] == "forbidden"
    client.logout()
    assert client.get(API + "/ledger/balances").status_code == 401


def test_balances_with_a_bearer_token(client, volunteer, district) -> None:
    give_points(volunteer, district, 12)
    _token, key = token_create(user=volunteer, name="app")
    response = client.get(API + "/ledger/balances", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.json() == {"points": 12, "time_minutes": 0}
    before = client.get(
        API + "/ledger/balances?at=2020-01-01T00:00:00Z", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert before.json() == {"points": 0, "time_minutes": 0}


def test_redeem_twice_with_one_key_gives_one_voucher(client, volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    body = {"reward_id": reward.pk, "idempotency_key": "app-redeem-0001"}
    first, second = (
        post(client, "/store/redemptions", body),
        post(client, "/store/redemptions", body),
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"]
    assert first.json()["points_left"] == 70
    assert Voucher.objects.count() == 1 and balance(volunteer) == 70
    changed = post(client, "/store/redemptions", {**body, "reward_id": reward.pk + 1000})
    assert changed.status_code == 404  # no such reward
    other = reward.__class__.objects.create(
        organization=reward.organization, name="油", kind="goods", price_points=5, stock=9
    )
    conflict = post(client, "/store/redemptions", {**body, "reward_id": other.pk})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_conflict"


def test_each_refusal_has_its_own_code(client, volunteer, community, family, reward) -> None:
    give_minutes(volunteer, community, 10)
    client.force_login(volunteer)
    codes = {}
    for name, url, body in [
        (
            "overdraw",
            "/ledger/timebank/transfers",
            {"relative_id": family["mother"].pk, "minutes": 11, "idempotency_key": "app-t-0001"},
        ),
        (
            "zero",
            "/ledger/timebank/transfers",
            {"relative_id": family["mother"].pk, "minutes": 0, "idempotency_key": "app-t-0002"},
        ),
        (
            "not direct",
            "/ledger/timebank/transfers",
            {"relative_id": family["cousin"].pk, "minutes": 1, "idempotency_key": "app-t-0003"},
        ),
        ("points", "/store/redemptions", {"reward_id": reward.pk, "idempotency_key": "app-r-0001"}),
        (
            "age",
            "/ledger/timebank/withdrawals",
            {"minutes": 5, "note": "助浴", "idempotency_key": "app-w-0001"},
        ),
    ]:
        response = post(client, url, body)
        codes[name] = (response.status_code, response.json()["code"])
        assert response.json()["message"]
    assert codes == {
        "overdraw": (409, "insufficient_balance"),
        "zero": (422, "invalid_amount"),
        "not direct": (403, "not_a_direct_relative"),
        "points": (409, "insufficient_balance"),
        "age": (422, "birth_date_unknown"),
    }
    reward.refresh_from_db()
    assert reward.stock == 5 and balance(volunteer, Asset.TIME_MINUTES) == 10
    ok = post(
        client,
        "/ledger/timebank/transfers",
        {"relative_id": family["mother"].pk, "minutes": 4, "idempotency_key": "app-t-0004"},
    )
    assert ok.status_code == 201 and ok.json()["balance"] == 6


def test_another_members_relative_is_not_found(client, community, family) -> None:
    stranger = make_user(Role.VOLUNTEER, region=community)
    client.force_login(stranger)
    response = post(
        client,
        "/ledger/timebank/transfers",
        {"relative_id": family["mother"].pk, "minutes": 1, "idempotency_key": "app-t-0009"},
    )
    assert response.status_code == 404


def test_merchant_checks_and_uses_a_voucher_once(client, volunteer, district, reward, merchant):
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    code = post(
        client, "/store/redemptions", {"reward_id": reward.pk, "idempotency_key": "app-r-0002"}
    ).json()["code"]
    client.force_login(merchant)
    assert client.get(f"{API}/store/merchant/vouchers/{code}").json()["status"] == "issued"
    assert post(client, f"/store/merchant/vouchers/{code}/use", {}).json()["status"] == "used"
    again = post(client, f"/store/merchant/vouchers/{code}/use", {})
    assert (again.status_code, again.json()["code"]) == (409, "voucher_used")
    other = make_user(
        Role.MERCHANT, organization=OrganizationFactory(region=district, kind="merchant")
    )
    client.force_login(other)
    assert client.get(f"{API}/store/merchant/vouchers/{code}").status_code == 404


def test_admin_publishes_rules_and_reads_the_report(client, admin) -> None:
    client.force_login(admin)
    response = post(
        client, "/ledger/rules", {"params": RULES, "effective_from": "2026-01-01T00:00:00+08:00"}
    )
    assert response.status_code == 201 and response.json()["version"] == 1
    bad = post(
        client, "/ledger/rules", {"params": {"nonsense": 1}, "effective_from": "2026-01-01T00:00Z"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_rules")
    assert client.get(API + ADMIN_GETS[1]).json() == []


def test_lists_do_not_grow_queries_with_their_length(client, volunteer, community, family) -> None:
    give_minutes(volunteer, community, 100)
    client.force_login(volunteer)
    counts = []
    for n in (1, 20):
        for i in range(n):
            post(
                client,
                "/ledger/timebank/transfers",
                {
                    "relative_id": family["mother"].pk,
                    "minutes": 1,
                    "idempotency_key": f"q-{n}-{i:05d}",
                },
            )
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get(API + "/ledger/history?limit=50").json()) >= n
        counts.append(len(queries))
    assert counts[0] == counts[1]
