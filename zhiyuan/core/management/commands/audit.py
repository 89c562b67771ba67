from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_anchor, audit_verify


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` walks the hash chain and names the first bad entry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "anchor"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "anchor":
            anchored = audit_anchor()
            self.stdout.write(
                _("Anchored entry %(seq)d.") % {"seq": anchored[0]}
                if anchored
                else _("Nothing to anchor.")
            )
            return
        checked, problem = audit_verify()
        if problem is not None:
            message = _(
                "Audit chain broken at entry %(seq)d: %(reason)s "
                "(%(checked)d entries good before it)"
            )
            raise CommandError(
                message % {"seq": problem.seq, "reason": problem.reason, "checked": checked}
            )
        self.stdout.write(_("Audit chain intact: %(n)d entries verified.") % {"n": checked})
