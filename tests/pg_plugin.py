"""pytest plugin: choose the database for the run, starting a throw-away PostgreSQL if asked.

``pytest --db=sqlite`` (the default) runs on SQLite and leaves out tests marked ``postgres``
(row locks, triggers, concurrent connections prove nothing there) and the browser tests.
``pytest --db=postgres`` starts a cluster (tests/pgcluster.py) before Django reads its settings
and runs everything. There is no silent fallback: if PostgreSQL cannot start, the run fails and
says what to install.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.pgcluster import Cluster, ClusterError

_cluster: Cluster | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default=os.environ.get("ZHIYUAN_TEST_DB", "sqlite"),
        help="database for this run (default: sqlite, or $ZHIYUAN_TEST_DB)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: Any, args: Any) -> None:
    global _cluster
    os.environ.setdefault("ZHIYUAN_ENV", "test")
    # Playwright's sync API runs an event loop in the test thread; Django's live server and ORM
    # calls made from that thread are safe here (one thread, one test at a time).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    choice = getattr(early_config.known_args_namespace, "db", None) or "sqlite"
    early_config._zhiyuan_db = choice  # type: ignore[attr-defined]
    if choice == "postgres":
        try:
            _cluster = Cluster().start()
        except ClusterError as exc:
            raise pytest.UsageError(str(exc)) from exc
        os.environ["ZHIYUAN_DATABASE_URL"] = _cluster.url()
    else:
        os.environ["ZHIYUAN_DATABASE_URL"] = "sqlite:///:memory:"


def pytest_report_header(config: pytest.Config) -> str:
    db = getattr(config, "_zhiyuan_db", "sqlite")
    where = _cluster.url() if _cluster else "in-memory"
    return f"zhiyuan database: {db} ({where})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config, "_zhiyuan_db", "sqlite") == "postgres":
        return
    kept, left = [], []
    for item in items:
        (
            left if item.get_closest_marker("postgres") or item.get_closest_marker("e2e") else kept
        ).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None
