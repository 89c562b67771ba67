"""A member's free-standing time-bank request (made on the time-bank page, not as a need)
reaches the community: the region's administrators list it, mark it served once they have
arranged the service (the credit is spent), or cancel it (the credit goes back). Before,
nobody but the member ever saw such a request."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.ledger.conftest import balance, give_minutes, new_key
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, Withdrawal, WithdrawalStatus

pytestmark = pytest.mark.django_db

PAGE = "/ledger/admin/withdrawals/"


@pytest.fixture
def requests_(volunteer, district, community, family) -> list[Withdrawal]:
    give_minutes(volunteer, district, 300)
    return [
        services.timebank_withdraw(
            member=volunteer,
            region=community,
            minutes=minutes,
            note=note,
            key=new_key("withdraw"),
            relative=family["mother"],
        )
        for minutes, note in ((60, "上门理发"), (90, "陪同就医"))
    ]


def test_the_admin_sees_a_members_request_with_names_masked(
    client, admin, volunteer, requests_
) -> None:
    client.force_login(admin)
    page = client.get(PAGE).content.decode()
    assert "60 分钟" in page and "上门理发" in page and "90 分钟" in page
    assert "王**" in page  # the mother, 王秀兰
    assert "王秀兰" not in page and volunteer.name not in page
    assert page.count(">标记为已服务</button>") == 2


def test_marking_served_spends_the_credit_and_is_audited(
    client, admin, volunteer, requests_
) -> None:
    client.force_login(admin)
    first = requests_[0]
    done = client.post(PAGE, {"withdrawal": first.pk, "action": "served"}, follow=True)
    assert "已标记为已服务，时间已支出。" in done.content.decode()
    first.refresh_from_db()
    assert first.status == WithdrawalStatus.SERVED
    entry = AuditEvent.objects.get(action="ledger.withdrawal_served", object_id=str(first.pk))
    assert entry.actor_id == admin.pk
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60 - 90
    # The member can no longer take it back.
    client.force_login(volunteer)
    client.post(f"/ledger/timebank/withdrawals/{first.pk}/cancel/")
    first.refresh_from_db()
    assert first.status == WithdrawalStatus.SERVED
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60 - 90


def test_cancelling_returns_the_credit(client, admin, volunteer, requests_) -> None:
    client.force_login(admin)
    second = requests_[1]
    done = client.post(PAGE, {"withdrawal": second.pk, "action": "cancel"}, follow=True)
    assert "已取消，时间已退回给该成员。" in done.content.decode()
    second.refresh_from_db()
    assert second.status == WithdrawalStatus.CANCELLED
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60
    # Marking a cancelled request served changes nothing.
    client.post(PAGE, {"withdrawal": second.pk, "action": "served"})
    second.refresh_from_db()
    assert second.status == WithdrawalStatus.CANCELLED


def test_outsiders_are_refused(client, volunteer, requests_, other_district) -> None:
    first = requests_[0]
    far_admin = make_user(Role.REGION_ADMIN, region=other_district)
    client.force_login(far_admin)
    assert "上门理发" not in client.get(PAGE).content.decode()
    # Another region's request answers as if it did not exist.
    assert client.post(PAGE, {"withdrawal": first.pk, "action": "served"}).status_code == 404
    client.force_login(volunteer)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"withdrawal": first.pk, "action": "cancel"}).status_code == 403
    first.refresh_from_db()
    assert first.status == WithdrawalStatus.REQUESTED
    client.logout()
    assert client.get(PAGE).status_code == 302


def test_the_api_lists_marks_served_and_cancels(client, admin, volunteer, requests_) -> None:
    headers = bearer(admin)
    listed = client.get("/api/v1/ledger/admin/withdrawals", **headers)
    assert listed.status_code == 200
    rows = {r["id"]: r for r in listed.json()}
    first, second = requests_
    assert rows[first.pk]["minutes"] == 60 and rows[first.pk]["note"] == "上门理发"
    assert rows[first.pk]["relative"] == "王**" and rows[first.pk]["status"] == "requested"
    assert rows[first.pk]["member"] == volunteer.name[0] + "*" * (len(volunteer.name) - 1)

    served = client.post(f"/api/v1/ledger/admin/withdrawals/{first.pk}/served", **headers)
    assert served.status_code == 200 and served.json()["status"] == "served"
    cancelled = client.post(f"/api/v1/ledger/admin/withdrawals/{second.pk}/cancel", **headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60
    # Each refuses the other's outcome by name, and changes nothing.
    again = client.post(f"/api/v1/ledger/admin/withdrawals/{first.pk}/cancel", **headers)
    assert again.status_code == 409 and again.json()["code"] == "withdrawal_served"
    late = client.post(f"/api/v1/ledger/admin/withdrawals/{second.pk}/served", **headers)
    assert late.status_code == 409 and late.json()["code"] == "withdrawal_cancelled"
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60


def test_the_api_refuses_outsiders(client, volunteer, requests_, other_district) -> None:
    first = requests_[0]
    far = bearer(make_user(Role.REGION_ADMIN, region=other_district))
    assert client.get("/api/v1/ledger/admin/withdrawals", **far).json() == []
    url = f"/api/v1/ledger/admin/withdrawals/{first.pk}/served"
    assert client.post(url, **far).status_code == 404
    assert client.post(url, **bearer(volunteer)).status_code == 403
    assert client.post(url).status_code == 401
    first.refresh_from_db()
    assert first.status == WithdrawalStatus.REQUESTED


def test_a_malformed_request_id_is_not_found(client, admin, requests_) -> None:
    client.force_login(admin)
    for bad in ("abc", "", "-1", "1.5"):
        assert client.post(PAGE, {"withdrawal": bad, "action": "served"}).status_code == 404
    assert all(w.status == WithdrawalStatus.REQUESTED for w in Withdrawal.objects.all())


def test_the_services_themselves_refuse_whoever_may_not_settle_a_request(
    volunteer, requests_, community, other_district
) -> None:
    """The right is checked by the services, not only by the pages that call them: another
    member may not cancel the request, nor an administrator elsewhere mark it served."""
    from django.core.exceptions import PermissionDenied

    first = requests_[0]
    stranger = make_user(Role.VOLUNTEER, region=community)
    far_admin = make_user(Role.REGION_ADMIN, region=other_district)
    with pytest.raises(PermissionDenied):
        services.timebank_withdrawal_cancel(withdrawal=first, actor=stranger)
    with pytest.raises(PermissionDenied):
        services.timebank_withdrawal_arranged(withdrawal=first, actor=far_admin)
    with pytest.raises(PermissionDenied):
        services.timebank_withdrawal_arranged(withdrawal=first, actor=volunteer)
    first.refresh_from_db()
    assert first.status == WithdrawalStatus.REQUESTED
    assert balance(volunteer, Asset.TIME_MINUTES) == 300 - 60 - 90


def test_the_regions_admins_are_told_a_request_waits(
    client, admin, volunteer, district, other_district, requests_
) -> None:
    """Each free-standing request tells the administrators over its region, in their
    language, with a link to the list; an administrator elsewhere hears nothing."""
    from zhiyuan.notifications.models import Notification

    elsewhere = make_user(Role.REGION_ADMIN, region=other_district)
    told = Notification.objects.filter(kind="ledger.withdrawal_requested").order_by("pk")
    assert [n.user_id for n in told] == [admin.pk, admin.pk]
    assert told[0].title == "有一项时间银行申请待安排"
    assert "60 分钟" in told[0].body and told[0].url == PAGE
    assert not Notification.objects.filter(user=elsewhere).exists()
    assert not Notification.objects.filter(kind="ledger.withdrawal_requested", user=volunteer)
    client.force_login(admin)
    assert "有一项时间银行申请待安排" in client.get("/notifications/").content.decode()
