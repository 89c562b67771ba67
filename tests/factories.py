"""Test data. Regions and accounts go through the real services; seeded Faker (zh_CN)."""

from __future__ import annotations

import itertools
from typing import Any

import factory
from faker import Faker

from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, user_create
from zhiyuan.organizations.models import Organization, OrganizationKind, OrganizationStatus
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.regions.models import Region
from zhiyuan.regions.services import region_import_csv

fake = Faker("zh_CN")
fake.seed_instance(7)
_phones = itertools.count(13800000000 + 1)

PASSWORD = "correct-horse-battery"


def next_phone() -> str:
    return str(next(_phones))


def district_tree(code: str = "110101000000", name: str = "东城区", streets: int = 3) -> Region:
    """A district with ``streets`` streets and two communities in each, via the real importer."""
    lines = ["code,name,parent_code"]
    if not Region.objects.filter(code="110000000000").exists():
        lines += ["110000000000,北京市,", "110100000000,市辖区,110000000000"]
    lines.append(f"{code},{name},110100000000")
    for s in range(1, streets + 1):
        street = f"{code[:6]}{s:03d}000"
        lines.append(f"{street},{name}{s}街道,{code}")
        for c in range(1, 3):
            lines.append(f"{street[:9]}{c:03d},{name}{s}街道{c}社区,{street}")
    region_import_csv(text="\n".join(lines))
    return Region.objects.get(code=code)


def make_user(
    role: Role | None = None,
    *,
    region: Region | str | None = None,
    organization: Organization | None = None,
    password: str = PASSWORD,
    name: str | None = None,
    phone: str | None = None,
) -> User:
    user = user_create(phone=phone or next_phone(), password=password, name=name or fake.name())
    if isinstance(region, str):
        region = Region.objects.get(code=region)
    if role is not None:
        role_grant(user=user, role=role, region=region, organization=organization)
    return user


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"测试志愿服务队{n}")
    kind = OrganizationKind.COMMUNITY_TEAM
    status = OrganizationStatus.VERIFIED


def make_volunteer(region: Region, **kwargs: Any) -> VolunteerProfile:
    user = make_user(Role.VOLUNTEER, region=region)
    return VolunteerProfile.objects.create(
        user=user, volunteer_number=new_volunteer_number(), region=region, **kwargs
    )


def drop_audit_guard() -> None:
    """Drop the audit log's append-only triggers, as someone with database access could.

    Only inside a test's transaction, which rolls the drop back.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER core_auditevent_append_only ON core_auditevent")
            cursor.execute("DROP TRIGGER core_auditevent_no_truncate ON core_auditevent")
        else:
            cursor.execute("DROP TRIGGER core_auditevent_no_update")
            cursor.execute("DROP TRIGGER core_auditevent_no_delete")


def drop_seal_guard() -> None:
    """Drop the audit seals' append-only triggers, inside a test's transaction."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER core_auditseal_append_only ON core_auditseal")
        else:
            cursor.execute("DROP TRIGGER core_auditseal_no_update")
            cursor.execute("DROP TRIGGER core_auditseal_no_delete")
