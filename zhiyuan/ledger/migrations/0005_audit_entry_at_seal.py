"""A booking written in one statement leaves its audit entry to the seal (ADR 0009).

The columns have constant defaults: adding them rewrites nothing on PostgreSQL. SQLite cannot
add a NOT NULL column in place, so Django rebuilds the table there, and a rebuilt table has lost
its triggers: the append-only ones are put back after the columns come (and after they go, when
this is unapplied).
"""

from typing import Any

from django.db import migrations, models

from zhiyuan.core.db import append_only_operations


def append_only_again_on_sqlite(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    create, drop = append_only_operations("ledger_transaction")
    drop(apps, schema_editor)  # IF EXISTS: whatever the rebuild left
    create(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_withdrawal_served"),
    ]

    operations = [
        # Unapplied last: the rebuild that removes the columns drops the triggers again.
        migrations.RunPython(migrations.RunPython.noop, append_only_again_on_sqlite),
        migrations.AddField(
            model_name="transaction",
            name="audit_at_seal",
            field=models.BooleanField(db_default=False, default=False, editable=False),
        ),
        migrations.AddField(
            model_name="transaction",
            name="audit_ip",
            field=models.GenericIPAddressField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="transaction",
            name="audit_mac",
            field=models.CharField(
                blank=True, db_default="", default="", editable=False, max_length=64
            ),
        ),
        migrations.RunPython(append_only_again_on_sqlite, migrations.RunPython.noop),
    ]
