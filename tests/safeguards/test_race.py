"""Two region admins deciding the same case at once, on real concurrent PostgreSQL connections:
one wins, the other is told who decided, and nothing of the loser's decision is saved."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.utils.translation import override

from tests.factories import make_user
from tests.organizations.helpers import org_with_admin
from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import Case, CaseAction, CaseOutcome

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_on_locks() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def test_two_admins_decide_one_case_at_once(district) -> None:
    org, _ = org_with_admin(district)
    admins = [make_user(Role.REGION_ADMIN, region=district) for _ in range(2)]
    case = services.case_submit(
        category="charging",
        subject_kind="organization",
        organization=org,
        description="每次服务都要收费二十元。",
    ).case
    results: dict[int, Any] = {}
    outcomes = [CaseOutcome.SUBSTANTIATED, CaseOutcome.UNSUBSTANTIATED]

    def decide(index: int) -> None:
        try:
            actor = User.objects.get(pk=admins[index].pk)
            with override("en"):
                results[index] = services.case_decide(
                    case=Case.objects.get(pk=case.pk),
                    expected_version=1,  # both read the case at version 1
                    outcome=outcomes[index],
                    public_summary=f"decision {index}",
                    actor=actor,
                )
        except Exception as exc:  # collected and asserted below
            results[index] = exc
        finally:
            connections.close_all()

    # Hold the case row so that both deciders are queued on it at the same moment.
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM safeguards_case WHERE id = %s FOR UPDATE", [case.pk])
    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    waited = 0
    while _waiting_on_locks() < 2 and waited < 2000:
        threading.Event().wait(0.005)  # poll until both are blocked on the row lock
        waited += 1
    assert _waiting_on_locks() >= 2
    holder.commit()
    holder.close()
    for t in threads:
        t.join()

    winners = [i for i, r in results.items() if isinstance(r, Case)]
    losers = [i for i, r in results.items() if isinstance(r, services.CaseConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    winner, loser = winners[0], losers[0]
    assert "Someone else decided this case first" in results[loser].messages[0]
    assert admins[winner].name in results[loser].messages[0]
    stored = Case.objects.get(pk=case.pk)
    assert stored.outcome == outcomes[winner]
    assert stored.decided_by_id == admins[winner].pk
    assert stored.version == 2
    assert CaseAction.objects.filter(case=stored, kind="decided").count() == 1
    assert AuditEvent.objects.filter(action="case.decided").count() == 1
    conflict = AuditEvent.objects.get(action="case.conflict")
    assert conflict.actor_id == admins[loser].pk
    connection.close()


def test_two_admins_verify_one_registration_at_once(district) -> None:
    from tests.organizations.helpers import registration
    from zhiyuan.organizations.models import Organization, OrganizationStatus
    from zhiyuan.organizations.services import organization_register, organization_verify

    resident = make_user(Role.RESIDENT, region=district)
    org = organization_register(actor=resident, **registration(district))
    admins = [make_user(Role.REGION_ADMIN, region=district) for _ in range(2)]
    results: dict[int, Any] = {}
    start = threading.Barrier(2)

    def verify(index: int) -> None:
        try:
            start.wait()
            results[index] = organization_verify(
                organization=Organization.objects.get(pk=org.pk),
                actor=User.objects.get(pk=admins[index].pk),
            )
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=verify, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(type(r).__name__ for r in results.values())
    assert kinds == ["Organization", "ValidationError"], results
    assert Organization.objects.get(pk=org.pk).status == OrganizationStatus.VERIFIED
    assert AuditEvent.objects.filter(action="organization.verified").count() == 1
    connection.close()
