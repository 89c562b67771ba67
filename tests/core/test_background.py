"""Key rotation, the retention schedule and the periodic scheduler."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.factories import make_user
from zhiyuan.accounts.models import ApiToken, PhoneChallenge, PhonePurpose
from zhiyuan.accounts.otp import phone_code_send
from zhiyuan.core.crypto import cipher
from zhiyuan.core.models import AuditEvent, PeriodicRun
from zhiyuan.core.schedule import REGISTRY, enqueue_due
from zhiyuan.core.tasks import retention_apply

pytestmark = pytest.mark.django_db


def stored_key_ids() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM accounts_user")
        return {row[0].split(".")[1] for row in cursor.fetchall()}


def test_rotation_re_encrypts_under_the_new_key(settings) -> None:
    old = "old:" + base64.b64encode(os.urandom(32)).decode()
    new = "new:" + base64.b64encode(os.urandom(32)).decode()
    settings.ZHIYUAN_ENCRYPTION_KEYS = old
    cipher.cache_clear()
    try:
        users = [make_user(phone=f"1391234567{i}") for i in range(3)]
        assert stored_key_ids() == {"old"}
        settings.ZHIYUAN_ENCRYPTION_KEYS = f"{new},{old}"
        cipher.cache_clear()
        assert (
            users[0].__class__.objects.get(pk=users[0].pk).phone == "13912345670"
        )  # old rows read
        call_command("rotate_keys")
        assert stored_key_ids() == {"new"}
        settings.ZHIYUAN_ENCRYPTION_KEYS = new  # the old key can now be retired
        cipher.cache_clear()
        assert sorted(u.__class__.objects.get(pk=u.pk).phone for u in users) == [
            "13912345670",
            "13912345671",
            "13912345672",
        ]
        assert AuditEvent.objects.get(action="crypto.rotated").detail == {"re_encrypted": 3}
    finally:
        cipher.cache_clear()


def test_retention_removes_what_has_expired() -> None:
    user = make_user()
    with time_machine.travel("2026-01-01 10:00 +0800", tick=False):
        phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)
        ApiToken.objects.create(
            user=user, name="old", prefix="zy_x", key_hash="a" * 64, revoked_at=timezone.now()
        )
    phone_code_send(phone="13911113333", purpose=PhonePurpose.REGISTER)
    ApiToken.objects.create(user=user, name="live", prefix="zy_y", key_hash="b" * 64)
    counts = retention_apply()
    assert counts["phone_codes"] == 1 and counts["api_tokens"] == 1
    assert PhoneChallenge.objects.count() == 1
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["live"]
    assert AuditEvent.objects.filter(action="retention.run").count() == 1


def test_periodic_tasks_are_enqueued_once_per_interval(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:
    name = "zhiyuan.core.tasks.retention_run"
    monkeypatch.setattr("zhiyuan.core.schedule.REGISTRY", {name: REGISTRY[name]})
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert enqueue_due(now) == [name]
        assert enqueue_due(now + timedelta(hours=1)) == []
        assert enqueue_due(now + timedelta(hours=24)) == [name]
    assert len(callbacks) == 2  # two enqueues, each after its transaction commits
    run = PeriodicRun.objects.get(name="zhiyuan.core.tasks.retention_run")
    assert run.last_enqueued_at == now + timedelta(hours=24)
