"""Demo activities: a project of the demo organisation with past weekly visits (whose
check-ins the records demo turns into confirmed hours), and activities still to come — one
with open seats, one full with a waitlist, an emergency call-out, and a shift starting soon so
the organiser can show the rotating check-in code at once.

Past activities are history: they are created through ``activity_create`` and then stamped
published at their own past date, and their sign-ups and check-ins are written as they would
have been then (the services refuse to sign anyone up for a shift that has started). Everything
still to come goes through the real services.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services
from zhiyuan.activities.models import (
    Activity,
    ActivityStatus,
    CheckMethod,
    Recurrence,
    ServiceSession,
    Shift,
    Signup,
    SignupStatus,
)
from zhiyuan.ledger.selectors import timebank_items_for
from zhiyuan.organizations.models import Membership, Organization
from zhiyuan.people.models import Skill

if TYPE_CHECKING:
    from zhiyuan.demo.builder import DemoContext

# After the ledger (60), the needs (70) and the organisations' and safeguards' details (200):
# the demo organisation's insurance and agreement exist by then.
ORDER = 210
PAST_WEEKS = 40  # the demo volunteer's weekly visits: 40 × 3 h = 120 h, one star
PLACE = (39.9289, 116.4160)  # 东城区民政服务大厅 (approximately)
OTHER_PEOPLE = 40


def home_organization(ctx: DemoContext) -> Organization:
    grant = RoleGrant.objects.get(user=ctx.accounts[Role.ORG_ADMIN], role=Role.ORG_ADMIN)
    assert grant.organization is not None
    return grant.organization


def members_of(org: Organization, exclude: list[int]) -> list[User]:
    ids = (
        Membership.objects.filter(organization=org, left_at__isnull=True)
        .exclude(user_id__in=exclude)
        .filter(user__volunteer__isnull=False, user__identity__isnull=False)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    return list(User.objects.filter(pk__in=list(ids)).order_by("pk"))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _past_history(
    ctx: DemoContext, org: Organization, organiser: User, volunteer: User, people: list[User]
) -> None:
    """Weekly visits over the past 40 weeks: each past shift has its sign-ups and the
    check-ins and check-outs scanned on the day (QR evidence, a phone clock a few seconds off)."""
    today = timezone.localdate()
    first_day = today - dt.timedelta(weeks=PAST_WEEKS, days=today.weekday() - 2)
    community = ctx.communities[0]
    project = services.project_create(
        organization=org,
        title="“银龄相伴”社区助老服务项目",
        goal="为辖区独居、高龄老人提供每周上门探访、代购和陪伴服务，降低独居风险。",
        starts_on=first_day,
        ends_on=today + dt.timedelta(days=180),
        beneficiaries="东城区独居及高龄老人",
        targets={"people_served": 300, "service_hours": 3000},
        priority_tags=["养老服务", "社区治理", "民生保障"],
        actor=organiser,
    )
    visits = services.activity_create(
        organization=org,
        project=project,
        actor=organiser,
        title="独居老人每周探访",
        description="两人一组上门探访独居老人：聊天陪伴、检查水电燃气、代购生活用品。",
        risks="入户服务注意防滑防跌倒；如遇老人身体不适，立即联系社区医生。",
        activity_type="elder_care",
        category="elder-care",
        region=community,
        place_name="东城区民政服务大厅（集合点）",
        lat=PLACE[0],
        lng=PLACE[1],
        shifts=[services.ShiftSpec(_at(first_day, 9), _at(first_day, 12), 12, role="探访员")],
        recurrence=Recurrence.WEEKLY,
        repeat_until=today - dt.timedelta(days=1),
        skills=[],
    )
    Activity.objects.filter(pk=visits.pk).update(
        status=ActivityStatus.PUBLISHED,
        published_at=_at(first_day, 9) - dt.timedelta(days=7),
        agreement_reasons=["one_month_or_more"],
        agreement_id=_agreement_id(org),
    )
    shifts = list(Shift.objects.filter(activity=visits).order_by("starts_at"))
    signups, sessions = [], []
    for index, shift in enumerate(shifts):
        crew = [volunteer, *ctx.rng.sample(people, k=min(len(people), 5))]
        for person in crew:
            signups.append(
                Signup(
                    shift=shift,
                    volunteer=person,
                    status=SignupStatus.CONFIRMED,
                    signed_up_by=person,
                    created_at=shift.starts_at - dt.timedelta(days=3),
                    decided_at=shift.starts_at - dt.timedelta(days=3),
                )
            )
            came = person == volunteer or ctx.rng.random() < 0.9
            if not came:
                continue
            arrived = shift.starts_at + dt.timedelta(minutes=ctx.rng.randint(0, 8))
            left = shift.ends_at + dt.timedelta(minutes=ctx.rng.randint(-10, 0))
            window = int(arrived.timestamp() // 30)
            sessions.append(
                ServiceSession(
                    volunteer=person,
                    shift=shift,
                    organization=org,
                    checked_in_at=arrived,
                    client_checked_in_at=arrived - dt.timedelta(seconds=ctx.rng.randint(0, 9)),
                    checkin_method=CheckMethod.QR,
                    checkin_evidence={"window": window},
                    checked_out_at=left,
                    client_checked_out_at=left,
                    checkout_method=CheckMethod.QR,
                    checkout_evidence={"window": int(left.timestamp() // 30)},
                )
            )
        if index == len(shifts) - 1:
            # The last visit: one person stayed on well past the shift (flagged for review).
            sessions[-1].checked_out_at = shift.ends_at + dt.timedelta(minutes=75)
    Signup.objects.bulk_create(signups)
    ServiceSession.objects.bulk_create(sessions)
    no_shows = [
        s
        for s in signups
        if not any(x.volunteer_id == s.volunteer_id and x.shift_id == s.shift_id for x in sessions)
    ]
    Signup.objects.filter(pk__in=[s.pk for s in no_shows]).update(status=SignupStatus.NO_SHOW)


def _agreement_id(org: Organization) -> int | None:
    from zhiyuan.safeguards.models import AgreementTemplate

    return (
        AgreementTemplate.objects.filter(organization=org)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def _upcoming(
    ctx: DemoContext, org: Organization, organiser: User, volunteer: User, people: list[User]
) -> None:
    today = timezone.localdate()
    community = ctx.communities[0]
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    first_aid = Skill.objects.filter(code="first-aid").first()
    # The visits count for the time bank; where the street prices service items (the store
    # demo's price list) each visit deposits the price of companionship, not the hours served.
    chat = "chat" if "chat" in {i.code for i in timebank_items_for(community.pk)} else ""

    visits = services.activity_create(
        organization=org,
        actor=organiser,
        title="独居老人每周探访（新一期）",
        description="每周三上午两人一组上门探访独居老人。",
        activity_type="elder_care",
        category="elder-care",
        time_bank=True,
        timebank_item=chat,
        region=community,
        place_name="东城区民政服务大厅（集合点）",
        lat=PLACE[0],
        lng=PLACE[1],
        shifts=[
            services.ShiftSpec(
                _at(today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7), 9),
                _at(today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7), 12),
                8,
                role="探访员",
                min_staff=4,
            )
        ],
        recurrence=Recurrence.WEEKLY,
        repeat_until=today + dt.timedelta(weeks=8),
    )
    services.activity_publish(activity=visits, actor=organiser)
    first_visit = Shift.objects.filter(activity=visits).order_by("starts_at").first()
    assert first_visit is not None
    for person in people[:3]:
        _sign_up(first_visit, person)

    sorting = services.activity_create(
        organization=org,
        actor=organiser,
        title="周末垃圾分类宣传",
        description="在社区广场设摊，向居民讲解垃圾分类。",
        activity_type="outdoor",
        category="environment",
        region=community,
        place_name="社区文化广场",
        lat=PLACE[0] + 0.004,
        lng=PLACE[1] - 0.003,
        checkin_radius_m=150,
        shifts=[services.ShiftSpec(_at(saturday, 9), _at(saturday, 11, 30), 3)],
    )
    services.activity_publish(activity=sorting, actor=organiser)
    shift = Shift.objects.get(activity=sorting)
    for person in people[3:8]:  # three take the seats, two wait
        _sign_up(shift, person)

    flood = services.activity_create(
        organization=org,
        actor=organiser,
        title="汛期应急值守",
        description="暴雨预警期间在低洼院落值守，协助疏导居民。",
        risks="雷雨天气户外值守，注意用电和落水风险。",
        activity_type="emergency",
        region=community,
        place_name="东城区应急物资储备点",
        lat=PLACE[0] - 0.006,
        lng=PLACE[1] + 0.005,
        emergency=True,
        high_risk=True,
        skills=[first_aid] if first_aid else [],
        shifts=[
            services.ShiftSpec(
                _at(today + dt.timedelta(days=4), 18),
                _at(today + dt.timedelta(days=4), 22),
                6,
                role="值守员",
                min_staff=4,
            )
        ],
    )
    services.activity_publish(activity=flood, actor=organiser)

    # Starting within the hour: the organiser can show the rotating code right away.
    soon = timezone.localtime() + dt.timedelta(minutes=30)
    soon = soon.replace(second=0, microsecond=0)
    library = services.activity_create(
        organization=org,
        actor=organiser,
        title="社区图书角整理",
        description="整理图书角，登记新到捐赠图书。",
        activity_type="general",
        category="culture",
        region=community,
        place_name="社区图书角",
        lat=PLACE[0] + 0.001,
        lng=PLACE[1] + 0.001,
        shifts=[services.ShiftSpec(soon, soon + dt.timedelta(hours=2), 10)],
    )
    services.activity_publish(activity=library, actor=organiser)
    today_shift = Shift.objects.get(activity=library)
    for person in [volunteer, *people[8:12]]:
        _sign_up(today_shift, person)


def _sign_up(shift: Shift, person: User) -> None:
    # A demo person who cannot take part (not insured, a clash) is left out, as in life.
    with contextlib.suppress(services.SignupRefused):
        services.signup_create(shift=shift, volunteer=person)


def populate(ctx: DemoContext) -> None:
    org = home_organization(ctx)
    organiser = ctx.accounts[Role.ORG_ADMIN]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    people = members_of(org, exclude=[volunteer.pk, organiser.pk])
    ctx.rng.shuffle(people)
    people = people[:OTHER_PEOPLE]
    # Volunteers act through their role: the demo's generated people get theirs here.
    from zhiyuan.accounts.services import role_grant
    from zhiyuan.safeguards.models import AgreementTemplate
    from zhiyuan.safeguards.selectors import agreement_current_version
    from zhiyuan.safeguards.services import agreement_accept

    template = AgreementTemplate.objects.filter(organization=org).order_by("pk").first()
    version = agreement_current_version(template) if template else None
    for person in people:
        if not RoleGrant.objects.filter(user=person, role=Role.VOLUNTEER).exists():
            role_grant(user=person, role=Role.VOLUNTEER, region=person.volunteer.region)
        if version is not None and ctx.rng.random() < 0.8:
            agreement_accept(version=version, user=person, subject="")
    _past_history(ctx, org, organiser, volunteer, people)
    _upcoming(ctx, org, organiser, volunteer, people)
