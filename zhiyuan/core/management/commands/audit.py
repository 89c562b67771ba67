from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_anchor, audit_seal, audit_verify_report


class Command(BaseCommand):
    help = (
        "Audit log tools. `audit verify` checks every entry and seal and names the first bad one; "
        "`audit seal` chains what was committed; `audit anchor` seals and writes the head out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "seal", "anchor"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "seal":
            seal = audit_seal()
            self.stdout.write(
                _("Sealed %(count)d entries as seal %(n)d.")
                % {"count": seal.count, "n": seal.number}
                if seal
                else _("Nothing to seal.")
            )
            return
        if action == "anchor":
            anchored = audit_anchor()
            self.stdout.write(
                _("Anchored seal %(n)d.") % {"n": anchored[0]}
                if anchored
                else _("Nothing to anchor.")
            )
            return
        report = audit_verify_report()
        if report.problem is not None:
            message = _("Audit log broken at %(where)s: %(reason)s")
            raise CommandError(
                message % {"where": report.problem.where, "reason": report.problem.reason}
            )
        self.stdout.write(
            _(
                "Audit log intact: %(n)d entries verified, %(seals)d seals, "
                "%(unsealed)d entries waiting for the next seal."
            )
            % {"n": report.entries, "seals": report.seals, "unsealed": report.unsealed}
        )
