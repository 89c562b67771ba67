from __future__ import annotations

import unicodedata
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder, demo_exists, demo_logins


class Command(BaseCommand):
    help = "Build the demo district (once) and print one log-in for each role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--volunteers", type=int, default=2000)

    def handle(self, *args: Any, seed: int, volunteers: int, **options: Any) -> None:
        if demo_exists():
            self.stdout.write(_("The demo district is already built; reusing it."))
            logins = demo_logins()
        else:
            self.stdout.write(_("Building the demo district (Dongcheng, Beijing)…"))
            logins = DemoBuilder(seed=seed, volunteers=volunteers).build()
        self.stdout.write("")
        self.stdout.write(_("Log in at http://127.0.0.1:8000 with any of these:"))
        for login in logins:
            label = str(login.role.label)
            # Pad by display width: a Chinese character takes two columns in a terminal.
            width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in label)
            padding = " " * max(1, 24 - width)
            self.stdout.write(f"  {label}{padding}{login.phone}  {DEMO_PASSWORD}  ({login.name})")
        from zhiyuan.needs.demo import CENTRE_ADMIN, CENTRE_NAME

        phone, name = CENTRE_ADMIN
        self.stdout.write(
            _(
                "Also: %(centre)s, which records needs sent straight to volunteers: "
                "%(phone)s (%(name)s)."
            )
            % {"centre": CENTRE_NAME, "phone": phone, "name": name}
        )
