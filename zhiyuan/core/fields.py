"""Model fields for personal data: stored encrypted, read back as plain text in Python."""

from __future__ import annotations

from typing import Any

from django.db import models

from zhiyuan.core.crypto import cipher


class EncryptedTextField(models.TextField):
    """Text kept encrypted at rest (see :mod:`zhiyuan.core.crypto`).

    ``purpose`` is bound into each ciphertext, so a value cannot be moved to another column.
    Such a field cannot be searched: pair it with a blind index where lookup is needed.
    """

    def __init__(self, *args: Any, purpose: str = "pii", **kwargs: Any) -> None:
        self.purpose = purpose
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return cipher().encrypt(str(value), purpose=self.purpose)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        # A tampered value raises TamperedCiphertext: it is reported, never shown as data.
        return cipher().decrypt(value, purpose=self.purpose)
