from __future__ import annotations

import pytest
from axes.models import AccessAttempt

from tests.factories import PASSWORD, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def post_login(client, phone: str, password: str):
    return client.post("/accounts/login/", {"username": phone, "password": password})


def test_login_page_speaks_chinese_by_default(client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "手机号码" in page and "登录" in page


def test_login_page_in_english_when_chosen(client) -> None:
    client.cookies["django_language"] = "en"
    page = client.get("/accounts/login/").content.decode()
    assert "Mobile number" in page and "Log in" in page


def test_correct_login_reaches_the_role_home_and_is_audited(client, district) -> None:
    user = make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    response = post_login(client, "139 1234 5678", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").url == "/home/volunteer/"
    assert AuditEvent.objects.filter(action="auth.login", actor=user).count() == 1


def test_wrong_password_says_so_and_keeps_the_number(client) -> None:
    make_user(phone="13912345678")
    response = post_login(client, "13912345678", "not-the-password")
    page = response.content.decode()
    assert response.status_code == 200
    assert "手机号码或密码不正确" in page
    assert 'value="13912345678"' in page
    event = AuditEvent.objects.get(action="auth.login_failed")
    # The audit entry identifies the attempt without the phone number in clear.
    assert "13912345678" not in str(event.detail) + event.object_id


def test_malformed_number_is_explained(client) -> None:
    response = post_login(client, "12345", "whatever-pass")
    assert "手机号码不存在" in response.content.decode()


def test_five_failures_lock_the_account_for_everyone(client, settings) -> None:
    make_user(phone="13912345678")
    for _ in range(5):
        post_login(client, "13912345678", "wrong-password")
    locked = post_login(client, "13912345678", PASSWORD)
    assert locked.status_code == 429
    assert "15 分钟" in locked.content.decode()
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()
    # django-axes keeps the blind index, never the number itself.
    assert not AccessAttempt.objects.filter(username__contains="13912345678").exists()


def test_another_account_on_the_same_address_is_not_locked(client) -> None:
    make_user(phone="13912345678")
    make_user(phone="13912345679")
    for _ in range(5):
        post_login(client, "13912345678", "wrong-password")
    assert post_login(client, "13912345679", PASSWORD).status_code == 302


def test_logout_ends_the_session(client, district) -> None:
    client.force_login(make_user(Role.VOLUNTEER, region=district))
    client.post("/accounts/logout/")
    assert client.get("/home/volunteer/").status_code == 302
