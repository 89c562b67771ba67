"""One-time codes by SMS: proving that a person holds a mobile number.

Codes are six digits, single-use, valid for 10 minutes and 5 guesses. Sending is limited to one
code a minute and five an hour per number, so the platform cannot be used to flood a phone.
Only a keyed hash of each code is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import PhoneChallenge, PhonePurpose, phone_index
from zhiyuan.accounts.phones import normalize_mobile
from zhiyuan.core.crypto import blind_index
from zhiyuan.core.sms import sms_backend

CODE_LIFETIME = timedelta(minutes=10)
MAX_GUESSES = 5
RESEND_AFTER = timedelta(seconds=60)
MAX_PER_HOUR = 5
# Per sending address: a community centre registers many residents from one IP, so the limit is
# generous, but it stops one client from spending the SMS budget across many numbers.
MAX_PER_IP_HOUR = 30


class CodeRefused(ValueError):
    """Sending or checking a code was refused; the message says why and what to do."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _hash(index: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{index}:{code}".encode(), hashlib.sha256).hexdigest()


def _serialise_senders(index: str) -> None:
    """Make simultaneous requests for one number take turns, so the limits below count them all.

    PostgreSQL: a transaction-level advisory lock keyed by the number's blind index (released at
    commit). SQLite: writers already take turns (immediate transactions).
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"sms:{index}"])


@transaction.atomic
def phone_code_send(*, phone: str, purpose: PhonePurpose, ip: str | None = None) -> None:
    """Send a fresh code to ``phone`` for ``purpose`` (older unused codes stop working)."""
    phone = normalize_mobile(phone)
    index = phone_index(phone)
    _serialise_senders(index)
    now = timezone.now()
    ip_index = blind_index(ip, purpose="ip") if ip else ""
    if ip_index and (
        PhoneChallenge.objects.filter(
            ip_index=ip_index, created_at__gte=now - timedelta(hours=1)
        ).count()
        >= MAX_PER_IP_HOUR
    ):
        raise CodeRefused(
            "too_many", _("Too many codes from this connection: try again in an hour.")
        )
    recent = PhoneChallenge.objects.filter(
        phone_index=index, created_at__gte=now - timedelta(hours=1)
    )
    last = recent.order_by("-created_at").first()
    if last is not None and now - last.created_at < RESEND_AFTER:
        wait = math.ceil((RESEND_AFTER - (now - last.created_at)).total_seconds())
        raise CodeRefused(
            "too_soon",
            _("A code was just sent. You can ask for another in %(s)d seconds.") % {"s": wait},
        )
    if recent.count() >= MAX_PER_HOUR:
        raise CodeRefused("too_many", _("Too many codes for this number: try again in an hour."))
    PhoneChallenge.objects.filter(phone_index=index, purpose=purpose, used_at__isnull=True).update(
        used_at=now
    )
    code = f"{secrets.randbelow(10**6):06d}"
    PhoneChallenge.objects.create(
        phone_index=index,
        purpose=purpose,
        code_hash=_hash(index, code),
        ip_index=ip_index,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    text = _("[Zhiyuan] Your code is %(code)s. It works for 10 minutes. Do not tell anyone.") % {
        "code": code
    }
    # After commit: a rolled-back request must not leave a code in someone's phone.
    transaction.on_commit(lambda: sms_backend().send(phone, text))


def phone_code_check(*, phone: str, purpose: PhonePurpose, code: str) -> None:
    """Consume a code, or raise CodeRefused.

    Must not run inside another transaction (it is durable): a wrong guess is committed before
    the refusal is raised, so rolling back the caller cannot reset the guess count.
    """
    refusal = _consume(phone_index(phone), purpose, code)
    if refusal is not None:
        raise refusal


def _consume(index: str, purpose: PhonePurpose, code: str) -> CodeRefused | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        # Row lock: two simultaneous checks of one code must not both succeed.
        challenge = (
            PhoneChallenge.objects.select_for_update()
            .filter(phone_index=index, purpose=purpose, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        if challenge is None or challenge.expires_at <= now:
            return CodeRefused(
                "expired", _("This code has expired or was not sent: ask for a new one.")
            )
        if challenge.attempts >= MAX_GUESSES:
            return CodeRefused("too_many_guesses", _("Too many wrong codes: ask for a new one."))
        if not hmac.compare_digest(challenge.code_hash, _hash(index, (code or "").strip())):
            challenge.attempts += 1
            challenge.save(update_fields=["attempts"])
            left = MAX_GUESSES - challenge.attempts
            if left == 0:
                return CodeRefused(
                    "too_many_guesses", _("Too many wrong codes: ask for a new one.")
                )
            return CodeRefused(
                "wrong_code", _("The code is not right. %(n)d tries left.") % {"n": left}
            )
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
    return None
