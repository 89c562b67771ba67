"""Versions of a region's recording rules are only ever added: the database refuses to change
one (and, on PostgreSQL, to delete one), so the history a region admin reads is the history
that happened. On the embedded SQLite database only the update guard is installed (the test
suite empties tables with DELETE; see 0002)."""

from typing import Any

from django.db import migrations

TABLE = "records_recordruleversion"


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {TABLE}_guard() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'a version of the recording rules is never changed or deleted'
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER {TABLE}_append_only
                BEFORE UPDATE OR DELETE ON {TABLE}
                FOR EACH ROW EXECUTE FUNCTION {TABLE}_guard();
            """
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'a version of the recording rules is never changed'); END;"
        )


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};"
            f"DROP FUNCTION IF EXISTS {TABLE}_guard();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only;")


class Migration(migrations.Migration):
    dependencies = [("records", "0003_rule_versions_and_revocation")]
    operations = [migrations.RunPython(forward, backward)]
