"""Simultaneous requests for one number cannot slip past the per-number limits."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from zhiyuan.accounts.models import PhoneChallenge, PhonePurpose, phone_index
from zhiyuan.accounts.otp import CodeRefused, phone_code_send
from zhiyuan.accounts.phones import normalize_mobile


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_sends_to_one_number_send_one_code() -> None:
    senders = 8
    barrier = threading.Barrier(senders)
    outcomes: list[str] = []

    def send() -> None:
        try:
            barrier.wait()
            phone_code_send(phone="13911113333", purpose=PhonePurpose.REGISTER)
            outcomes.append("sent")
        except CodeRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["sent"] + ["too_soon"] * (senders - 1)
    assert (
        PhoneChallenge.objects.filter(
            phone_index=phone_index(normalize_mobile("13911113333"))
        ).count()
        == 1
    )
