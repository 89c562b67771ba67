"""Fixtures for the ledger, the time bank and the store: a district with earning rules."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger import services
from zhiyuan.ledger.models import Asset, Relation
from zhiyuan.organizations.models import OrganizationKind
from zhiyuan.store.services import reward_save

RULES = {
    "coefficients": {"elder-care": 12, "cleaning": 8},
    "default_coefficient": 10,
    "urgent_bonus_pct": 20,
    "emergency_bonus_pct": 50,
    "cap_per_activity": 60,
    "cap_per_day": 100,
    "no_show_penalty": 10,
}
WHEN = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
_keys = itertools.count(1)


def new_key(prefix: str = "test") -> str:
    return f"{prefix}-key-{next(_keys):06d}"


@pytest.fixture
def admin(district: Any) -> Any:
    return make_user(Role.REGION_ADMIN, region=district)


@pytest.fixture
def rules(district: Any, admin: Any) -> Any:
    return services.earning_rules_publish(
        region=district, params=RULES, effective_from=WHEN - dt.timedelta(days=30), actor=admin
    )


@pytest.fixture
def community(district: Any) -> Any:
    return district.children.order_by("code").first().children.order_by("code").first()


@pytest.fixture
def volunteer(community: Any) -> Any:
    return make_user(Role.VOLUNTEER, region=community)


@pytest.fixture
def merchant_org(district: Any) -> Any:
    return OrganizationFactory(
        region=district, kind=OrganizationKind.MERCHANT, name="爱心超市一号店"
    )


@pytest.fixture
def merchant(merchant_org: Any) -> Any:
    return make_user(Role.MERCHANT, organization=merchant_org)


@pytest.fixture
def reward(merchant_org: Any, admin: Any) -> Any:
    return reward_save(
        organization=merchant_org, name="大米一袋", price_points=30, stock=5, actor=admin
    )


def balance(user: Any, asset: Asset = Asset.POINTS) -> int:
    from zhiyuan.ledger.models import Account

    account = Account.objects.filter(kind="user", user=user, asset=asset).first()
    return account.balance if account else 0


def give_points(user: Any, region: Any, points: int) -> Any:
    return services.ledger_import_opening_balance(
        user=user, region=region, points=points, reference=f"paper-{user.pk}"
    )


def give_minutes(user: Any, region: Any, minutes: int) -> Any:
    return services.ledger_import_opening_balance(
        user=user, region=region, minutes=minutes, reference=f"paper-{user.pk}"
    )


@pytest.fixture
def family(volunteer: Any, community: Any, admin: Any) -> dict[str, Any]:
    """The volunteer's mother (aged 70, with her own account) and a cousin (not direct)."""
    mother_user = make_user(Role.RESIDENT, region=community)
    mother = services.relative_register(
        member=volunteer,
        relation=Relation.PARENT,
        name="王秀兰",
        birth_date=dt.date(1955, 5, 1),
        region=community,
        registered_by=admin,
        account_user=mother_user,
    )
    cousin_user = make_user(Role.RESIDENT, region=community)
    cousin = services.relative_register(
        member=volunteer,
        relation=Relation.OTHER,
        name="李四",
        birth_date=dt.date(1990, 1, 1),
        region=community,
        registered_by=admin,
        account_user=cousin_user,
    )
    return {"mother": mother, "mother_user": mother_user, "cousin": cousin}


GUARDED = ["ledger_transaction", "ledger_posting"]


def drop_ledger_guard() -> None:
    """Drop the ledger's append-only triggers, as someone with database access could."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in GUARDED:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def restore_ledger_guard() -> None:
    from django.db import connection

    from zhiyuan.core.db import append_only_operations

    with connection.cursor() as cursor:
        for table in GUARDED:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    with connection.schema_editor() as editor:
        for table in GUARDED:
            if connection.vendor == "sqlite":
                append_only_operations(table)[1](None, editor)
            append_only_operations(table)[0](None, editor)
