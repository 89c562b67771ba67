"""``core.db.pg_prepared``: one hot statement, prepared once per connection, through one cursor
kept on the connection. Each call answers with its own rows, whatever failed before it; a
statement refused at its commit (in autocommit) keeps nothing; errors come out as Django's."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection

from zhiyuan.core.db import pg_prepared

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scratch():
    """A table of our own, with a commit-time check that refuses the value 13."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE prepared_scratch (id integer PRIMARY KEY, value integer NOT NULL);
            CREATE FUNCTION prepared_scratch_refuse() RETURNS trigger AS $$
            BEGIN
                IF NEW.value = 13 THEN
                    RAISE EXCEPTION 'thirteen refused at commit' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;
            CREATE CONSTRAINT TRIGGER prepared_scratch_at_commit AFTER INSERT ON prepared_scratch
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                EXECUTE FUNCTION prepared_scratch_refuse();
            INSERT INTO prepared_scratch VALUES (1, 0);
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE prepared_scratch; DROP FUNCTION prepared_scratch_refuse();")


SELECT = "SELECT id, value FROM prepared_scratch WHERE id = %s"
INSERT = "INSERT INTO prepared_scratch (id, value) VALUES (%s, %s) RETURNING id"
UPDATE = "UPDATE prepared_scratch SET value = value + 1 WHERE id = %s"


def rows() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, value FROM prepared_scratch ORDER BY id")
        return cursor.fetchall()


def idle() -> bool:
    return connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_each_call_answers_with_its_own_rows_through_the_kept_cursor(scratch) -> None:
    assert pg_prepared(SELECT, [1]) == [(1, 0)]
    kept = connection._zhiyuan_cursor
    assert pg_prepared(INSERT, [2, 7]) == [(2,)]
    assert pg_prepared(SELECT, [3]) == []  # not the rows of the call before
    assert pg_prepared(UPDATE, [1]) == []  # a statement without rows
    assert connection._zhiyuan_cursor is kept
    # A new connection gets a new cursor.
    connection.close()
    assert pg_prepared(SELECT, [2]) == [(2, 7)]
    renewed = connection._zhiyuan_cursor
    assert renewed is not kept and renewed.connection is connection.connection
    assert rows() == [(1, 1), (2, 7)] and idle()


def test_the_kept_cursor_serves_again_after_every_kind_of_failure(scratch) -> None:
    pg_prepared(SELECT, [1])
    kept = connection._zhiyuan_cursor
    failures = [
        (INSERT, [1, 5], IntegrityError),  # the key is taken
        ("SELECT 1 / (value - value) FROM prepared_scratch", [], DatabaseError),
        (INSERT, [2, 13], DatabaseError),  # refused at its commit
    ]
    for sql, params, error in failures:
        with pytest.raises(error):
            pg_prepared(sql, params)
        assert idle()
        assert connection._zhiyuan_cursor is kept
    assert pg_prepared(INSERT, [3, 4]) == [(3,)]
    assert pg_prepared(SELECT, [3]) == [(3, 4)]
    assert rows() == [(1, 0), (3, 4)] and idle()
