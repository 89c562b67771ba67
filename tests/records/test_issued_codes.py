"""The issuer's list of certificates shows each one's verification code (the random code that
opens the public check) and links to that check, so an admin can answer "is this genuine?";
the volunteer's name stays masked; outsiders see no code."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.translation import override

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.masking import mask_name

pytestmark = pytest.mark.django_db


def test_the_issuers_admin_sees_the_check_code_and_the_public_link(client: Client, world):
    certificate = world["certificate"]
    client.force_login(world["organiser"])
    listing = client.get("/records/certificates/issued/").content.decode()
    assert f'<strong class="mono check-code">{certificate.short_code}</strong>' in listing
    assert "核验码：" in listing and "公开核验页" in listing
    assert f'href="/records/verify/{certificate.short_code}/"' in listing
    # Personal data stays masked beside it.
    assert certificate.volunteer_name not in listing
    assert mask_name(certificate.volunteer_name) in listing
    with override("en"):
        english = client.get("/records/certificates/issued/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Verification code:" in english.content.decode()
    # The link opens the public check of this very certificate.
    check = client.get(f"/records/verify/{certificate.short_code}/")
    assert check.status_code == 200 and certificate.number in check.content.decode()


def test_the_region_admin_sees_it_and_outsiders_do_not(
    client: Client, world, region_admin, other_district
):
    certificate = world["certificate"]
    client.force_login(region_admin)
    assert certificate.short_code in client.get("/records/certificates/issued/").content.decode()
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    for outsider in (world["stranger_admin"], foreign, world["volunteer"], world["resident"]):
        client.force_login(outsider)
        page = client.get("/records/certificates/issued/")
        assert page.status_code == 403 or certificate.short_code not in page.content.decode()
    client.logout()
    assert client.get("/records/certificates/issued/").status_code == 302
