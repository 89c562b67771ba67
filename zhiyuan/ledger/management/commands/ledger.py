from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from zhiyuan.ledger.services import ledger_seal
from zhiyuan.ledger.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Ledger tools. `ledger verify` replays every posting, recomputes every balance and the "
        "hash chain, and names the first discrepancy; `ledger seal` seals what was committed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "seal"])
        parser.add_argument(
            "--seal-first", action="store_true", help="seal committed transactions before verifying"
        )

    def handle(self, *args: Any, action: str, seal_first: bool = False, **options: Any) -> None:
        if action == "seal" or seal_first:
            seal = ledger_seal()
            count = seal.count if seal else 0
            self.stdout.write(_("%(n)d transactions sealed.") % {"n": count})
            if action == "seal":
                return
        started = time.perf_counter()
        report = ledger_verify()
        seconds = time.perf_counter() - started
        if report.problem is not None:
            for problem in report.problems[1:10]:
                self.stderr.write(f"  {problem}")
            raise CommandError(
                _("Ledger check failed at %(problem)s (%(n)d problems found)")
                % {"problem": report.problem, "n": len(report.problems)}
            )
        self.stdout.write(
            _(
                "Ledger intact: %(postings)d postings in %(transactions)d transactions, "
                "%(seals)d seals (%(unsealed)d transactions not sealed yet), %(accounts)d "
                "balances recomputed in %(seconds).1f s."
            )
            % {
                "postings": report.postings,
                "transactions": report.transactions,
                "seals": report.seals,
                "unsealed": report.unsealed,
                "accounts": report.accounts,
                "seconds": seconds,
            }
        )
