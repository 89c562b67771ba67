"""Database helpers shared by apps: append-only tables enforced by the database itself, and
prepared statements for the few hot paths."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any


def append_only_operations(table: str) -> tuple[Any, Any]:
    """Forward and backward functions for ``migrations.RunPython`` that make ``table`` refuse
    UPDATE and DELETE, on PostgreSQL (a trigger function) and on SQLite (``RAISE(ABORT)``).

    Python code cannot get round this: only the table's owner or a superuser can drop or disable
    the trigger (run the application as a role that does not own its tables, see
    docs/operations.md), and the keyed hash chain and its anchors then still show the change.
    """

    def forward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {table}_refuse_change() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER {table}_append_only
                    BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_refuse_change();
                CREATE TRIGGER {table}_no_truncate
                    BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION {table}_refuse_change();
                """,
                None,  # no parameters: the % in RAISE is PL/pgSQL's, not a placeholder
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
                )

    def backward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};"
                f"DROP FUNCTION IF EXISTS {table}_refuse_change();"
            )
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")

    return forward, backward


def _preparing_connection() -> tuple[Any, Any]:
    """This thread's Django connection and its psycopg connection, open, usable, and set so
    that only statements run with ``prepare=True`` are prepared (Django sets no threshold,
    which psycopg reads as "never")."""
    from django.db import DEFAULT_DB_ALIAS, connections

    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, looked up once
    db.ensure_connection()
    db.validate_no_broken_transaction()
    raw = db.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = 1 << 30
    return db, raw


def pg_prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one hot statement on PostgreSQL as a server-side prepared statement; its rows.

    Parsed and planned once per connection, then only bound and executed. Django's cursors bind
    parameters on the client and never prepare, so raising the connection's threshold out of
    reach (Django sets none, which psycopg reads as "never") lets only statements run here,
    with ``prepare=True``, be prepared. Errors come out as Django's (as from
    ``connection.cursor()``), so retries on deadlock still see them; the statement is logged
    like Django's own, so query counts in tests include it. (Behind PgBouncer, prepared
    statements need transaction pooling with ``max_prepared_statements``, 1.21 or later, or
    session pooling.)
    """
    import psycopg

    db, raw = _preparing_connection()
    started = time.perf_counter()
    cursor = _kept_cursor(db, raw)
    with db.wrap_database_errors:
        cursor.execute(sql, params, prepare=True)
        # Rows only if the statement returns some (asked of the result's status: building
        # ``cursor.description`` makes an object per column).
        result = cursor.pgresult
        returned = result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK
        rows = cursor.fetchall() if returned else []
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    return rows


def _kept_cursor(db: Any, raw: Any) -> Any:
    """The cursor kept on the Django connection ``db``, made anew when its psycopg connection
    ``raw`` was replaced or the cursor closed: a new cursor per statement sets up its adapters
    again (about 6 µs of a ledger transfer's ~110 µs of Python, measured). It is executed again
    before its rows are read, so nothing of one call is ever read by the next."""
    import psycopg

    kept: Any = getattr(db, "_zhiyuan_cursor", None)
    if kept is None or kept.connection is not raw or kept.closed:
        kept = db._zhiyuan_cursor = psycopg.Cursor(raw)
    return kept


def drop_if_broken() -> None:
    """After a quick path's statement failed outside any transaction: close the connection if
    it is no longer usable (the server went away), so that the full service the quick path
    falls back to runs on a new one rather than failing on the dead one."""
    from django.db import connection

    if not connection.in_atomic_block and not connection.is_usable():
        connection.close()


# --- chains sealed in batches after commit (the audit log, ADR 0006; the ledger, ADR 0005) ----


def chain_key_column() -> str:
    """The column that places a row in a sealed chain: the writer's PostgreSQL transaction id
    (stamped by a trigger), or the row id on SQLite."""
    from django.db import connection

    return "xid" if connection.vendor == "postgresql" else "id"


def commit_watermark(table: str) -> int:
    """Every row of ``table`` keyed below this has been committed, and nothing will later
    commit below it: on PostgreSQL the oldest transaction id still running anywhere; on SQLite,
    where writers take turns, the newest row id + 1. Call it before the sealing transaction
    writes or locks anything, so that its own id does not hold the watermark back."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        else:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608 — a table name from code
        return int(cursor.fetchone()[0])
