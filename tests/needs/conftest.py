"""A small district where needs are posted, dispatched, served and rated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.needs import services
from zhiyuan.needs.models import Need, NeedCategory
from zhiyuan.organizations.models import MemberRole, Membership, Organization
from zhiyuan.people.models import Skill, VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.regions.models import Region

HOME = (39.925, 116.417)


@dataclass
class World:
    district: Region
    community: Region
    other_community: Region
    resident: User
    dispatcher: User
    volunteers: list[User]
    team: Organization
    team_admin: User
    outsider: User
    category: NeedCategory

    def need(self, **overrides: Any) -> Need:
        data: dict[str, Any] = {
            "region": self.community.code,
            "category": self.category.pk,
            "description": "帮忙买菜送到家",
            "address": "东城区某街道1号楼2单元301",
            "lat": HOME[0],
            "lng": HOME[1],
        }
        poster = overrides.pop("poster", self.resident)
        data.update(overrides)
        return services.need_submit(poster=poster, posting=services.Posting(**data))


def make_profile(
    user: User, region: Region, lat: float = HOME[0], lng: float = HOME[1], **kw: Any
) -> VolunteerProfile:
    return VolunteerProfile.objects.create(
        user=user,
        volunteer_number=new_volunteer_number(),
        region=region,
        home_lat=lat,
        home_lng=lng,
        availability=(1 << 21) - 1,
        max_travel_km=kw.pop("max_travel_km", 5),
        **kw,
    )


@pytest.fixture(autouse=True)
def _simple_ranker(settings: Any) -> None:
    # These tests pin the needs app's own ranker; the deployment's default (the matching
    # engine's adapter) is exercised by tests/matching and by test_ranking's protocol test.
    settings.ZHIYUAN_NEED_RANKER = "zhiyuan.needs.ranking.SimpleRanker"


@pytest.fixture
def world(district: Region) -> World:
    services.category_seed()
    community = Region.objects.get(code="110101001001")
    other = Region.objects.get(code="110101002001")
    resident = make_user(Role.RESIDENT, region=community, name="王秀兰")
    dispatcher = make_user(Role.DISPATCHER, region=district, name="刘洋")
    Skill.objects.get_or_create(
        code="cooking", defaults={"name_zh": "助餐送餐", "name_en": "Meals"}
    )
    volunteers = []
    for i in range(3):
        v = make_user(Role.VOLUNTEER, region=community, name=f"志愿者{i}")
        make_profile(v, community, lat=HOME[0] + 0.002 * i, lng=HOME[1])
        volunteers.append(v)
    team = OrganizationFactory(region=district, name="东城区助老服务队")
    team_admin = make_user(Role.ORG_ADMIN, organization=team, name="张丽")
    Membership.objects.create(organization=team, user=team_admin, role=MemberRole.ADMIN)
    Membership.objects.create(organization=team, user=volunteers[2])
    outsider = make_user(Role.RESIDENT, region=other, name="外人")
    category = NeedCategory.objects.get(code="daily_living.shopping")
    return World(
        district,
        community,
        other,
        resident,
        dispatcher,
        volunteers,
        team,
        team_admin,
        outsider,
        category,
    )


@dataclass
class Bank:
    """A time-bank member (a volunteer) with 600 minutes of credit, their mother (aged 70,
    with the world's resident as her account) and a cousin (36) registered by the community."""

    member: User
    mother: Any
    cousin: Any
    admin: User


@pytest.fixture
def bank(world: World) -> Bank:
    import datetime as dt

    from zhiyuan.ledger import services as ledger
    from zhiyuan.ledger.models import Relation

    admin = make_user(Role.REGION_ADMIN, region=world.district, name="陈静")
    member = make_user(Role.VOLUNTEER, region=world.community, name="李志强")
    ledger.ledger_import_opening_balance(
        user=member, region=world.district, minutes=600, reference=f"paper-{member.pk}"
    )
    mother = ledger.relative_register(
        member=member,
        relation=Relation.PARENT,
        name="王秀兰",
        birth_date=dt.date(1956, 4, 12),
        region=world.community,
        registered_by=admin,
        account_user=world.resident,
    )
    cousin = ledger.relative_register(
        member=member,
        relation=Relation.OTHER,
        name="李四",
        birth_date=dt.date(1990, 1, 1),
        region=world.community,
        registered_by=admin,
    )
    return Bank(member, mother, cousin, admin)


@dataclass
class Centre:
    """The district's civilisation-practice centre, as a verified organisation with an admin."""

    organization: Organization
    admin: User


@pytest.fixture
def centre(world: World) -> Centre:
    org = OrganizationFactory(region=world.district, name="东城区新时代文明实践中心")
    admin = make_user(Role.ORG_ADMIN, organization=org, name="吴敏")
    region_admin = make_user(Role.REGION_ADMIN, region=world.district)
    services.need_record_organization_set(
        region=world.district, organization=org, actor=region_admin
    )
    return Centre(org, admin)


def minutes_of(user: User) -> int:
    from zhiyuan.ledger.selectors import balances_of

    return balances_of(user)["time_minutes"]
