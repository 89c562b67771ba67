from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from zhiyuan.regions.services import RegionImportError, region_import_csv


class Command(BaseCommand):
    help = "Import regions from a CSV file (code, name, parent code); all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            result = region_import_csv(text=path.read_text(encoding="utf-8"))
        except (OSError, RegionImportError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("%(created)d regions created, %(updated)d updated")
            % {"created": result.created, "updated": result.updated}
        )
