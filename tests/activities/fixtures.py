"""Shared fixtures for activities and records: a verified organisation with its admin, an
insurance policy, volunteers with a real-name identity, and activities made and published
through the real services. The clock is frozen at NOW (a Monday morning in Beijing)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from stdnum.cn import ric

from tests.factories import OrganizationFactory, make_user, make_volunteer
from tests.organizations.helpers import credit_code
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services
from zhiyuan.activities.models import Activity, Shift
from zhiyuan.ledger.services import earning_rules_publish
from zhiyuan.organizations.models import MemberRole, Membership
from zhiyuan.people.identity import DocumentType
from zhiyuan.people.models import Identity
from zhiyuan.people.services import document_index
from zhiyuan.regions.models import Region
from zhiyuan.safeguards.models import ActivityType, CoverBasis
from zhiyuan.safeguards.services import insurance_policy_create

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
# The place: the Dongcheng district's civil-affairs hall, roughly.
PLACE = (39.9289, 116.4160)
_ids = itertools.count(100)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, Beijing time."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def community(district: Region) -> Region:
    return Region.objects.filter(code__startswith=district.code[:6], level=5).order_by("code")[0]


@pytest.fixture
def org(district: Region) -> Any:
    return OrganizationFactory(
        region=district,
        name="东城区助老志愿者协会",
        legal_representative="王建国",
        contact_name="李红",
        contact_phone="13911112222",
        credit_code=credit_code("51"),
    )


@pytest.fixture
def organiser(org: Any) -> Any:
    admin = make_user(Role.ORG_ADMIN, organization=org, name="张丽")
    Membership.objects.create(organization=org, user=admin, role=MemberRole.ADMIN)
    return admin


@pytest.fixture
def policy(org: Any, organiser: Any) -> Any:
    """Everyone taking part in the organisation's activities is insured, all of 2026."""
    return insurance_policy_create(
        organization=org,
        insurer="中国人寿",
        policy_number=f"P-{next(_ids)}",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
        cover_death=Decimal("500000"),
        cover_disability=Decimal("500000"),
        cover_medical=Decimal("50000"),
        basis=CoverBasis.PARTICIPANTS,
        activity_types=[t.value for t in ActivityType],
        actor=organiser,
    )


def give_identity(user: Any, birth: str = "19900101", sequence: int = 123) -> Identity:
    body = f"110105{birth}{sequence:03d}"
    number = body + ric.calc_check_digit(body + "0")
    return Identity.objects.create(
        user=user,
        document_type=DocumentType.RESIDENT_ID,
        document_number=number,
        document_index=document_index(DocumentType.RESIDENT_ID, number),
        birth_date=dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:])),
    )


def new_volunteer(region: Region, birth: str = "19900101", **profile: Any) -> Any:
    person = make_volunteer(region, **profile)
    give_identity(person.user, birth, sequence=next(_ids) % 1000)
    return person.user


@pytest.fixture
def volunteer(community: Region) -> Any:
    return new_volunteer(community)


@pytest.fixture
def make_activity(org: Any, organiser: Any, community: Region, policy: Any) -> Any:
    """Make and publish an activity with one shift (by default 4 March, 9:00–12:00)."""

    def make(
        *,
        publish: bool = True,
        shifts: list[services.ShiftSpec] | None = None,
        capacity: int = 5,
        **fields: Any,
    ) -> Activity:
        fields.setdefault("title", "社区助老探访")
        fields.setdefault("place_name", "东城区民政服务大厅")
        fields.setdefault("lat", PLACE[0])
        fields.setdefault("lng", PLACE[1])
        activity = services.activity_create(
            organization=org,
            actor=organiser,
            region=community,
            shifts=shifts or [services.ShiftSpec(at(4, 9), at(4, 12), capacity)],
            **fields,
        )
        if publish:
            services.activity_publish(activity=activity, actor=organiser)
        activity.refresh_from_db()
        return activity

    return make


def first_shift(activity: Activity) -> Shift:
    return activity.shifts.order_by("starts_at").first()  # type: ignore[return-value]


@pytest.fixture
def region_admin(district: Region) -> Any:
    return make_user(Role.REGION_ADMIN, region=district, name="陈静")


@pytest.fixture
def earning_rules(district: Region, region_admin: Any) -> Any:
    return earning_rules_publish(
        region=district,
        params={"default_coefficient": 10, "cap_per_activity": 1000, "cap_per_day": 1000},
        effective_from=NOW - dt.timedelta(days=60),
        actor=region_admin,
    )


__all__ = [
    "at",
    "community",
    "earning_rules",
    "first_shift",
    "frozen_clock",
    "give_identity",
    "make_activity",
    "new_volunteer",
    "org",
    "organiser",
    "policy",
    "region_admin",
    "volunteer",
]
