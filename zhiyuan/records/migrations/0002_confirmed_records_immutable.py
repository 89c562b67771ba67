"""The database refuses to change a confirmed or superseded service record, or to delete any.

A confirmed version may only be marked superseded (by an approved correction, in the same
transaction that confirms the new version); nothing else about it may change. Python code
cannot get round this. Deleting is refused on PostgreSQL (the production database); the
embedded SQLite database keeps the update guard only, because the test suite empties its
tables with DELETE between transactional tests (PostgreSQL's flush runs with triggers off).
"""

from typing import Any

from django.db import migrations

TABLE = "records_servicerecord"
FROZEN = [
    "volunteer_id",
    "organization_id",
    "region_id",
    "kind",
    "source",
    "version",
    "root_id",
    "replaces_id",
    "started_at",
    "ended_at",
    "raw_minutes",
    "minutes",
    "credited_minutes",
    "content",
    "activity_id",
    "shift_id",
    "session_id",
    "need_id",
    "flags",
    "confirmed_at",
    "confirmed_by_id",
    "first_confirmed_by_id",
    "points",
]


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        new = ", ".join(f"NEW.{c}" for c in FROZEN)
        old = ", ".join(f"OLD.{c}" for c in FROZEN)
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {TABLE}_guard() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'service records are never deleted'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF OLD.status = 'superseded' OR (OLD.status = 'confirmed' AND NOT (
                    NEW.status IN ('confirmed', 'superseded')
                    AND ROW({new})::text IS NOT DISTINCT FROM ROW({old})::text
                )) THEN
                    RAISE EXCEPTION 'a confirmed service record cannot be changed'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER {TABLE}_immutable
                BEFORE UPDATE OR DELETE ON {TABLE}
                FOR EACH ROW EXECUTE FUNCTION {TABLE}_guard();
            """,
            None,
        )
    elif vendor == "sqlite":
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in FROZEN)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE ON {TABLE} "
            f"WHEN OLD.status = 'superseded' OR (OLD.status = 'confirmed' AND NOT ("
            f"NEW.status IN ('confirmed', 'superseded') AND {same})) "
            f"BEGIN SELECT RAISE(ABORT, 'a confirmed service record cannot be changed'); END;"
        )


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE};"
            f"DROP FUNCTION IF EXISTS {TABLE}_guard();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable;")


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
