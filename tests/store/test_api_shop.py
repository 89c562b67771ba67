"""The shop API: a merchant's own rewards (list, add, change, count, withdraw), the region's
partners; other shops' rewards are not found and outsiders are refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import give_points, new_key
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.organizations.models import Organization, OrganizationKind, OrganizationStatus
from zhiyuan.store import services
from zhiyuan.store.models import Reward

pytestmark = pytest.mark.django_db

API = "/api/v1/store"


def send(client, method, url, data=None):
    return getattr(client, method)(API + url, data or {}, content_type="application/json")


def test_outsiders_are_refused(client, district, reward) -> None:
    client.force_login(make_user(Role.VOLUNTEER, region=district))
    writes = [
        (
            "post",
            "/merchant/rewards",
            {"organization_id": 1, "name": "x", "price_points": 1, "stock": 1},
        ),
        ("put", f"/merchant/rewards/{reward.pk}", {"name": "x", "price_points": 1}),
        ("put", f"/merchant/rewards/{reward.pk}/stock", {"on_hand": 0}),
        ("post", f"/merchant/rewards/{reward.pk}/withdraw", {}),
        ("post", f"/merchant/rewards/{reward.pk}/offer", {}),
        ("post", "/partners", {"name": "x"}),
    ]
    assert client.get(API + "/merchant/rewards").status_code == 403
    assert client.get(API + "/partners").status_code == 403
    for method, url, body in writes:
        response = send(client, method, url, body)
        assert response.status_code == 403, url
        assert response.json()["code"] == "forbidden"
    client.logout()
    assert client.get(API + "/merchant/rewards").status_code == 401
    reward.refresh_from_db()
    assert (reward.name, reward.stock, reward.active) == ("大米一袋", 5, True)


def test_another_shops_reward_answers_404(client, district, reward, merchant_org) -> None:
    other_shop = OrganizationFactory(region=district, kind=OrganizationKind.MERCHANT)
    client.force_login(make_user(Role.MERCHANT, organization=other_shop))
    assert client.get(API + "/merchant/rewards").json() == []
    for method, url, body in [
        ("put", f"/merchant/rewards/{reward.pk}", {"name": "x", "price_points": 1}),
        ("put", f"/merchant/rewards/{reward.pk}/stock", {"on_hand": 0}),
        ("post", f"/merchant/rewards/{reward.pk}/withdraw", {}),
        ("post", f"/merchant/rewards/{reward.pk}/offer", {}),
    ]:
        response = send(client, method, url, body)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    # Nor can it list a reward for a shop that is not its own.
    response = send(
        client,
        "post",
        "/merchant/rewards",
        {"organization_id": merchant_org.pk, "name": "x", "price_points": 1, "stock": 1},
    )
    assert response.status_code == 404
    reward.refresh_from_db()
    assert (reward.name, reward.stock, reward.active) == ("大米一袋", 5, True)
    assert Reward.objects.count() == 1


def test_merchant_manages_a_reward_end_to_end(client, merchant, merchant_org, volunteer, district):
    client.force_login(merchant)
    made = send(
        client,
        "post",
        "/merchant/rewards",
        {
            "organization_id": merchant_org.pk,
            "name": "食用油",
            "description": "1.8 升",
            "kind": "goods",
            "price_points": 40,
            "stock": 4,
        },
    )
    assert made.status_code == 201, made.content
    body = made.json()
    rid = body["id"]
    assert (body["stock"], body["reserved"], body["on_hand"], body["active"]) == (4, 0, 4, True)

    give_points(volunteer, district, 200)
    reward = Reward.objects.get(pk=rid)
    services.store_redeem(volunteer=volunteer, reward=reward, key=new_key())

    listed = client.get(API + "/merchant/rewards").json()
    assert [(r["id"], r["stock"], r["reserved"], r["on_hand"]) for r in listed] == [(rid, 3, 1, 4)]

    below = send(client, "put", f"/merchant/rewards/{rid}/stock", {"on_hand": 0})
    assert below.status_code == 409 and below.json()["code"] == "stock_below_reserved"
    counted = send(client, "put", f"/merchant/rewards/{rid}/stock", {"on_hand": 10})
    assert (counted.json()["stock"], counted.json()["on_hand"]) == (9, 10)

    changed = send(
        client,
        "put",
        f"/merchant/rewards/{rid}",
        {"name": "食用油 1.8 升", "kind": "goods", "price_points": 45, "valid_days": 10},
    )
    assert changed.status_code == 200
    assert (changed.json()["price_points"], changed.json()["stock"]) == (45, 9)
    bad = send(client, "put", f"/merchant/rewards/{rid}", {"name": "x", "price_points": 0})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_reward"

    withdrawn = send(client, "post", f"/merchant/rewards/{rid}/withdraw")
    assert withdrawn.json()["active"] is False
    client.force_login(volunteer)
    refused = send(client, "post", "/redemptions", {"reward_id": rid, "idempotency_key": new_key()})
    assert refused.status_code == 409 and refused.json()["code"] == "not_on_offer"
    client.force_login(merchant)
    assert send(client, "post", f"/merchant/rewards/{rid}/offer").json()["active"] is True
    assert list(
        AuditEvent.objects.filter(object_id=str(rid), action__startswith="store.reward")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "store.reward_saved",
        "store.reward_stock_set",
        "store.reward_saved",
        "store.reward_withdrawn",
        "store.reward_offered",
    ]


def test_region_admin_lists_and_adds_partners(client, admin, district, other_district, reward):
    far = OrganizationFactory(region=other_district, kind=OrganizationKind.MERCHANT, name="西城店")
    client.force_login(admin)
    listed = client.get(API + "/partners").json()
    assert [(p["name"], p["rewards_on_offer"]) for p in listed] == [("爱心超市一号店", 1)]
    assert far.name not in str(listed)
    made = send(client, "post", "/partners", {"name": "东四理发店"})
    assert made.status_code == 201
    partner = Organization.objects.get(pk=made.json()["id"])
    assert (partner.kind, partner.region_id) == (OrganizationKind.MERCHANT, district.pk)
    assert send(client, "post", "/partners", {"name": " "}).status_code == 422


def test_the_list_does_not_grow_queries_with_its_length(client, merchant, merchant_org) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(API + "/merchant/rewards").status_code == 200
        return len(captured)

    services.reward_save(
        organization=merchant_org, name="礼品", price_points=5, stock=1, actor=merchant
    )
    client.force_login(merchant)
    one = queries()
    for n in range(12):
        services.reward_save(
            organization=merchant_org, name=f"礼品{n}", price_points=5, stock=1, actor=merchant
        )
    assert queries() == one


def test_an_unverified_organisation_is_refused_with_its_reason(client, district) -> None:
    pending = OrganizationFactory(region=district, status=OrganizationStatus.PENDING)
    client.force_login(make_user(Role.ORG_ADMIN, organization=pending))
    response = send(
        client,
        "post",
        "/merchant/rewards",
        {"organization_id": pending.pk, "name": "帽子", "price_points": 5, "stock": 1},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "organization_unverified"
    assert not Reward.objects.exists()
