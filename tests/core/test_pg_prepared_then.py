"""``core.db.pg_prepared_then``: two statements as one transaction in two round trips, on
PostgreSQL. Whatever happens — the second statement skipped, the decision raising, a
statement failing, the commit refused — nothing half-done is kept and the connection is left
idle for the next request."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from zhiyuan.core.db import pg_prepared_then

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scratch():
    """A table of our own, with a commit-time check that refuses the value 13."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE then_scratch (id integer PRIMARY KEY, value integer NOT NULL);
            CREATE FUNCTION then_scratch_refuse() RETURNS trigger AS $$
            BEGIN
                IF NEW.value = 13 THEN
                    RAISE EXCEPTION 'thirteen refused at commit' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;
            CREATE CONSTRAINT TRIGGER then_scratch_at_commit AFTER INSERT ON then_scratch
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION then_scratch_refuse();
            INSERT INTO then_scratch VALUES (1, 0);
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE then_scratch; DROP FUNCTION then_scratch_refuse();")


LOCK = "SELECT id, value FROM then_scratch WHERE id = %s FOR UPDATE"
INSERT = "INSERT INTO then_scratch (id, value) VALUES (%s, %s) RETURNING id"


def rows() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, value FROM then_scratch ORDER BY id")
        return cursor.fetchall()


def idle() -> bool:
    return connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_both_statements_commit_together(scratch) -> None:
    first, second = pg_prepared_then(LOCK, [1], lambda found: (INSERT, [2, found[0][1] + 5]))
    assert first == [(1, 0)]
    assert second == [(2,)]
    assert rows() == [(1, 0), (2, 5)]
    assert idle()


def test_no_second_statement_keeps_nothing_and_releases_the_lock(scratch) -> None:
    first, second = pg_prepared_then(LOCK, [1], lambda found: None)
    assert (first, second) == ([(1, 0)], None)
    assert idle()
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT 1 FROM then_scratch WHERE id = 1 FOR UPDATE NOWAIT")


def test_a_decision_that_raises_rolls_back(scratch) -> None:
    class Refused(Exception):
        pass

    def refuse(found: list[tuple[int, int]]) -> None:
        raise Refused

    with pytest.raises(Refused):
        pg_prepared_then(LOCK, [1], refuse)
    assert idle()
    assert rows() == [(1, 0)]


def test_a_failing_second_statement_keeps_nothing(scratch) -> None:
    with pytest.raises(DatabaseError):
        pg_prepared_then(LOCK, [1], lambda found: (INSERT, [1, 7]))  # the id is taken
    assert idle()
    assert rows() == [(1, 0)]
    # The connection serves the next statements as before.
    assert pg_prepared_then(LOCK, [1], lambda found: (INSERT, [3, 3]))[1] == [(3,)]


def test_a_failing_first_statement_leaves_the_connection_usable(scratch) -> None:
    with pytest.raises(DatabaseError):
        pg_prepared_then("SELECT 1 / (value - value) FROM then_scratch", [], lambda f: None)
    assert idle()
    assert rows() == [(1, 0)]


def test_a_commit_refused_by_a_deferred_check_keeps_nothing(scratch) -> None:
    """The commit's own result is checked: a deferred constraint that fails at COMMIT raises,
    and neither statement's work is kept."""
    with pytest.raises(DatabaseError, match="thirteen refused at commit"):
        pg_prepared_then(LOCK, [1], lambda found: (INSERT, [4, 13]))
    assert idle()
    assert rows() == [(1, 0)]


def test_it_refuses_to_run_inside_a_transaction(scratch) -> None:
    with transaction.atomic(), pytest.raises(RuntimeError, match="not inside another"):
        pg_prepared_then(LOCK, [1], lambda found: None)


def test_kept_cursors_answer_each_call_with_its_own_rows(scratch) -> None:
    """The cursors stay with the connection from one call to the next (and a new connection
    gets new ones); what a call returns is never left over from the call before."""
    first, second = pg_prepared_then(LOCK, [1], lambda found: (INSERT, [2, 7]))
    kept = list(connection._zhiyuan_pipeline_cursors)
    assert (first, second) == ([(1, 0)], [(2,)])
    first, second = pg_prepared_then(LOCK, [2], lambda found: None)
    assert (first, second) == ([(2, 7)], None)
    first, second = pg_prepared_then(LOCK, [3], lambda found: None)
    assert (first, second) == ([], None)
    assert connection._zhiyuan_pipeline_cursors == kept
    connection.close()
    first, second = pg_prepared_then(LOCK, [1], lambda found: (INSERT, [3, 8]))
    assert (first, second) == ([(1, 0)], [(3,)])
    renewed = connection._zhiyuan_pipeline_cursors
    assert all(c.connection is connection.connection for c in renewed)
    assert not any(c in kept for c in renewed)
    assert rows() == [(1, 0), (2, 7), (3, 8)] and idle()


def test_kept_cursors_serve_again_after_every_kind_of_failure(scratch) -> None:
    kept = None
    failures = [
        (LOCK, [1], lambda found: (INSERT, [1, 5]), DatabaseError),  # the second fails
        ("SELECT 1 / 0", [], lambda found: None, DatabaseError),  # the first fails
        (LOCK, [1], lambda found: (INSERT, [2, 13]), DatabaseError),  # the commit is refused
        (LOCK, [1], lambda found: 1 / 0, ZeroDivisionError),  # the decision raises
    ]
    for sql, params, then, error in failures:
        with pytest.raises(error):
            pg_prepared_then(sql, params, then)
        assert idle()
        kept = kept or list(connection._zhiyuan_pipeline_cursors)
        assert connection._zhiyuan_pipeline_cursors == kept
    assert pg_prepared_then(LOCK, [1], lambda found: (INSERT, [3, 4])) == ([(1, 0)], [(3,)])
    assert rows() == [(1, 0), (3, 4)] and idle()
