from __future__ import annotations

import re
from typing import Any

import pytest
from stdnum.cn import ric

from zhiyuan.accounts.models import PhoneChallenge, PhonePurpose, phone_index
from zhiyuan.accounts.otp import phone_code_send
from zhiyuan.core.sms import ConsoleSmsBackend


def id_number(birth: str, sequence: int = 123, region: str = "110105") -> str:
    body = f"{region}{birth}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture
def sms_code(django_capture_on_commit_callbacks: Any) -> Any:
    """Send a real code through the console backend and read it back, as the person would."""

    def send(phone: str, purpose: PhonePurpose = PhonePurpose.REGISTER) -> str:
        ConsoleSmsBackend.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):  # SMS leaves after commit
            phone_code_send(phone=phone, purpose=purpose)
        return re.search(r"\d{6}", ConsoleSmsBackend.outbox[-1][1]).group(0)  # type: ignore[union-attr]

    return send


@pytest.fixture
def registration(district: Any, sms_code: Any) -> Any:
    """Arguments for a valid adult registration in the first community of ``district``."""

    def make(phone: str = "13911112222", **overrides: Any) -> dict[str, Any]:
        # Setup only: forget earlier codes so one test can register several times within the
        # resend limit (tests/people/test_services.py tests the limit itself).
        PhoneChallenge.objects.filter(phone_index=phone_index(phone)).delete()
        data = {
            "phone": phone,
            "code": sms_code(phone),
            "name": "林小雨",
            "document_type": "resident_id",
            "document_number": id_number("19900101"),
            "community": f"{district.code[:6]}001001",
            "password": "walk-the-dog-2026",
            "accept_notice": 1,
        }
        data.update(overrides)
        return data

    return make


@pytest.fixture
def adult() -> Any:
    """An adult with a real-name identity (a possible guardian), made without an SMS round."""
    import datetime as dt

    from tests.factories import make_user
    from zhiyuan.people.identity import DocumentType
    from zhiyuan.people.models import Identity
    from zhiyuan.people.services import document_index

    def make(phone: str, birth: str = "19800505") -> Any:
        user = make_user(phone=phone)
        number = id_number(birth, sequence=456)
        Identity.objects.create(
            user=user,
            document_type=DocumentType.RESIDENT_ID,
            document_number=number,
            document_index=document_index(DocumentType.RESIDENT_ID, number),
            birth_date=dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:])),
            sex="F",
        )
        return user

    return make
