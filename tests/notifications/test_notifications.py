"""The notification centre: messages in each reader's language, once per key, carried by
e-mail and SMS after commit by the worker, the bell, the list, and nobody reading another's."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils.translation import gettext_lazy

from tests.factories import make_user
from zhiyuan.core.sms import ConsoleSmsBackend
from zhiyuan.notifications import services
from zhiyuan.notifications.models import Delivery, DeliveryStatus, Notification
from zhiyuan.notifications.tasks import notifications_deliver

pytestmark = pytest.mark.django_db
TITLE = gettext_lazy("Need #%(id)s was accepted")


def test_each_reader_gets_their_own_language() -> None:
    zh, en = make_user(), make_user()
    en.language = "en"
    en.save(update_fields=["language"])
    services.notify(
        users=[zh, en.pk], kind="need.accepted", title=TITLE, params={"id": 7}, url="/needs/7/"
    )
    assert Notification.objects.get(user=zh).title == "需求 #7 已接单"
    assert Notification.objects.get(user=en).title == "Need #7 was accepted"


def test_a_keyed_reminder_is_sent_once() -> None:
    user = make_user()
    for _ in range(3):
        services.notify(
            users=[user], kind="need.remind", title=TITLE, params={"id": 1}, key="need:1:x"
        )
    assert Notification.objects.filter(user=user).count() == 1


def test_outside_channels_go_after_commit_by_the_worker(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = make_user()
    services.channel_preference_set(user=user, email="wang@example.com", email_on=True, sms_on=True)
    ConsoleSmsBackend.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(
            users=[user], kind="need.returned", title=TITLE, params={"id": 3}, urgent=True
        )
    assert mail.outbox == [] and ConsoleSmsBackend.outbox == []  # nothing leaves before commit
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [["wang@example.com"]]
    assert ConsoleSmsBackend.outbox[-1][0] == user.phone and "#3" in ConsoleSmsBackend.outbox[-1][1]
    assert set(Delivery.objects.values_list("channel", "status")) == {
        ("email", "sent"),
        ("sms", "sent"),
    }
    # Delivering again sends nothing twice.
    notifications_deliver.call(list(Notification.objects.values_list("pk", flat=True)))
    assert len(mail.outbox) == 1


def test_a_rolled_back_event_sends_nothing(django_capture_on_commit_callbacks) -> None:
    user = make_user()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        services.notify(users=[user], kind="x", title=TITLE, params={"id": 1}, urgent=True)
        transaction.set_rollback(True)
    assert callbacks == [] and not Notification.objects.exists()


def test_routine_messages_do_not_go_by_sms(settings) -> None:
    user = make_user()
    ConsoleSmsBackend.outbox.clear()
    [note] = services.notify(users=[user], kind="x", title=TITLE, params={"id": 1})
    assert services.notification_deliver(ids=[note.pk]) == 0
    assert ConsoleSmsBackend.outbox == []


def test_a_failing_channel_is_recorded(settings, monkeypatch) -> None:
    user = make_user()
    [note] = services.notify(users=[user], kind="x", title=TITLE, params={"id": 1}, urgent=True)

    def broken(self, phone, text):
        raise ConnectionError("gateway down")

    monkeypatch.setattr(ConsoleSmsBackend, "send", broken)
    services.notification_deliver(ids=[note.pk])
    assert Delivery.objects.get().status == DeliveryStatus.FAILED


def test_the_bell_list_and_mark_read(client: Client) -> None:
    user = make_user()
    notes = services.notify(users=[user], kind="x", title=TITLE, params={"id": 5}, url="/needs/5/")
    services.notify(
        users=[user], kind="x", title=TITLE, params={"id": 6}, url="https://evil.example/"
    )
    client.force_login(user)
    home = client.get("/notifications/").content.decode()
    assert "需求 #5 已接单" in home and "未读消息：2 条" in home
    assert 'class="badge pending" aria-hidden="true">2<' in home  # the bell
    response = client.post(f"/notifications/{notes[0].pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/needs/5/"
    other = Notification.objects.exclude(pk=notes[0].pk).get()
    assert (
        client.post(f"/notifications/{other.pk}/open/")["Location"] == "/notifications/"
    )  # never off-site
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    client.post("/notifications/read-all/")


def test_nobody_reads_anothers_messages(client: Client) -> None:
    owner, outsider = make_user(), make_user()
    [note] = services.notify(users=[owner], kind="x", title=TITLE, params={"id": 5})
    client.force_login(outsider)
    assert "需求 #5" not in client.get("/notifications/").content.decode()
    assert client.post(f"/notifications/{note.pk}/open/").status_code == 404
    client.post("/notifications/read-all/")
    assert client.post(f"/api/v1/notifications/{note.pk}/read").status_code == 404
    assert [n["id"] for n in client.get("/api/v1/notifications").json()["items"]] == []
    note.refresh_from_db()
    assert note.read_at is None
    anonymous = Client()
    for url in ["/notifications/", "/notifications/settings/"]:
        assert anonymous.get(url).status_code == 302
    assert anonymous.get("/api/v1/notifications").status_code == 401
    assert anonymous.get("/api/v1/notifications/unread-count").status_code == 401
    assert anonymous.post(f"/api/v1/notifications/{note.pk}/read").status_code == 401
    assert anonymous.post("/api/v1/notifications/read-all").status_code == 401


def test_the_api_lists_counts_and_marks_read(client: Client) -> None:
    user = make_user()
    notes = services.notify(users=[user], kind="x", title=TITLE, params={"id": 5})
    client.force_login(user)
    assert client.get("/api/v1/notifications/unread-count").json() == {"unread": 1}
    assert client.post(f"/api/v1/notifications/{notes[0].pk}/read").json()["read_at"]
    assert client.get("/api/v1/notifications?unread=true").json()["count"] == 0
    services.notify(users=[user], kind="x", title=TITLE, params={"id": 6})
    assert client.post("/api/v1/notifications/read-all").json() == {"unread": 0}


def test_preferences_keep_what_was_typed_and_store_the_address_encrypted(client: Client) -> None:
    from django.db import connection

    user = make_user()
    client.force_login(user)
    bad = client.post("/notifications/settings/", {"email": "", "email_on": "on"})
    assert bad.status_code == 200 and "要接收邮件，请填写电子邮箱" in bad.content.decode()
    ok = client.post(
        "/notifications/settings/", {"email": "li@example.com", "email_on": "on", "sms_on": "on"}
    )
    assert ok.status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM notifications_channelpreference")
        assert "li@example.com" not in cursor.fetchone()[0]


def test_numeric_placeholders_keep_their_format() -> None:
    user = make_user()
    [note] = services.notify(
        users=[user],
        kind="x",
        title=gettext_lazy("%(n)d of %(m)d needs dispatched."),
        params={"n": 2, "m": 3},
    )
    assert note.title == "3 个需求中的 2 个已派单。"
