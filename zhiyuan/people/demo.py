"""Demo people: real-looking identities (valid check characters, made-up people),
qualifications, in-service party members, and a teenager waiting for her guardian."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone
from stdnum.cn import ric

from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import user_create
from zhiyuan.people.identity import DocumentType, InvalidDocument, Sex, check_document
from zhiyuan.people.models import (
    Consent,
    GuardianLink,
    Identity,
    NoticeKind,
    ProfileStatus,
    Qualification,
    QualificationKind,
    VolunteerProfile,
)
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.people.services import document_index, notices_published

if TYPE_CHECKING:
    from zhiyuan.demo.builder import DemoContext

ORDER = 10
PARTY_ORGS = [
    "东城区委机关党支部",
    "北京市第二中学党支部",
    "东城区卫健委党支部",
    "王府井街道工委党支部",
]
QUALIFICATIONS = [
    (QualificationKind.FIRST_AID, "红十字救护员证", "北京市红十字会"),
    (QualificationKind.NURSE, "护士执业证书", "北京市卫生健康委员会"),
    (QualificationKind.DOCTOR, "医师执业证书", "北京市卫生健康委员会"),
    (QualificationKind.LAWYER, "律师执业证", "北京市司法局"),
    (QualificationKind.TEACHER, "教师资格证", "北京市教育委员会"),
    (QualificationKind.SOCIAL_WORKER, "社会工作者职业水平证书", "民政部"),
    (QualificationKind.DRIVER, "机动车驾驶证", "北京市公安局公安交通管理局"),
]


def _id_number(ctx: DemoContext, min_age: int, max_age: int) -> str:
    while True:
        number: str = ctx.fake.ssn(min_age=min_age, max_age=max_age)  # type: ignore[call-arg]
        try:
            check_document(DocumentType.RESIDENT_ID, number)
        except InvalidDocument:
            continue  # Faker's region codes are not all real ones
        return number


def populate(ctx: DemoContext) -> None:
    notice = notices_published()[NoticeKind.PRIVACY]
    today = timezone.localdate()
    identities, consents, qualifications = [], [], []
    used: set[str] = set()
    profiles = [*ctx.volunteers, VolunteerProfile.objects.get(user=ctx.accounts[Role.VOLUNTEER])]
    for profile in profiles:
        number = _id_number(ctx, 18, 75)
        while number in used:
            number = _id_number(ctx, 18, 75)
        used.add(number)
        identities.append(
            Identity(
                user_id=profile.user_id,
                document_type=DocumentType.RESIDENT_ID,
                document_number=number,
                document_index=document_index(DocumentType.RESIDENT_ID, number),
                birth_date=ric.get_birth_date(number),
                sex=Sex.MALE if int(number[16]) % 2 else Sex.FEMALE,
            )
        )
        consents.append(
            Consent(subject_id=profile.user_id, given_by_id=profile.user_id, notice=notice)
        )
        if ctx.rng.random() < 0.12:
            kind, title, issuer = ctx.rng.choice(QUALIFICATIONS)
            # Some have lapsed: matching must see that a qualification expired.
            valid = today + dt.timedelta(days=ctx.rng.randint(-200, 1500))
            qualifications.append(
                Qualification(
                    profile=profile, kind=kind, title=title, issuer=issuer, valid_until=valid
                )
            )
    Identity.objects.bulk_create(identities, batch_size=500)
    Consent.objects.bulk_create(consents, batch_size=1000)
    Qualification.objects.bulk_create(qualifications, batch_size=500)

    party = [p for p in ctx.volunteers if ctx.rng.random() < 0.15]
    for profile in party:
        profile.party_member = True
        profile.party_organization = ctx.rng.choice(PARTY_ORGS)
        profile.workplace = ctx.rng.choice(
            ["东城区政府", "北京市第二中学", "东城区卫健委", "王府井街道办事处"]
        )
    VolunteerProfile.objects.bulk_update(party, ["party_member", "party_organization", "workplace"])

    # A 15-year-old who named the demo resident (her grandmother) as guardian: the resident
    # sees the request under "My wards".
    teen = user_create(phone="13900000010", password=None, name="王小玲")
    number = _id_number(ctx, 15, 15)
    Identity.objects.create(
        user=teen,
        document_type=DocumentType.RESIDENT_ID,
        document_number=number,
        document_index=document_index(DocumentType.RESIDENT_ID, number),
        birth_date=ric.get_birth_date(number),
        sex=Sex.FEMALE,
    )
    VolunteerProfile.objects.create(
        user=teen,
        volunteer_number=new_volunteer_number(ctx.rng),
        region=ctx.communities[0],
        status=ProfileStatus.AWAITING_GUARDIAN,
        availability=0b111_111 << 15,  # weekends
    )
    Consent.objects.create(subject=teen, given_by=teen, notice=notice)
    GuardianLink.objects.create(minor=teen, guardian=ctx.accounts[Role.RESIDENT], relation="奶奶")
