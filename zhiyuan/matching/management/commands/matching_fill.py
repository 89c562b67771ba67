"""``manage.py matching_fill REGION --as PHONE [--dry-run]``: fill all open needs of a region
as a dispatcher would with the button, and print what happened (and how long it took) as one
JSON object. ``--dry-run`` reads and solves without dispatching anything."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.matching import selectors, services
from zhiyuan.regions.models import Region


class Command(BaseCommand):
    help = "Fill all open needs of a region (as a dispatcher) and print the result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("region", help="region code (community, street or district)")
        parser.add_argument("--as", dest="phone", required=True, help="the dispatcher's phone")
        parser.add_argument("--dry-run", action="store_true", help="solve, dispatch nothing")

    def handle(self, *args: Any, region: str, phone: str, dry_run: bool, **options: Any) -> None:
        place = Region.objects.filter(pk=region).first()
        actor = User.objects.filter(phone_index=phone_index(phone)).first()
        if place is None or actor is None:
            raise CommandError("unknown region or phone")
        started = time.perf_counter()
        if dry_run:
            needs = list(selectors.needs_open_in(place.code))
            plan = selectors.plan_needs(needs, place.code)
            out: dict[str, Any] = {
                "needs": len(needs),
                "pairs": sum(int(s.volunteer.size) for s in plan.solutions),
                "volunteers": sum(len(s.built.volunteers) for s in plan.solutions),
                "short": sum(len(s.short) for s in plan.solutions) + len(plan.skipped),
                "total_utility": round(plan.total_utility, 3),
                "violations": plan.violations,
                "seconds": {k: round(v, 4) for k, v in plan.seconds.items()},
            }
        else:
            result = services.matching_fill_region(actor=actor, region=place)
            out = {
                "dispatched": len(result.dispatched),
                "offers": result.offers,
                "unfilled": len(result.unfilled),
                "total_utility": round(result.total_utility, 3),
                "violations": result.violations,
                "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
            }
        out["wall_seconds"] = round(time.perf_counter() - started, 4)
        self.stdout.write(json.dumps(out))
