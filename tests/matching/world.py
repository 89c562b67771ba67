"""A small district for the matching integration tests: volunteers placed by kilometres around
a home point, needs posted through the needs app's real service, a dispatcher and outsiders.

Import the fixtures into a test module (``from tests.matching.world import clock, mworld``);
they are not in a conftest so that the engine's pure tests stay free of the database."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.needs import services as need_services
from zhiyuan.needs.models import Need, NeedCategory
from zhiyuan.organizations.models import MemberRole, Membership, Organization
from zhiyuan.people.models import Qualification, Skill, VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.regions.models import Region

TZ = ZoneInfo("Asia/Shanghai")
# A Monday morning in Beijing: the week runs 2 to 8 March 2026.
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
HOME = (39.925, 116.417)
EVERY_SLOT = (1 << 21) - 1
KM_PER_DEG = 6371.0088 * math.pi / 180


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, Beijing time."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=TZ)


def point(east_km: float = 0.0, north_km: float = 0.0) -> tuple[float, float]:
    """The WGS-84 point ``east_km`` east and ``north_km`` north of HOME."""
    lat = HOME[0] + north_km / KM_PER_DEG
    lng = HOME[1] + east_km / (KM_PER_DEG * math.cos(math.radians(HOME[0])))
    return lat, lng


def slot(day: int, part: int) -> int:
    """Bit of weekly slot (day 0 = Monday, part 0 = morning)."""
    return 1 << (day * 3 + part)


@dataclass
class MWorld:
    district: Region
    community: Region
    other_community: Region
    other_district: Region
    dispatcher: User
    outsider_dispatcher: User
    resident: User
    category: NeedCategory
    org: Organization
    org_admin: User
    outsider_org_admin: User
    skills: dict[str, Skill] = field(default_factory=dict)

    def volunteer(
        self,
        name: str,
        east: float = 0.0,
        north: float = 0.0,
        *,
        skills: Sequence[str] = (),
        availability: int = EVERY_SLOT,
        max_travel_km: int = 5,
        emergency_ok: bool = False,
        qualifications: Sequence[tuple[str, dt.date | None]] = (),
        region: Region | None = None,
    ) -> User:
        region = region or self.community
        user = make_user(Role.VOLUNTEER, region=region, name=name)
        lat, lng = point(east, north)
        profile = VolunteerProfile.objects.create(
            user=user,
            volunteer_number=new_volunteer_number(),
            region=region,
            home_lat=lat,
            home_lng=lng,
            availability=availability,
            max_travel_km=max_travel_km,
            emergency_ok=emergency_ok,
        )
        profile.skills.set([self.skill(code) for code in skills])
        for kind, until in qualifications:
            Qualification.objects.create(
                profile=profile, kind=kind, issuer="北京市卫健委", valid_until=until
            )
        return user

    def skill(self, code: str) -> Skill:
        if code not in self.skills:
            self.skills[code], _ = Skill.objects.get_or_create(
                code=code, defaults={"name_zh": f"技能{code}", "name_en": f"Skill {code}"}
            )
        return self.skills[code]

    def need(
        self,
        east: float = 0.0,
        north: float = 0.0,
        *,
        poster: User | None = None,
        skills: Sequence[str] = (),
        region: Region | None = None,
        **fields: Any,
    ) -> Need:
        lat, lng = point(east, north)
        for code in skills:
            self.skill(code)
        posting = need_services.Posting(
            region=(region or self.community).code,
            category=self.category.pk,
            description=fields.pop("description", "帮忙买菜送到家"),
            address="东城区某街道1号楼2单元301",
            lat=lat,
            lng=lng,
            skills=list(skills),
            **fields,
        )
        return need_services.need_submit(poster=poster or self.resident, posting=posting)


def build_world(district: Region, other_district: Region) -> MWorld:
    need_services.category_seed()
    community = Region.objects.get(code="110101001001")
    other_community = Region.objects.get(code="110101002001")
    org = OrganizationFactory(region=district, name="东城区助老服务队")
    org_admin = make_user(Role.ORG_ADMIN, organization=org, name="张丽")
    Membership.objects.create(organization=org, user=org_admin, role=MemberRole.ADMIN)
    other_org = OrganizationFactory(region=other_district, name="西城区志愿服务队")
    outsider_org_admin = make_user(Role.ORG_ADMIN, organization=other_org, name="赵强")
    return MWorld(
        district=district,
        community=community,
        other_community=other_community,
        other_district=other_district,
        dispatcher=make_user(Role.DISPATCHER, region=district, name="刘洋"),
        outsider_dispatcher=make_user(Role.DISPATCHER, region=other_district, name="孙悦"),
        resident=make_user(Role.RESIDENT, region=community, name="王秀兰"),
        category=NeedCategory.objects.get(code="daily_living.shopping"),
        org=org,
        org_admin=org_admin,
        outsider_org_admin=outsider_org_admin,
    )


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mworld(clock: Any, district: Region, other_district: Region) -> MWorld:
    return build_world(district, other_district)
