"""Run by tests/activities/test_concurrency.py in its own process: parallel sign-ups on a
SQLite *file* with the project's settings (WAL, busy timeout, IMMEDIATE transactions).

Usage: python sqlite_writers.py DATABASE_FILE PEOPLE SEATS — prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from decimal import Decimal
from pathlib import Path


def main() -> int:
    database, people, seats = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ["ZHIYUAN_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("ZHIYUAN_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhiyuan.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)

    from tests.factories import OrganizationFactory, district_tree, make_user, make_volunteer
    from zhiyuan.accounts.roles import Role
    from zhiyuan.activities import services
    from zhiyuan.activities.models import ActivityAudit, Shift, Signup, SignupStatus
    from zhiyuan.core.models import AuditEvent
    from zhiyuan.regions.models import Region
    from zhiyuan.safeguards.models import CoverBasis
    from zhiyuan.safeguards.services import insurance_policy_create

    district = district_tree()
    community = Region.objects.filter(level=5).order_by("code").first()
    org = OrganizationFactory(region=district)
    organiser = make_user(Role.ORG_ADMIN, organization=org)
    today = timezone.localdate()
    insurance_policy_create(
        organization=org,
        insurer="中国人寿",
        policy_number="SQLITE-1",
        starts_on=today,
        ends_on=today + dt.timedelta(days=30),
        cover_death=Decimal(1),
        cover_disability=Decimal(1),
        cover_medical=Decimal(1),
        basis=CoverBasis.PARTICIPANTS,
        activity_types=["general"],
        actor=organiser,
    )
    start = timezone.now() + dt.timedelta(days=2)
    activity = services.activity_create(
        organization=org,
        actor=organiser,
        title="并发报名",
        region=district,
        place_name="广场",
        lat=39.93,
        lng=116.41,
        shifts=[services.ShiftSpec(start, start + dt.timedelta(hours=3), seats)],
    )
    services.activity_publish(activity=activity, actor=organiser)
    shift = Shift.objects.get(activity=activity)
    volunteers = [make_volunteer(community).user for _ in range(people)]
    connection.close()

    errors: list[str] = []
    barrier = threading.Barrier(people)

    def sign_up(person: object) -> None:
        try:
            barrier.wait()
            services.signup_create(shift=shift, volunteer=person)  # type: ignore[arg-type]
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(p,)) for p in volunteers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shift.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
    rows = Signup.objects.filter(shift=shift)
    print(
        json.dumps(
            {
                "errors": errors,
                "confirmed": rows.filter(status=SignupStatus.CONFIRMED).count(),
                "waitlisted": rows.filter(status=SignupStatus.WAITLISTED).count(),
                "signups": rows.count(),
                "seats_taken": shift.seats_taken,
                "audit_signups": AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).count(),
                "journal_mode": journal,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
