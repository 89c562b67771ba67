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

from zhiyuan.core.masking import mask_phone

logger = logging.getLogger("zhiyuan.sms")


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsBackend:
    """Writes each message to the log (the number masked) and keeps the last ones in memory.

    For the demo and development only: the text, codes included, is in the log so that a
    developer can register without a phone. The production profile refuses this backend.
    """

    outbox: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        type(self).outbox.append((phone, text))
        del type(self).outbox[:-100]
        logger.info("SMS to %s: %s", mask_phone(phone), text)


@cache
def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.ZHIYUAN_SMS_BACKEND)()
    return backend
