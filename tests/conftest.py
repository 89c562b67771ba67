"""Shared fixtures. Data is built through the real services where the setup itself matters."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests import factories

CHROMIUM = os.environ.get("ZHIYUAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(autouse=True)
def _audit_anchors_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.ZHIYUAN_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors.log"


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    # Argon2 is deliberately slow; tests that are not about hashing use a fast hasher.
    # tests/core/test_settings.py checks the real list starts with Argon2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_guards() -> Iterator[None]:
    """Transactional tests empty every table afterwards, append-only ones included.

    Only a database superuser can do that in production too: on PostgreSQL by switching the
    session to replica mode (triggers off), on SQLite by dropping and re-creating the triggers.
    """
    from django.db.backends.base.operations import BaseDatabaseOperations

    from zhiyuan.core.db import append_only_operations

    guarded = [
        "core_auditevent",
        "core_auditseal",
        "ledger_transaction",
        "ledger_posting",
        "ledger_earning",
        "ledger_earningruleset",
        "ledger_seal",
    ]
    original = BaseDatabaseOperations.execute_sql_flush

    def flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        connection = self.connection
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
            try:
                original(self, sql_list)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = DEFAULT")
            return
        with connection.schema_editor() as editor:
            for table in guarded:
                append_only_operations(table)[1](None, editor)
        try:
            original(self, sql_list)
        finally:
            with connection.schema_editor() as editor:
                for table in guarded:
                    append_only_operations(table)[0](None, editor)

    BaseDatabaseOperations.execute_sql_flush = flush  # type: ignore[method-assign]
    yield
    BaseDatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture
def district(db: None) -> Any:
    return factories.district_tree()


@pytest.fixture
def other_district(db: None) -> Any:
    return factories.district_tree(code="110102000000", name="西城区", streets=2)


@pytest.fixture
def make_user(db: None) -> Any:
    return factories.make_user


@pytest.fixture
def login(client: Client) -> Any:
    def do(user: Any) -> Client:
        client.force_login(user)
        return client

    return do


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(make system-deps does it as root)."
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _patient_browser_expectations() -> None:
    # The CI machine has two cores and runs PostgreSQL beside the browser: wait up to 15 s for
    # what a person would see, rather than Playwright's 5 s default.
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """A phone-sized page in Chinese, as most residents and volunteers see Zhiyuan."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
