"""The ledger's and the store's pages: what each person sees, and who is refused."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import OrganizationFactory, make_user
from tests.ledger.conftest import WHEN, balance, give_minutes, give_points
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, EarningRuleSet, Transaction
from zhiyuan.store.models import Voucher, VoucherStatus

pytestmark = pytest.mark.django_db

MEMBER_PAGES = ["/ledger/", "/ledger/statement/", "/ledger/timebank/"]
VOLUNTEER_PAGES = ["/store/", "/store/vouchers/"]
ADMIN_PAGES = ["/ledger/admin/rules/", "/ledger/admin/fund/", "/ledger/admin/report/"]
PARTNER_PAGES = ["/store/partners/"]
MERCHANT_PAGES = ["/store/merchant/"]


@pytest.fixture
def outsiders(district, merchant_org):
    return {
        "org_admin": make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district)),
        "system_admin": make_user(Role.SYSTEM_ADMIN),
        "merchant": make_user(Role.MERCHANT, organization=merchant_org),
        "volunteer": make_user(Role.VOLUNTEER, region=district),
        "resident": make_user(Role.RESIDENT, region=district),
    }


@pytest.mark.parametrize(
    ("pages", "allowed"),
    [
        (MEMBER_PAGES, {"volunteer", "resident"}),
        (VOLUNTEER_PAGES, {"volunteer"}),
        (ADMIN_PAGES + PARTNER_PAGES, set()),
        (MERCHANT_PAGES, {"merchant"}),
    ],
)
def test_outsiders_are_refused(client: Client, outsiders, pages, allowed) -> None:
    for name, user in outsiders.items():
        client.force_login(user)
        for url in pages:
            status = client.get(url).status_code
            assert status == (200 if name in allowed else 403), (name, url)
    client.logout()
    for url in pages:
        assert client.get(url).status_code == 302


def test_admin_pages_open_for_the_region_admin(client, admin) -> None:
    client.force_login(admin)
    for url in ADMIN_PAGES + PARTNER_PAGES:
        page = client.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert "<script>" not in body and "onclick=" not in body


def test_wallet_shows_balances_and_history(client, volunteer, district) -> None:
    services.ledger_import_opening_balance(
        user=volunteer, region=district, points=42, minutes=90, reference="paper-1"
    )
    client.force_login(volunteer)
    page = client.get("/ledger/").content.decode()
    assert 'id="points-balance">42<' in page and 'id="minutes-balance">90<' in page
    assert "期初余额导入" in page  # the opening import is named for what it is
    statement = client.get("/ledger/statement/?asset=time_minutes&year=2026")
    assert statement.status_code == 200


def test_transfer_form_books_once_and_explains_refusals(client, volunteer, community, family):
    give_minutes(volunteer, community, 60)
    client.force_login(volunteer)
    page = client.get("/ledger/timebank/")
    form = page.context["transfer_form"]
    assert list(form.fields["relative"].queryset) == [family["mother"]]  # direct ones only
    data = {"action": "transfer", "key": form.initial["key"], "relative": family["mother"].pk}
    client.post("/ledger/timebank/", {**data, "minutes": 20})
    client.post("/ledger/timebank/", {**data, "minutes": 20})  # the same form sent twice
    assert balance(volunteer, Asset.TIME_MINUTES) == 40
    response = client.post(
        "/ledger/timebank/", {**data, "key": "web-another-key-1", "minutes": 500}
    )
    assert "账户余额不足：可用 40，需要 500。" in response.content.decode()
    refused = client.post(
        "/ledger/timebank/",
        {**data, "key": "web-another-key-2", "relative": family["cousin"].pk, "minutes": 5},
    )
    assert refused.status_code == 200 and balance(volunteer, Asset.TIME_MINUTES) == 40


def test_region_admin_publishes_rules_from_the_page(client, admin) -> None:
    client.force_login(admin)
    response = client.post(
        "/ledger/admin/rules/",
        {
            "effective_from": "2026-03-01T08:00",
            "default_coefficient": 10,
            "coefficients": '{"elder-care": 15}',
            "urgent_bonus_pct": 20,
            "emergency_bonus_pct": 50,
            "cap_per_activity": 200,
            "cap_per_day": 100,
            "no_show_penalty": 10,
        },
    )
    assert response.status_code == 302
    assert EarningRuleSet.objects.get().params["coefficients"] == {"elder-care": 15}


def test_redeem_then_the_merchant_confirms_on_the_phone_page(
    client, volunteer, district, reward, merchant
) -> None:
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    store_page = client.get("/store/").content.decode()
    assert "大米一袋" in store_page and f'href="/store/rewards/{reward.pk}/redeem/"' in store_page
    confirm = client.get(f"/store/rewards/{reward.pk}/redeem/")
    assert Voucher.objects.count() == 0 and balance(volunteer) == 100  # nothing booked yet
    key = confirm.context["form"].initial["key"]
    url = f"/store/rewards/{reward.pk}/redeem/"
    first = client.post(url, {"key": key, "reward": reward.pk})
    client.post(url, {"key": key, "reward": reward.pk})  # a double tap
    voucher = Voucher.objects.get()
    assert first.url == f"/store/vouchers/{voucher.code}/"
    page = client.get(first.url).content.decode()
    assert voucher.code in page and 'src="data:image/svg+xml' in page
    assert balance(volunteer) == 70

    client.force_login(merchant)
    check = client.get(f"/store/merchant/?code={voucher.code}").content.decode()
    assert "大米一袋" in check
    assert client.post("/store/merchant/", {"code": voucher.code}).status_code == 302
    voucher.refresh_from_db()
    assert voucher.status == VoucherStatus.USED
    again = client.post("/store/merchant/", {"code": voucher.code}).content.decode()
    assert "这张兑换券已经使用过" in again


def test_someone_elses_voucher_is_not_found(client, volunteer, district, reward) -> None:
    give_points(volunteer, district, 100)
    client.force_login(volunteer)
    url = f"/store/rewards/{reward.pk}/redeem/"
    key = client.get(url).context["form"].initial["key"]
    client.post(url, {"key": key, "reward": reward.pk})
    code = Voucher.objects.get().code
    client.force_login(make_user(Role.VOLUNTEER, region=district))
    assert client.get(f"/store/vouchers/{code}/").status_code == 404
    assert client.post(f"/store/vouchers/{code}/cancel/").status_code == 404


def test_report_counts_issued_and_redeemed(client, admin, volunteer, community, rules, reward):
    from zhiyuan.store.services import store_redeem

    services.ledger_credit_service(
        volunteer=volunteer,
        region=community,
        minutes=240,
        category="elder-care",
        activity_key="a",
        occurred_at=WHEN,
        source="record:1:v1",
    )
    store_redeem(volunteer=volunteer, reward=reward, key="report-redeem-1")
    assert Transaction.objects.count() == 2
    client.force_login(admin)
    page = client.get("/ledger/admin/report/?start=2000-01-01&end=2100-01-01").content.decode()
    assert 'id="issued-total">48<' in page and 'id="redeemed-total">30<' in page
