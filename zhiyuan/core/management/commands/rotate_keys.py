from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_record
from zhiyuan.core.crypto import cipher
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.models import AuditAction


class Command(BaseCommand):
    help = (
        "Re-encrypt personal data under the current key (the first in ZHIYUAN_ENCRYPTION_KEYS). "
        "Rows under older keys stay readable meanwhile; run until it reports 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        current = cipher().current_key_id
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            for field in fields:
                total += self._rotate(model, field, current, batch)
        audit_record(
            action=AuditAction.KEYS_ROTATED,
            object_type="core.crypto",
            object_id=current,
            detail={"re_encrypted": total},
        )
        self.stdout.write(
            _("%(n)d values re-encrypted under key %(key)s.") % {"n": total, "key": current}
        )

    def _rotate(
        self, model: type[models.Model], field: EncryptedTextField, current: str, batch: int
    ) -> int:
        # Cast reads the stored ciphertext as plain text, without the field decrypting it.
        raw = (
            model._default_manager.exclude(**{field.attname: ""})
            .exclude(**{f"{field.attname}__isnull": True})
            .annotate(stored=Cast(field.attname, models.TextField()))
            .values_list("pk", "stored")
        )
        stale = [
            pk
            for pk, value in raw.iterator(chunk_size=batch)
            if cipher().key_id_of(value) != current
        ]
        for start in range(0, len(stale), batch):
            with transaction.atomic():
                # Row locks: a change written meanwhile (a new phone number) must not be
                # overwritten by the old value this command read.
                rows = model._default_manager.select_for_update().filter(
                    pk__in=stale[start : start + batch]
                )
                for obj in rows:
                    # Reading decrypts under the old key; update() encrypts under the current one.
                    value = getattr(obj, field.attname)
                    model._default_manager.filter(pk=obj.pk).update(**{field.attname: value})
        return len(stale)
