"""Text messages through a pluggable backend; the default writes to the log.

A deployment names its provider's backend in ``ZHIYUAN_SMS_BACKEND``: any class with
``send(phone: str, text: str) -> None``.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("zhiyuan.sms")


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsBackend:
    """Writes each message to the log and keeps the last ones in memory (for the demo and tests).

    The full number appears only here, on the operator's console, as a real SMS gateway would
    receive it; nothing is stored.
    """

    outbox: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        type(self).outbox.append((phone, text))
        del type(self).outbox[:-100]
        logger.info("SMS to %s: %s", phone, text)


@cache
def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.ZHIYUAN_SMS_BACKEND)()
    return backend
