from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from tests.factories import make_user
from zhiyuan.accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_database_and_migrations(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "version": "0.1.0",
        "database": "ok",
        "migrations": "applied",
        "status": "ok",
    }


@pytest.mark.django_db
def test_error_pages_say_what_happened_in_plain_words(client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


@pytest.mark.django_db
def test_security_headers(client, district) -> None:
    anonymous = client.get("/accounts/login/")
    assert anonymous["X-Content-Type-Options"] == "nosniff"
    assert anonymous["Referrer-Policy"] == "same-origin"
    assert anonymous["X-Frame-Options"] == "DENY"
    csp = anonymous["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    client.force_login(make_user(Role.VOLUNTEER, region=district))
    assert client.get("/home/volunteer/")["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_no_page_carries_inline_script(client, district) -> None:
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    for url in ("/home/region/", "/accounts/login/", f"/regions/{district.code}/"):
        page = client.get(url, follow=True).content.decode()
        assert "<script>" not in page and "onclick=" not in page


@pytest.mark.django_db
class TestSessionLimits:
    def test_idle_volunteer_session_ends_after_30_minutes(self, client, district) -> None:
        with time_machine.travel("2026-03-01 09:00 +0800", tick=False) as clock:
            client.force_login(make_user(Role.VOLUNTEER, region=district))
            assert client.get("/home/volunteer/").status_code == 200
            clock.shift(29 * 60)
            assert client.get("/home/volunteer/").status_code == 200
            clock.shift(31 * 60)
            assert client.get("/home/volunteer/").status_code == 302

    def test_idle_administrator_session_ends_after_15_minutes(self, client) -> None:
        with time_machine.travel("2026-03-01 09:00 +0800", tick=False) as clock:
            client.force_login(make_user(Role.SYSTEM_ADMIN))
            assert client.get("/home/system/").status_code == 200
            clock.shift(16 * 60)
            assert client.get("/home/system/").status_code == 302

    def test_absolute_limit_is_12_hours_even_when_active(self, client, district) -> None:
        with time_machine.travel("2026-03-01 08:00 +0800", tick=False) as clock:
            client.force_login(make_user(Role.VOLUNTEER, region=district))
            for _ in range(12 * 3):  # active every 20 minutes for 12 hours
                assert client.get("/home/volunteer/").status_code == 200
                clock.shift(20 * 60)
            clock.shift(60)  # 12 hours and a minute after logging in, 21 minutes idle
            assert client.get("/home/volunteer/").status_code == 302


def test_argon2_is_the_first_hasher() -> None:
    from zhiyuan import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


class GatewayForTheCheck:
    """Stands in for a deployment's SMS gateway class in the deploy check; never sends."""

    def send(self, phone: str, text: str) -> None:
        raise AssertionError("the deploy check sends nothing")


def test_production_profile_passes_the_deploy_check(tmp_path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "ZHIYUAN_ENV": "production",
        "ZHIYUAN_SECRET_KEY": "x7!" + "k2Lq9vR#pT" * 6,
        "ZHIYUAN_ALLOWED_HOSTS": "zhiyuan.example.org",
        "ZHIYUAN_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
        "ZHIYUAN_BLIND_INDEX_KEY": "B" * 43 + "=",
        "ZHIYUAN_AUDIT_KEY": "C" * 43 + "=",
        "ZHIYUAN_SMS_BACKEND": "tests.core.test_shell.GatewayForTheCheck",
        "ZHIYUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "ZHIYUAN_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIYUAN_")} | {
        "ZHIYUAN_ENV": "production",
        "ZHIYUAN_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ZHIYUAN_SECRET_KEY must be configured" in result.stderr
