"""Writes about people: registering a volunteer, guardians, consent, profile changes, rights
(export, correction, closing the account) and showing masked data in full."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from zhiyuan.accounts.models import ApiToken, PhonePurpose, User, phone_index
from zhiyuan.accounts.otp import CodeRefused, phone_code_check
from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, role_revoke, user_create
from zhiyuan.core.audit import audit_actions, audit_record
from zhiyuan.core.crypto import blind_index
from zhiyuan.core.models import AuditAction
from zhiyuan.core.permissions import require
from zhiyuan.people.identity import (
    CARRIES_BIRTH,
    DocumentType,
    InvalidDocument,
    age_on,
    check_document,
)
from zhiyuan.people.models import (
    SLOTS_PER_WEEK,
    Consent,
    GuardianLink,
    Identity,
    MinorPolicy,
    NoticeKind,
    PrivacyNotice,
    ProfileStatus,
    Qualification,
    Skill,
    VolunteerProfile,
)
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.regions.codes import Level
from zhiyuan.regions.models import Region

ADULT_AGE = 18
CHILD_AGE = 14  # PIPL Art. 28: data of children under 14 is sensitive and needs a parent


@audit_actions
class PeopleAudit(models.TextChoices):
    REGISTERED = "person.registered", gettext_lazy("Volunteer registered")
    GUARDIAN_CONSENTED = "person.guardian_consented", gettext_lazy("Guardian consented")
    CONSENT_GIVEN = "consent.given", gettext_lazy("Consent given")
    CONSENT_WITHDRAWN = "consent.withdrawn", gettext_lazy("Consent withdrawn")
    PROFILE_CHANGED = "person.profile_changed", gettext_lazy("Profile changed")
    PHONE_CHANGED = "person.phone_changed", gettext_lazy("Mobile number changed")
    CLOSED = "person.closed", gettext_lazy("Account closed")


def document_index(document_type: str, number: str) -> str:
    return blind_index(f"{document_type}:{number}", purpose="id_number")


def notice_current(kind: NoticeKind) -> PrivacyNotice:
    return notices_published()[kind]


def notices_published() -> dict[NoticeKind, PrivacyNotice]:
    """The current notice of each kind, publishing version 1 (as migration 0003 does) where a
    database has none — a flushed test or demo database."""
    initial: dict[str, tuple[str, str]] = {}
    for module in ("0003_privacy_notices_v1", "0004_teen_guardian_notice"):
        initial |= importlib.import_module(f"zhiyuan.people.migrations.{module}").NOTICES
    current = {}
    for kind in NoticeKind:
        notice = PrivacyNotice.objects.filter(kind=kind).order_by("-version").first()
        if notice is None:
            zh, en = initial[kind.value]
            notice = PrivacyNotice.objects.create(kind=kind, version=1, text_zh=zh, text_en=en)
        current[kind] = notice
    return current


def consent_active(user: User, kind: NoticeKind) -> bool:
    """Does this person's consent of this kind stand? (Processing stops when it is withdrawn.)"""
    return Consent.objects.filter(
        subject=user, notice__kind=kind, withdrawn_at__isnull=True
    ).exists()


def teens_need_guardian(region: Region) -> bool:
    """The nearest policy up the region tree decides; by default a guardian consents."""
    codes = [region.code[:end].ljust(12, "0") for end in (2, 4, 6, 9, 12)]
    policy = MinorPolicy.objects.filter(region_id__in=codes).order_by("-region_id").first()
    return True if policy is None else policy.teens_need_guardian


def _errors(**messages: str) -> ValidationError:
    return ValidationError({field: [message] for field, message in messages.items()})


def volunteer_register(
    *,
    phone: str,
    code: str,
    name: str,
    document_type: str,
    document_number: str,
    community: str,
    password: str,
    accept_notice: int,
    birth_date: dt.date | None = None,
    sex: str = "",
    guardian_phone: str = "",
    guardian_relation: str = "",
    request: HttpRequest | None = None,
) -> VolunteerProfile:
    """Register a real-name volunteer (Regulations Art. 7).

    Three steps. (1) What can be judged from the form alone (shapes, check characters, the
    community, the password) is refused with a message per field, so the person fixes one thing
    and keeps the rest — the SMS code is not spent. (2) The code is checked and consumed: the
    person now holds the phone. (3) Only then is the database asked whether the phone or the
    document is registered or the guardian exists, so nobody can probe who is a volunteer
    without a phone to prove, at five codes an hour.
    A minor's account waits for the guardian's consent (under 14 always; 14–17 unless the region
    relaxes it).
    """
    name = " ".join((name or "").split())
    errors: dict[str, str] = {}
    if not 2 <= len(name) <= 30:
        errors["name"] = _("Enter your real name as on the document (2 to 30 characters).")
    try:
        phone = normalize_mobile(phone)
    except InvalidPhone as exc:
        errors["phone"] = str(exc)
    facts = None
    try:
        facts = check_document(document_type, document_number)
    except InvalidDocument as exc:
        errors["document_number"] = str(exc)
    except ValueError:
        errors["document_type"] = _("Choose a document type.")
    if facts is not None:
        if facts.derived:
            birth_date, sex = facts.birth_date, facts.sex or ""
        else:
            if birth_date is None:
                errors["birth_date"] = _("Enter your birth date as on the document.")
            if sex not in ("F", "M"):
                errors["sex"] = _("Choose your sex as on the document.")
    region = Region.objects.filter(code=community, level=Level.COMMUNITY).first()
    if region is None:
        errors["community"] = _("Choose the community where you live.")
    try:
        validate_password(password)
    except ValidationError as exc:
        errors["password"] = " ".join(exc.messages)
    notice = notices_published()[NoticeKind.PRIVACY]
    if accept_notice != notice.version:
        errors["accept_notice"] = _("Read and accept the privacy notice to register.")
    age = age_on(birth_date, timezone.localdate()) if birth_date else None
    needs_guardian = age is not None and (
        age < CHILD_AGE or (age < ADULT_AGE and region is not None and teens_need_guardian(region))
    )
    if needs_guardian:
        try:
            normalize_mobile(guardian_phone)
        except InvalidPhone:
            errors["guardian_phone"] = _(
                "Volunteers under 18 need a guardian: enter the mobile number of your parent or "
                "guardian, who must have a Zhiyuan account."
            )
        if not guardian_relation.strip():
            errors["guardian_relation"] = _("Say how your guardian is related to you.")
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})

    try:
        phone_code_check(phone=phone, purpose=PhonePurpose.REGISTER, code=code)
    except CodeRefused as exc:
        raise _errors(code=str(exc)) from exc

    assert facts is not None and region is not None
    if User.objects.filter(phone_index=phone_index(phone)).exists():
        errors["phone"] = _("An account with this mobile number already exists: log in instead.")
    if Identity.objects.filter(document_index=document_index(document_type, facts.number)).exists():
        # Say so without revealing whose it is.
        errors["document_number"] = _(
            "This document is already registered. If it is yours, log in or ask your "
            "community centre for help."
        )
    guardian = guardian_for(guardian_phone) if needs_guardian else None
    if needs_guardian and guardian is None:
        errors["guardian_phone"] = _(
            "No adult with a real-name Zhiyuan account has this number. Your guardian registers "
            "first (or asks the community centre), then you register again."
        )
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})
    try:
        with transaction.atomic(durable=True):
            user = user_create(phone=phone, password=password, name=name)
            Identity.objects.create(
                user=user,
                document_type=document_type,
                document_number=facts.number,
                document_index=document_index(document_type, facts.number),
                birth_date=birth_date,
                sex=sex,
            )
            profile = VolunteerProfile.objects.create(
                user=user,
                volunteer_number=_unique_volunteer_number(),
                region=region,
                status=ProfileStatus.AWAITING_GUARDIAN if guardian else ProfileStatus.ACTIVE,
            )
            Consent.objects.create(subject=user, given_by=user, notice=notice)
            if guardian is not None:
                GuardianLink.objects.create(
                    minor=user, guardian=guardian, relation=guardian_relation.strip()[:20]
                )
            else:
                role_grant(user=user, role=Role.VOLUNTEER, region=region)
            audit_record(
                action=PeopleAudit.REGISTERED,
                actor=user,
                target=profile,
                request=request,
                detail={"document_type": document_type, "minor": guardian is not None},
            )
    except IntegrityError as exc:  # a simultaneous registration of the same number or phone
        raise _errors(document_number=_("This document is already registered.")) from exc
    return profile


def guardian_for(phone: str) -> User | None:
    """The active adult with a real-name identity who holds this number, if any."""
    try:
        user = User.objects.filter(phone_index=phone_index(phone), is_active=True).first()
    except InvalidPhone:
        return None
    identity = Identity.objects.filter(user=user).first() if user else None
    if identity is None or identity.birth_date is None:
        return None
    return user if age_on(identity.birth_date, timezone.localdate()) >= ADULT_AGE else None


def _guardian_notice_kind(minor: User) -> NoticeKind:
    identity = Identity.objects.filter(user=minor).first()
    birth = identity.birth_date if identity else None
    young = birth is not None and age_on(birth, timezone.localdate()) < CHILD_AGE
    return NoticeKind.CHILD_DATA if young else NoticeKind.TEEN_GUARDIAN


def _unique_volunteer_number() -> str:
    while True:
        number = new_volunteer_number()
        if not VolunteerProfile.objects.filter(volunteer_number=number).exists():
            return number


@transaction.atomic
def guardian_consent(
    *, guardian: User, link: GuardianLink, request: HttpRequest | None = None
) -> None:
    """The guardian agrees: the minor's account starts working (and, under 14, the guardian's
    consent to processing the child's data is recorded, PIPL Art. 31)."""
    if link.guardian_id != guardian.pk or link.revoked_at is not None:
        raise PermissionDenied(_("Only the named guardian can consent."))
    if link.consented_at is not None:
        return
    link.consented_at = timezone.now()
    link.save(update_fields=["consented_at"])
    minor = link.minor
    profile = VolunteerProfile.objects.select_for_update().get(user=minor)
    Consent.objects.create(
        subject=minor, given_by=guardian, notice=notice_current(_guardian_notice_kind(minor))
    )
    if profile.status == ProfileStatus.AWAITING_GUARDIAN:
        profile.status = ProfileStatus.ACTIVE
        profile.save(update_fields=["status"])
        role_grant(user=minor, role=Role.VOLUNTEER, region=profile.region)
    audit_record(
        action=PeopleAudit.GUARDIAN_CONSENTED, actor=guardian, target=link, request=request
    )


GUARDIAN_KINDS = (NoticeKind.CHILD_DATA, NoticeKind.TEEN_GUARDIAN)


@transaction.atomic
def guardian_withdraw(
    *, guardian: User, link: GuardianLink, request: HttpRequest | None = None
) -> None:
    """The guardian withdraws their consent: the minor's account stops working until they
    consent again (PIPL Art. 31; the child cannot withdraw the guardian's consent)."""
    if link.guardian_id != guardian.pk:
        raise PermissionDenied(_("Only the named guardian can consent."))
    now = timezone.now()
    Consent.objects.filter(
        subject=link.minor,
        given_by=guardian,
        notice__kind__in=GUARDIAN_KINDS,
        withdrawn_at__isnull=True,
    ).update(withdrawn_at=now)
    link.consented_at = None
    link.save(update_fields=["consented_at"])
    VolunteerProfile.objects.filter(user=link.minor, status=ProfileStatus.ACTIVE).update(
        status=ProfileStatus.AWAITING_GUARDIAN
    )
    for grant in link.minor.grants.filter(role=Role.VOLUNTEER, revoked_at__isnull=True):
        role_revoke(grant=grant, request=request)
    audit_record(
        action=PeopleAudit.CONSENT_WITHDRAWN,
        actor=guardian,
        target=link,
        request=request,
        detail={"kind": "guardian"},
    )


@transaction.atomic
def consent_give(*, user: User, kind: NoticeKind, request: HttpRequest | None = None) -> Consent:
    notice = notice_current(kind)
    existing = Consent.objects.filter(
        subject=user, notice=notice, withdrawn_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    consent = Consent.objects.create(subject=user, given_by=user, notice=notice)
    audit_record(
        action=PeopleAudit.CONSENT_GIVEN,
        actor=user,
        target=consent,
        request=request,
        detail={"kind": kind.value, "version": notice.version},
    )
    return consent


@transaction.atomic
def consent_withdraw(*, user: User, kind: NoticeKind, request: HttpRequest | None = None) -> int:
    """Withdraw every standing consent of this kind; processing that needs it stops."""
    if kind == NoticeKind.PRIVACY:
        raise ValidationError(
            _("The privacy notice is what the account rests on: close the account instead.")
        )
    if kind in GUARDIAN_KINDS:
        raise ValidationError(_("Only your guardian can withdraw the consent they gave."))
    count = Consent.objects.filter(
        subject=user, notice__kind=kind, withdrawn_at__isnull=True
    ).update(withdrawn_at=timezone.now())
    if count:
        audit_record(
            action=PeopleAudit.CONSENT_WITHDRAWN,
            actor=user,
            target=user,
            request=request,
            detail={"kind": kind.value},
        )
    return count


PROFILE_FIELDS = {
    "max_travel_km",
    "emergency_ok",
    "address",
    "languages",
    "tags",
    "party_member",
    "party_organization",
    "workplace",
    "home_lat",
    "home_lng",
    "availability",
}


@transaction.atomic
def profile_update(
    *,
    profile: VolunteerProfile,
    actor: User,
    skills: Iterable[Skill] | None = None,
    request: HttpRequest | None = None,
    **changes: Any,
) -> VolunteerProfile:
    """A volunteer corrects their own profile (PIPL Art. 46). Only named fields change."""
    if actor.pk != profile.user_id:
        raise PermissionDenied(_("Only the volunteer can change this profile."))
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    if "availability" in changes and not 0 <= changes["availability"] < 1 << SLOTS_PER_WEEK:
        raise _errors(availability=_("Availability has 21 weekly slots."))
    if "max_travel_km" in changes and not 0 < changes["max_travel_km"] <= 100:
        raise _errors(max_travel_km=_("Choose a distance between 1 and 100 km."))
    for point in ("home_lat", "home_lng"):
        if changes.get(point) is not None:
            # About 100 m: enough to match by distance, too coarse to find a door.
            changes[point] = round(float(changes[point]), 3)
    for field, value in changes.items():
        setattr(profile, field, value)
    profile.save(update_fields=list(changes))
    changed = sorted(changes)
    if skills is not None:
        profile.skills.set(list(skills))
        changed.append("skills")
    audit_record(
        action=PeopleAudit.PROFILE_CHANGED,
        actor=actor,
        target=profile,
        request=request,
        detail={"fields": changed},  # which fields, never their values
    )
    return profile


@transaction.atomic
def qualification_add(
    *, profile: VolunteerProfile, actor: User, request: HttpRequest | None = None, **fields: Any
) -> Qualification:
    if actor.pk != profile.user_id:
        raise PermissionDenied(_("Only the volunteer can change this profile."))
    qualification = Qualification(profile=profile, **fields)
    qualification.full_clean(exclude=["profile"])
    qualification.save()
    audit_record(
        action=PeopleAudit.PROFILE_CHANGED,
        actor=actor,
        target=profile,
        request=request,
        detail={"fields": ["qualifications"], "added": qualification.kind},
    )
    return qualification


@transaction.atomic
def qualification_remove(
    *, qualification: Qualification, actor: User, request: HttpRequest | None = None
) -> None:
    if actor.pk != qualification.profile.user_id:
        raise PermissionDenied(_("Only the volunteer can change this profile."))
    audit_record(
        action=PeopleAudit.PROFILE_CHANGED,
        actor=actor,
        target=qualification.profile,
        request=request,
        detail={"fields": ["qualifications"], "removed": qualification.kind},
    )
    qualification.delete()


def person_export(*, user: User, request: HttpRequest | None = None) -> dict[str, Any]:
    """Everything Zhiyuan holds about a person, for the person (PIPL Art. 45), in full."""
    identity = Identity.objects.filter(user=user).first()
    profile = (
        VolunteerProfile.objects.filter(user=user)
        .select_related("region")
        .prefetch_related("skills", "qualifications")
        .first()
    )
    data: dict[str, Any] = {
        "account": {
            "name": user.name,
            "mobile": user.phone,
            "language": user.language,
            "joined": user.date_joined.isoformat(),
        },
        "roles": [
            {"role": g.role, "region": g.region_id, "organization": g.organization_id}
            for g in user.grants.filter(revoked_at__isnull=True)
        ],
        "consents": [
            {
                "notice": c.notice.kind,
                "version": c.notice.version,
                "given_at": c.given_at.isoformat(),
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in Consent.objects.filter(subject=user).select_related("notice")
        ],
        "memberships": [
            {
                "organization": m.organization.name,
                "role": m.role,
                "joined": m.joined_at.isoformat(),
                "left": m.left_at.isoformat() if m.left_at else None,
            }
            for m in user.memberships.select_related("organization")
        ],
    }
    if identity is not None:
        data["identity"] = {
            "document_type": identity.document_type,
            "document_number": identity.document_number,
            "birth_date": identity.birth_date.isoformat() if identity.birth_date else None,
            "sex": identity.sex,
        }
    if profile is not None:
        data["volunteer"] = {
            "volunteer_number": profile.volunteer_number,
            "community": profile.region.name,
            "status": profile.status,
            "skills": [s.code for s in profile.skills.all()],
            "tags": profile.tags,
            "languages": profile.languages,
            "availability_slots": [
                s for s in range(SLOTS_PER_WEEK) if profile.availability >> s & 1
            ],
            "address": profile.address,
            "home_point": [profile.home_lat, profile.home_lng],
            "max_travel_km": profile.max_travel_km,
            "emergency_ok": profile.emergency_ok,
            "party_member": profile.party_member,
            "party_organization": profile.party_organization,
            "workplace": profile.workplace,
            "qualifications": [
                {
                    "kind": q.kind,
                    "title": q.title,
                    "issuer": q.issuer,
                    "number": q.number,
                    "valid_until": q.valid_until.isoformat() if q.valid_until else None,
                }
                for q in profile.qualifications.all()
            ],
        }
    audit_record(action=AuditAction.EXPORT, actor=user, target=user, request=request)
    return data


def person_close(*, user: User, password: str, request: HttpRequest | None = None) -> None:
    """Close an account (PIPL Art. 47): personal data erased, records kept under the volunteer
    number as the Regulations require (Art. 19). The person can no longer log in."""
    if not user.check_password(password):
        raise _errors(password=_("The password is not right."))
    with transaction.atomic():
        person_erase(user=user, reason="closed", request=request)


def person_erase(*, user: User, reason: str, request: HttpRequest | None = None) -> None:
    """Erase a person's personal data and end their account; keep the volunteer number and
    what hangs on it. ``reason``: "closed" by the person, "unconsented_minor" by retention."""
    now = timezone.now()
    user = User.objects.select_for_update().get(pk=user.pk)
    for grant in user.grants.filter(revoked_at__isnull=True):
        role_revoke(grant=grant, revoked_by=None, request=request)
    user.name = ""
    user.phone = ""
    user.phone_index = f"closed-{user.pk}"
    user.is_active = False
    user.closed_at = now
    user.set_unusable_password()  # also ends every session: their auth hash no longer matches
    user.save()
    Identity.objects.filter(user=user).update(
        document_number="", document_index=f"closed-{user.pk}", birth_date=None, sex=""
    )
    profile = VolunteerProfile.objects.filter(user=user).first()
    if profile is not None:
        profile.qualifications.all().delete()
        profile.skills.clear()
        erased: dict[str, Any] = {
            "status": ProfileStatus.CLOSED,
            "address": "",
            "home_lat": None,
            "home_lng": None,
            "languages": [],
            "tags": [],
            "party_member": False,
            "party_organization": "",
            "workplace": "",
            "availability": 0,
            "emergency_ok": False,
        }
        for field, value in erased.items():
            setattr(profile, field, value)
        profile.save()
    Consent.objects.filter(subject=user, withdrawn_at__isnull=True).update(withdrawn_at=now)
    GuardianLink.objects.filter(minor=user, revoked_at__isnull=True).update(revoked_at=now)
    # As a guardian, the person's wards go back to waiting for a guardian.
    for link in GuardianLink.objects.filter(guardian=user, revoked_at__isnull=True):
        if link.consented_at is not None:
            guardian_withdraw(guardian=user, link=link, request=request)
        link.revoked_at = now
        link.save(update_fields=["revoked_at"])
    TOTPDevice.objects.filter(user=user).delete()
    ApiToken.objects.filter(user=user).delete()
    audit_record(
        action=PeopleAudit.CLOSED,
        actor=user if reason == "closed" else None,
        target=user,
        request=request,
        detail={"reason": reason},
    )


def person_erase_unconsented_minors(now: dt.datetime | None = None) -> int:
    """Retention: a minor's registration that no guardian agreed to within 30 days is erased,
    so that a child's identity is not kept for an account that never worked."""
    now = now or timezone.now()
    stale = VolunteerProfile.objects.filter(
        status=ProfileStatus.AWAITING_GUARDIAN,
        registered_at__lt=now - dt.timedelta(days=30),
    ).exclude(user__guardian_links__consented_at__isnull=False)
    count = 0
    for profile in stale.select_related("user"):
        with transaction.atomic():
            person_erase(user=profile.user, reason="unconsented_minor")
        count += 1
    return count


UNMASKABLE = {"phone", "document_number", "address"}


def person_unmask(
    *,
    actor: User,
    profile: VolunteerProfile,
    field: str,
    reason: str,
    request: HttpRequest | None = None,
) -> str:
    """Show one personal value in full, to someone allowed to, for a stated reason — audited."""
    if field not in UNMASKABLE:
        raise ValueError(f"{field} cannot be unmasked")
    require(actor, "pii.unmask", profile, request=request)
    reason = " ".join((reason or "").split())
    if len(reason) < 4:
        raise _errors(reason=_("Say why you need to see this in full (at least 4 characters)."))
    if re.search(r"\d{6,}", reason):
        # The reason goes into the audit log, which holds no personal data in clear.
        raise _errors(reason=_("Give the reason in words, without phone or document numbers."))
    with transaction.atomic():
        audit_record(
            action=AuditAction.UNMASK,
            actor=actor,
            target=profile,
            request=request,
            detail={"field": field, "reason": reason[:200]},
        )
    if field == "phone":
        return profile.user.phone
    if field == "address":
        return profile.address
    identity = Identity.objects.filter(user_id=profile.user_id).first()
    return identity.document_number if identity else ""


def phone_change(
    *,
    user: User,
    password: str,
    new_phone: str,
    code: str,
    request: HttpRequest | None = None,
) -> None:
    """Change the log-in number: the password again, and a code sent to the new number."""
    if not user.check_password(password):
        raise _errors(password=_("The password is not right."))
    try:
        new_phone = normalize_mobile(new_phone)
    except InvalidPhone as exc:
        raise _errors(new_phone=str(exc)) from exc
    if User.objects.filter(phone_index=phone_index(new_phone)).exclude(pk=user.pk).exists():
        raise _errors(new_phone=_("An account with this mobile number already exists."))
    try:
        phone_code_check(phone=new_phone, purpose=PhonePurpose.CHANGE_PHONE, code=code)
    except CodeRefused as exc:
        raise _errors(code=str(exc)) from exc
    try:
        with transaction.atomic(durable=True):
            user.phone = new_phone
            user.phone_index = phone_index(new_phone)
            user.save(update_fields=["phone", "phone_index"])
            audit_record(action=PeopleAudit.PHONE_CHANGED, actor=user, target=user, request=request)
    except IntegrityError as exc:  # someone registered the number a moment ago
        raise _errors(new_phone=_("An account with this mobile number already exists.")) from exc
    if request is not None:
        update_session_auth_hash(request, user)


def birth_is_derived(document_type: str) -> bool:
    return DocumentType(document_type) in CARRIES_BIRTH
