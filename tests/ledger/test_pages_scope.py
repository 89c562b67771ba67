"""A region administrator registers relatives and elders of their own region only: an account
elsewhere is answered like a number nobody has (reviewer finding: registering another region's
account as a member's relative)."""

from __future__ import annotations

import pytest

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger.models import Elder, Relative

pytestmark = pytest.mark.django_db

NOT_HERE = "您所在地区没有使用此手机号的账户"  # "No account in your region has this mobile number."


def relative_form(member_phone: str, relative_phone: str = "") -> dict[str, str]:
    return {
        "action": "relative",
        "member_phone": member_phone,
        "relation": "parent",
        "name": "王秀兰",
        "birth_date": "1955-05-01",
        "relative_phone": relative_phone,
    }


def test_a_relative_from_another_region_is_refused(
    client, admin, volunteer, community, other_district
) -> None:
    far = make_user(Role.RESIDENT, region=other_district.children.first())
    shopkeeper = make_user(Role.MERCHANT, organization=OrganizationFactory(region=community))
    client.force_login(admin)
    for elsewhere in (far, shopkeeper):
        page = client.post("/ledger/admin/fund/", relative_form(volunteer.phone, elsewhere.phone))
        assert page.status_code == 200
        assert page.context["relative_form"].errors["relative_phone"] == [NOT_HERE]
    assert not Relative.objects.exists()

    near = make_user(Role.RESIDENT, region=community)
    done = client.post("/ledger/admin/fund/", relative_form(volunteer.phone, near.phone))
    assert done.status_code == 302
    assert Relative.objects.get().account_user == near


def test_a_member_from_another_region_is_refused(client, admin, other_district) -> None:
    far_member = make_user(Role.VOLUNTEER, region=other_district)
    client.force_login(admin)
    page = client.post("/ledger/admin/fund/", relative_form(far_member.phone))
    assert page.context["relative_form"].errors["member_phone"] == [NOT_HERE]
    # The same answer as for a number nobody has: whether it exists elsewhere is not told.
    nobody = client.post("/ledger/admin/fund/", relative_form("13699999999"))
    assert nobody.context["relative_form"].errors["member_phone"] == [NOT_HERE]
    assert not Relative.objects.exists()


def test_an_elder_from_another_region_is_refused(client, admin, community, other_district) -> None:
    far = make_user(Role.RESIDENT, region=other_district)
    client.force_login(admin)
    data = {"action": "elder", "birth_date": "1938-09-03", "reason": "alone"}
    page = client.post("/ledger/admin/fund/", data | {"phone": far.phone})
    assert page.context["elder_form"].errors["phone"] == [NOT_HERE]
    assert not Elder.objects.exists()
    near = make_user(Role.RESIDENT, region=community)
    assert client.post("/ledger/admin/fund/", data | {"phone": near.phone}).status_code == 302
    assert Elder.objects.get().user == near
