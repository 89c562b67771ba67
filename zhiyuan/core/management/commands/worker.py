from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from zhiyuan.core.schedule import Scheduler


class Command(BaseCommand):
    help = "Run background tasks (django-tasks' database worker) and enqueue periodic ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
        parser.add_argument("--no-reload", action="store_true", help="accepted for make demo")

    def handle(self, *args: Any, interval: float, **options: Any) -> None:
        scheduler = Scheduler()
        scheduler.start()
        try:
            call_command("db_worker", interval=interval, reload=False)
        finally:
            scheduler.stopping.set()
