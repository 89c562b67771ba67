"""Administrators confirm a TOTP code after their password where the rule is on."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _required(settings) -> None:
    settings.ZHIYUAN_ADMIN_OTP = "required"


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_an_administrator_enrols_then_reaches_their_home(client) -> None:
    admin = make_user(Role.AUDIT_ADMIN)
    client.force_login(admin)
    response = client.get("/home/audit/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/second-factor/")
    page = client.get(response.url).content.decode()
    assert "data:image/svg+xml;base64," in page  # the QR code to scan
    device = TOTPDevice.objects.get(user=admin)
    assert not device.confirmed
    with time_machine.travel(timezone.now(), tick=False) as clock:
        wrong = client.post("/accounts/second-factor/?next=/home/audit/", {"code": "000000"})
        assert "验证码不正确" in wrong.content.decode()
        # Right after a failure the device is throttled: even the right code is refused.
        device.refresh_from_db()
        throttled = client.post(
            "/accounts/second-factor/?next=/home/audit/", {"code": code_for(device)}
        )
        assert throttled.status_code == 200
        clock.shift(5)
        device.refresh_from_db()
        done = client.post("/accounts/second-factor/?next=/home/audit/", {"code": code_for(device)})
    assert done.url == "/home/audit/"
    assert client.get("/home/audit/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"auth.otp_failed", "auth.otp_enrolled", "auth.otp_verified"} <= actions


def test_volunteers_are_not_asked(client, district) -> None:
    client.force_login(make_user(Role.VOLUNTEER, region=district))
    assert client.get("/home/volunteer/").status_code == 200


def test_the_api_refuses_an_unverified_administrator(client, district) -> None:
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    response = client.get("/api/v1/organizations")
    assert response.status_code == 403
    assert response.json()["code"] == "second_factor_required"


def test_admin_tokens_need_the_code(client) -> None:
    admin = make_user(Role.SECURITY_ADMIN, phone="13912345678")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    body = {"phone": "13912345678", "password": PASSWORD}
    with time_machine.travel(timezone.now(), tick=False) as clock:
        refused = client.post("/api/v1/auth/tokens", body, content_type="application/json")
        assert refused.status_code == 401
        assert refused.json()["code"] == "second_factor_required"
        clock.shift(5)  # past the throttle that the missing code set off
        device.refresh_from_db()
        ok = client.post(
            "/api/v1/auth/tokens",
            {**body, "otp": code_for(device)},
            content_type="application/json",
        )
    assert ok.status_code == 201


def test_a_redirect_after_the_code_stays_on_this_site(client) -> None:
    admin = make_user(Role.SYSTEM_ADMIN)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client.force_login(admin)
    done = client.post(
        "/accounts/second-factor/?next=https://evil.example/", {"code": code_for(device)}
    )
    assert done.url == "/"
