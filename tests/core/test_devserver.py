"""``zhiyuan serve``: gunicorn with the site's worker settings in production; elsewhere Django's
development server with a long listen queue.

With socketserver's queue of 5, a burst of simultaneous requests (measured: 60 redemptions sent
at once to the demo) had connections reset before Django saw them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import load_command_class

from zhiyuan import cli


def test_serve_runs_the_development_server_with_a_queue_for_bursts(monkeypatch, settings) -> None:
    settings.PRODUCTION = False
    ran: list[list[str]] = []

    def fake_django(argv: list[str]) -> int:
        ran.append(argv)
        return 0

    monkeypatch.setattr(cli, "_django", fake_django)
    assert cli.main(["serve", "127.0.0.1:8123"]) == 0
    assert ran == [["devserver", "127.0.0.1:8123"]]
    command: Any = load_command_class("zhiyuan.core", "devserver")
    assert command.server_cls.request_queue_size >= 128
    # Still the static-files-serving runserver underneath (the demo's CSS and scripts).
    from django.contrib.staticfiles.management.commands.runserver import Command

    assert isinstance(command, Command)


def test_serve_in_production_runs_gunicorn_with_the_sites_worker_settings(
    monkeypatch, settings
) -> None:
    settings.PRODUCTION = True
    ran: list[list[str]] = []

    class Replaced(Exception):
        """execv replaces the process: nothing after it runs."""

    def fake_execv(path: str, argv: list[str]) -> None:
        ran.append(argv)
        raise Replaced

    monkeypatch.setattr(cli.os, "execv", fake_execv)
    with pytest.raises(Replaced):
        cli.main(["serve", "0.0.0.0:9000"])
    assert len(ran) == 1
    argv = ran[0]
    assert argv[0].endswith("gunicorn") and "zhiyuan.wsgi" in argv
    assert argv[argv.index("--config") + 1] == "python:zhiyuan.gunicorn_conf"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:9000"
