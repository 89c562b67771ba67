"""The audit log is chained in sealed batches instead of entry by entry (ADR 0006).

Each entry gets a keyed MAC of its own fields; entries written before this migration get theirs
here and are covered by the first seal. The per-entry ``seq``/``prev_hash``/``hash`` columns go.
There is no way back: a reversed migration could not rebuild the per-entry chain honestly.
"""

from typing import Any

from django.db import migrations, models

from zhiyuan.core.db import append_only_operations

guard_log, unguard_log = append_only_operations("core_auditevent")
guard_seals, unguard_seals = append_only_operations("core_auditseal")


def give_entries_their_macs(apps: Any, schema_editor: Any) -> None:
    from zhiyuan.core.audit import GENESIS, entry_mac

    AuditEvent = apps.get_model("core", "AuditEvent")
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        AuditEvent.objects.filter(pk=event.pk).update(mac=entry_mac(event))
    if schema_editor.connection.vendor == "postgresql":
        # Older entries sort before every live transaction id: the first seal covers them.
        schema_editor.execute("UPDATE core_auditevent SET xid = 0")
    apps.get_model("core", "AuditChainHead").objects.update(
        last_number=0, last_key=0, last_hash=GENESIS
    )


def stamp_xid(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        """
        CREATE FUNCTION core_auditevent_stamp() RETURNS trigger AS $$
        BEGIN
            NEW.xid := pg_current_xact_id()::text::bigint;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER core_auditevent_stamp BEFORE INSERT ON core_auditevent
            FOR EACH ROW EXECUTE FUNCTION core_auditevent_stamp();
        """
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0004_periodic_run")]

    operations = [
        # The append-only triggers would refuse the MACs being filled in; they come back below.
        migrations.RunPython(unguard_log, migrations.RunPython.noop),
        migrations.CreateModel(
            name="AuditSeal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.BigIntegerField(unique=True)),
                ("key_from", models.BigIntegerField()),
                ("key_to", models.BigIntegerField()),
                ("count", models.IntegerField()),
                ("sealed_at", models.DateTimeField()),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "verbose_name": "audit seal",
                "verbose_name_plural": "audit seals",
                "ordering": ["number"],
            },
        ),
        migrations.AlterModelOptions(
            name="auditevent",
            options={
                "ordering": ["id"],
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
            },
        ),
        migrations.RemoveField(model_name="auditevent", name="seq"),
        migrations.RemoveField(model_name="auditevent", name="prev_hash"),
        migrations.RemoveField(model_name="auditevent", name="hash"),
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="xid",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["xid", "id"], name="core_audit_chain_order"),
        ),
        migrations.RemoveField(model_name="auditchainhead", name="last_seq"),
        migrations.AddField(
            model_name="auditchainhead", name="last_number", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="auditchainhead", name="last_key", field=models.BigIntegerField(default=0)
        ),
        migrations.RunPython(give_entries_their_macs),
        migrations.RunPython(guard_log),
        migrations.RunPython(guard_seals),
        migrations.RunPython(stamp_xid),
    ]
