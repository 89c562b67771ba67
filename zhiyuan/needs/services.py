"""Every write about needs. Each state change is one service here: it checks who may do it
(roles through ``core.permissions``, the party through ``states.transition_check``), locks the
need, changes it, writes a NeedEvent and an audit entry, and tells the people concerned
(``notifications.notify``, carried by the worker after commit).

Permission refusals are checked before the write's transaction opens, so their audit entry
stays; a refused transition raises ``IllegalTransition`` (HTTP 409) before anything changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile
from zhiyuan.core.audit import audit_record
from zhiyuan.core.crypto import blind_index
from zhiyuan.core.permissions import has_perm, record_refusal, require
from zhiyuan.needs import selectors
from zhiyuan.needs.models import (
    HOLDING,
    AssignmentState,
    Need,
    NeedAssignment,
    NeedAudit,
    NeedCategory,
    NeedEvent,
    NeedPhoto,
    NeedPolicy,
    NeedRating,
    NeedTimeLimit,
    ProxyRelation,
    RecordStatus,
    Urgency,
)
from zhiyuan.needs.ranking import distance_km
from zhiyuan.needs.states import (
    OPEN,
    UNACCEPTED,
    Action,
    IllegalTransition,
    NeedState,
    Party,
    target_of,
    transition_check,
)
from zhiyuan.needs.taxonomy import SEED
from zhiyuan.notifications.services import notify
from zhiyuan.organizations.models import Organization
from zhiyuan.people.models import (
    NoticeKind,
    ProfileStatus,
    QualificationKind,
    Skill,
)
from zhiyuan.regions.codes import Level, code_contains
from zhiyuan.regions.models import Region

logger = logging.getLogger("zhiyuan.needs")
A, S = Action, NeedState

MAX_DESCRIPTION = 1000
MAX_NOTE = 500
MAX_PHOTOS = 6
PHOTO_MAX_BYTES = 5 * 1024 * 1024
RATING_TAGS = {
    "on_time": gettext_lazy("On time"),
    "kind": gettext_lazy("Kind and patient"),
    "skilled": gettext_lazy("Knew what to do"),
    "solved": gettext_lazy("The problem is solved"),
    "late": gettext_lazy("Came late"),
    "unsolved": gettext_lazy("The problem is not solved"),
    "rude": gettext_lazy("Impolite"),
}


def _errors(**fields: str) -> ValidationError:
    return ValidationError({field: [message] for field, message in fields.items()})


# --- the taxonomy and the region's rules -------------------------------------------------------


def category_seed() -> int:
    """Write the national categories (idempotent); the number added."""
    added = 0
    for sort, (code, zh, en, skill, items) in enumerate(SEED):
        top, created = NeedCategory.objects.get_or_create(
            code=code,
            defaults={"name_zh": zh, "name_en": en, "skill_code": skill, "sort": sort * 100},
        )
        added += created
        for n, (item, izh, ien, iskill) in enumerate(items):
            _, created = NeedCategory.objects.get_or_create(
                code=f"{code}.{item}",
                defaults={
                    "name_zh": izh,
                    "name_en": ien,
                    "skill_code": iskill,
                    "parent": top,
                    "sort": sort * 100 + n + 1,
                },
            )
            added += created
    return added


def category_save(
    *,
    region: Region,
    name_zh: str,
    name_en: str,
    parent: NeedCategory | None = None,
    skill_code: str = "",
    category: NeedCategory | None = None,
    actor: User,
    request: HttpRequest | None = None,
) -> NeedCategory:
    """Add an entry to the region's taxonomy, or rename one the region added."""
    require(actor, "need.categories", region, request=request)
    with transaction.atomic():
        return _category_save(
            region, name_zh, name_en, parent, skill_code, category, actor, request
        )


def _category_save(
    region: Region,
    name_zh: str,
    name_en: str,
    parent: NeedCategory | None,
    skill_code: str,
    category: NeedCategory | None,
    actor: User,
    request: HttpRequest | None,
) -> NeedCategory:
    name_zh, name_en = name_zh.strip(), name_en.strip()
    errors: dict[str, str] = {}
    if not name_zh:
        errors["name_zh"] = _("Give the Chinese name.")
    if not name_en:
        errors["name_en"] = _("Give the English name.")
    if parent is not None and parent.parent_id is not None:
        errors["parent"] = _("Categories have two levels: choose a top-level group.")
    if parent is not None and parent.region_id and not code_contains(parent.region_id, region.code):
        errors["parent"] = _("This group belongs to another region.")
    if skill_code and not Skill.objects.filter(code=skill_code).exists():
        errors["skill_code"] = _("There is no such skill.")
    if errors:
        raise _errors(**errors)
    if category is None:
        category = NeedCategory(
            region=region, code=f"r{region.code}.{timezone.now():%Y%m%d%H%M%S%f}"
        )
    elif category.region_id != region.code:
        raise PermissionDenied(_("Only the region that added an entry may change it."))
    category.name_zh, category.name_en = name_zh[:60], name_en[:80]
    category.parent = parent
    category.skill_code = skill_code
    category.save()
    audit_record(action=NeedAudit.CATEGORY_SAVED, actor=actor, target=category, request=request)
    return category


def category_retire(
    *, category: NeedCategory, actor: User, request: HttpRequest | None = None
) -> NeedCategory:
    """Stop offering an entry the region added (needs already posted keep it)."""
    if category.region_id is None:
        raise PermissionDenied(_("National categories cannot be retired by a region."))
    require(actor, "need.categories", category, request=request)
    with transaction.atomic():
        category = NeedCategory.objects.select_for_update().get(pk=category.pk)
        if category.retired_at is not None:
            return category
        category.retired_at = timezone.now()
        category.save(update_fields=["retired_at"])
        audit_record(
            action=NeedAudit.CATEGORY_SAVED,
            actor=actor,
            target=category,
            request=request,
            detail={"retired": True},
        )
        return category


def need_policy_set(
    *,
    region: Region,
    teams_may_grab: bool,
    low_rating: int,
    limits: dict[str, tuple[int, int, int]],
    actor: User,
    request: HttpRequest | None = None,
) -> NeedPolicy:
    """Set a region's rules: team grabbing, the follow-up threshold and the time limits
    (minutes to review, to accept after dispatch, to start) per urgency."""
    require(actor, "need.policy", region, request=request)
    if not 1 <= low_rating <= 4:
        raise _errors(low_rating=_("Choose a rating from 1 to 4."))
    for urgency, minutes in limits.items():
        if urgency not in Urgency.values or len(minutes) != 3 or min(minutes) < 1:
            raise _errors(limits=_("Every time limit is at least one minute."))
    with transaction.atomic():
        return _policy_save(region, teams_may_grab, low_rating, limits, actor, request)


def _policy_save(
    region: Region,
    teams_may_grab: bool,
    low_rating: int,
    limits: dict[str, tuple[int, int, int]],
    actor: User,
    request: HttpRequest | None,
) -> NeedPolicy:
    policy, _created = NeedPolicy.objects.update_or_create(
        region=region, defaults={"teams_may_grab": teams_may_grab, "low_rating": low_rating}
    )
    for urgency, (review, accept, start) in limits.items():
        NeedTimeLimit.objects.update_or_create(
            region=region,
            urgency=urgency,
            defaults={"review_minutes": review, "accept_minutes": accept, "start_minutes": start},
        )
    audit_record(
        action=NeedAudit.POLICY_SAVED,
        actor=actor,
        target=policy,
        request=request,
        detail={"teams_may_grab": teams_may_grab, "low_rating": low_rating, "limits": limits},
    )
    return policy


def need_record_organization_set(
    *,
    region: Region,
    organization: Organization | None,
    actor: User,
    request: HttpRequest | None = None,
) -> NeedPolicy:
    """Name the verified organisation that stands for the region's civilisation-practice centre
    (``None``: name none here, the region above decides). It records and certifies the service
    of needs sent straight to volunteers; parts left waiting for want of one are recorded at
    once (the backfill runs after commit)."""
    from zhiyuan.organizations.selectors import OperatePurpose, organization_can_operate

    require(actor, "need.policy", region, request=request)
    if organization is not None:
        if organization.kind == "merchant" or not code_contains(
            organization.region_id, region.code
        ):
            raise _errors(
                record_organization=_(
                    "Choose a volunteer organisation whose area covers the whole region."
                )
            )
        refusal = organization_can_operate(organization, purpose=OperatePurpose.RECEIVE_DISPATCH)
        if refusal is not None:
            raise _errors(record_organization=refusal.message)
    with transaction.atomic():
        # A new row for this region keeps what it inherited (the nearest policy decides).
        inherited = selectors.need_policy_for(region.code)
        policy, _created = NeedPolicy.objects.get_or_create(
            region=region,
            defaults={
                "teams_may_grab": inherited.teams_may_grab,
                "low_rating": inherited.low_rating,
            },
        )
        policy.record_organization = organization
        policy.save(update_fields=["record_organization"])
        audit_record(
            action=NeedAudit.POLICY_SAVED,
            actor=actor,
            target=policy,
            request=request,
            detail={"record_organization": organization.pk if organization else None},
        )
        if organization is not None:
            from zhiyuan.needs.tasks import needs_records_backfill

            transaction.on_commit(needs_records_backfill.enqueue)
    return policy


# --- shared steps ------------------------------------------------------------------------------


def _locked(need: Need) -> Need:
    # Row lock on the need: serialises every transition of one need — two volunteers taking
    # the last place, a resident cancelling while a volunteer accepts, the clock returning it.
    return Need.objects.select_for_update().get(pk=need.pk)


def _step(
    need: Need,
    action: Action,
    actor: User | None,
    *,
    to: NeedState | None = None,
    note: str = "",
    volunteer: User | None = None,
    organization: Organization | None = None,
    request: HttpRequest | None = None,
    fields: Sequence[str] = (),
) -> NeedEvent:
    """Move the (locked) need, save the named fields, and log the step twice: as the need's
    own history and in the audit log."""
    before = need.state
    after = to or target_of(before, action)
    now = timezone.now()
    need.state = after
    if after != before:
        need.state_changed_at = now
    need.save(update_fields=["state", "state_changed_at", *fields])
    event = NeedEvent.objects.create(
        need=need,
        at=now,
        actor=actor,
        action=action,
        from_state=before,
        to_state=after,
        volunteer=volunteer,
        organization=organization,
        note=note[:300],
    )
    audit_record(
        action=NeedAudit.TRANSITION,
        actor=actor,
        target=need,
        request=request,
        detail={
            "action": action.value,
            "from": before,
            "to": after,
            "volunteer": volunteer.pk if volunteer else None,
            "organization": organization.pk if organization else None,
        },
    )
    return event


def _url(need: Need) -> str:
    return reverse("needs:detail", args=[need.pk])


def _people_of(need: Need) -> list[int]:
    return [pk for pk in {need.posted_by_id, need.beneficiary_id} if pk]


def _tell_resident(need: Need, kind: str, title: Any, body: Any = "", **params: Any) -> None:
    notify(
        users=_people_of(need),
        kind=kind,
        title=title,
        body=body,
        url=_url(need),
        params={"id": need.pk, **params},
        urgent=need.urgency != Urgency.ROUTINE,
    )


def _tell_dispatchers(
    need: Need,
    kind: str,
    title: Any,
    body: Any = "",
    urgent: bool = False,
    key: str = "",
    **params: Any,
) -> None:
    notify(
        users=selectors.dispatchers_for(need.region_id),
        kind=kind,
        title=title,
        body=body,
        url=_url(need),
        params={"id": need.pk, **params},
        urgent=urgent or need.urgency == Urgency.EMERGENCY,
        key=key,
    )


def _tell(
    users: Iterable[int],
    need: Need,
    kind: str,
    title: Any,
    body: Any = "",
    urgent: bool = False,
    key: str = "",
    **params: Any,
) -> None:
    notify(
        users=list(users),
        kind=kind,
        title=title,
        body=body,
        url=_url(need),
        params={"id": need.pk, **params},
        urgent=urgent,
        key=key,
    )


def _limits(need: Need) -> selectors.Limits:
    return selectors.time_limits_for(need.region_id, need.urgency)


def _start_due(need: Need, accepted_at: datetime) -> datetime:
    if need.window_start is not None:
        return max(accepted_at, need.window_start) + selectors.START_GRACE
    return accepted_at + _limits(need).start


def _withdraw_offers(
    need: Need, reason: str, states: Sequence[str] = (AssignmentState.OFFERED,)
) -> list[int]:
    """Withdraw the named parts (offers, by default); the volunteers concerned."""
    rows = list(need.assignments.filter(state__in=list(states)))
    for row in rows:
        row.state = AssignmentState.WITHDRAWN
        row.reason = reason[:200]
        row.answered_at = row.answered_at or timezone.now()
        row.save(update_fields=["state", "reason", "answered_at"])
    return [r.volunteer_id for r in rows]


# --- posting -----------------------------------------------------------------------------------


def _clean_phone(raw: str) -> str:
    """A mainland number where the person can be reached: a mobile, or a landline (elders)."""
    text = (raw or "").strip().replace(" ", "").replace("-", "")
    try:
        return normalize_mobile(text)
    except InvalidPhone:
        pass
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise _errors(contact_phone=_("This is not a phone number.")) from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise _errors(contact_phone=_("This phone number does not exist: check the digits."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL).replace(
        " ", ""
    )


@dataclass
class Posting:
    """What the form or the API hands to :func:`need_submit`."""

    region: str
    category: int
    description: str
    urgency: str = Urgency.ROUTINE
    window_start: datetime | None = None
    window_end: datetime | None = None
    people_needed: int = 1
    address: str = ""
    lat: float | None = None
    lng: float | None = None
    # Reach me on my account's number (the default when posting for oneself).
    use_my_phone: bool = True
    contact_phone: str = ""
    skills: Sequence[str] = ()
    qualifications: Sequence[str] = ()
    health_details: str = ""
    photos_allowed: bool = False
    # 代点单: posting for someone else.
    for_someone_else: bool = False
    beneficiary_name: str = ""
    beneficiary_phone: str = ""
    proxy_relation: str = ProxyRelation.SELF
    # A time-bank request: minutes of the poster's credit spent on it (0: an ordinary need),
    # for themselves or for one of their registered relatives (ledger.Relative id).
    timebank_minutes: int = 0
    timebank_relative: int | None = None


def need_submit(*, poster: User, posting: Posting, request: HttpRequest | None = None) -> Need:
    """Post a need (群众点单), for oneself or for someone else (代点单, recorded as such).

    Refused with every problem at once: no way to reach the person (no phone and no address),
    health details without the person's sensitive-data consent, an unknown category or
    community. Nothing here asks for money: volunteer service is free (Regulations Art. 21).

    A time-bank request (``posting.timebank_minutes``) spends the poster's time credit, for
    themselves or a registered relative (see ``zhiyuan.needs.timebank``): the withdrawal is
    booked in the same transaction, so a refusal by the ledger leaves nothing behind.
    """
    from zhiyuan.needs import timebank
    from zhiyuan.people.services import consent_active

    region = Region.objects.filter(code=posting.region, level=Level.COMMUNITY).first()
    if region is None:
        raise _errors(region=_("Choose the community where help is needed."))
    spend = posting.timebank_minutes or 0
    relative = None
    if spend:
        # Spending credit is a member's right (volunteers and residents), not only a poster's.
        require(poster, "need.timebank", None, request=request)
        if posting.timebank_relative is not None:
            relative = timebank.relative_for(poster, posting.timebank_relative)
        elif posting.for_someone_else:
            from zhiyuan.ledger.timebank_needs import NotARelative

            raise timebank.refused(NotARelative(), "timebank_for")
        timebank.minutes_check(spend)
        # A relative may live in the community that registered them, outside the member's
        # scope; only that very community (a district-level registration proves no address).
        if relative is None or relative.region_id != region.code:
            require(poster, "need.timebank", region, request=request)
    else:
        require(poster, "need.post", region, request=request)
    errors: dict[str, str] = {}
    category = NeedCategory.objects.filter(pk=posting.category, retired_at__isnull=True).first()
    if category is None or (
        category.region_id is not None and not code_contains(category.region_id, region.code)
    ):
        errors["category"] = _("Choose what kind of help is needed.")
    description = posting.description.strip()
    if not description:
        errors["description"] = _("Say in a few words what is needed.")
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = _("At most %(n)d characters.") % {"n": MAX_DESCRIPTION}
    if posting.urgency not in Urgency.values:
        errors["urgency"] = _("Choose how urgent it is.")
    if not 1 <= posting.people_needed <= 50:
        errors["people_needed"] = _("Between 1 and 50 volunteers.")
    now = timezone.now()
    if posting.window_start is not None:
        end = posting.window_end
        if end is not None and end <= posting.window_start:
            errors["window_end"] = _("The time window must end after it starts.")
        elif (end or posting.window_start) <= now:
            errors["window_start"] = _("The time window is already over.")
    elif posting.window_end is not None:
        errors["window_start"] = _("Say from when, or choose as soon as possible.")
    if (posting.lat is None) != (posting.lng is None) or (
        posting.lat is not None and not (-90 <= posting.lat <= 90 and -180 <= posting.lng <= 180)  # type: ignore[operator]
    ):
        errors["lat"] = _("The map point is not valid.")
    skills = list(Skill.objects.filter(code__in=list(posting.skills)))
    if len(skills) != len(set(posting.skills)):
        errors["skills"] = _("Some of these skills do not exist.")
    if not set(posting.qualifications) <= set(QualificationKind.values):
        errors["qualifications"] = _("Some of these qualifications do not exist.")

    # Who is helped, and how to reach them (代点单 records who posted for whom).
    beneficiary: User | None = None
    relation = ProxyRelation.SELF
    name = ""
    if posting.for_someone_else or relative is not None:
        relation = (
            ProxyRelation.RELATIVE
            if relative is not None
            else ProxyRelation(posting.proxy_relation)
            if posting.proxy_relation in ProxyRelation.values
            else ProxyRelation.SELF
        )
        if relation == ProxyRelation.SELF:
            errors["proxy_relation"] = _("Say how you are linked to the person you post for.")
        name = relative.name if relative is not None else posting.beneficiary_name.strip()
        if not name:
            errors["beneficiary_name"] = _("Give the name of the person who needs help.")
        phone = posting.beneficiary_phone.strip()
        if phone:
            try:
                phone = _clean_phone(phone)
            except ValidationError:
                errors["beneficiary_phone"] = _(
                    "This phone number does not exist: check the digits."
                )
                phone = ""
        if phone:
            try:
                beneficiary = User.objects.filter(
                    phone_index=phone_index(phone), is_active=True
                ).first()
            except InvalidPhone:
                beneficiary = None  # a landline: no account can have it
        if relative is not None and relative.account_user_id is not None:
            beneficiary = relative.account_user  # the registered relative's own account
        contact = phone or (_safe_phone(poster) if posting.use_my_phone else "")
    else:
        beneficiary = poster
        contact = _safe_phone(poster) if posting.use_my_phone else ""
    if not posting.use_my_phone and posting.contact_phone.strip():
        try:
            contact = _clean_phone(posting.contact_phone)
        except ValidationError as exc:
            errors["contact_phone"] = exc.message_dict["contact_phone"][0]
    address = posting.address.strip()[:200]
    if not contact and not address:
        errors["contact_phone"] = _(
            "There is no way to reach the person: give a phone number or the address where help "
            "is needed."
        )
    health = posting.health_details.strip()
    if health:
        if beneficiary is None:
            errors["health_details"] = _(
                "Health details can be recorded only for a person with an account who consented "
                "to it; describe the need without them."
            )
        elif not consent_active(beneficiary, NoticeKind.SENSITIVE_HEALTH):
            errors["health_details"] = _(
                "Health details need the person's consent to processing sensitive data first "
                "(My privacy)."
            )
    if errors:
        raise _errors(**errors)
    assert category is not None
    if beneficiary is not None:
        key = f"u{beneficiary.pk}"
    else:
        key = blind_index(contact or f"{name}|{address}", purpose="need_beneficiary")
    limits = selectors.time_limits_for(region.code, posting.urgency)
    with transaction.atomic():
        need = Need.objects.create(
            posted_by=poster,
            beneficiary=beneficiary,
            proxy_relation=relation,
            beneficiary_name=name,
            beneficiary_key=key,
            contact_phone=contact,
            address=address,
            lat=posting.lat,
            lng=posting.lng,
            region=region,
            category=category,
            description=description,
            health_details=health,
            urgency=posting.urgency,
            window_start=posting.window_start,
            window_end=posting.window_end,
            people_needed=posting.people_needed,
            qualifications=sorted(set(posting.qualifications)),
            photos_allowed=posting.photos_allowed,
            state=S.SUBMITTED,
            submitted_at=now,
            state_changed_at=now,
            review_due_at=now + limits.review,
        )
        need.skills.set(skills)
        NeedEvent.objects.create(
            need=need,
            at=now,
            actor=poster,
            action=A.SUBMIT,
            from_state="",
            to_state=S.SUBMITTED,
            note=_("posted for someone else") if need.is_proxy else "",
        )
        if spend:
            timebank.need_timebank_hold(
                need=need, member=poster, minutes=spend, relative=relative, request=request
            )
        audit_record(
            action=NeedAudit.SUBMITTED,
            actor=poster,
            target=need,
            request=request,
            detail={
                "proxy": relation.value,
                "for_account": beneficiary.pk if beneficiary else None,
                "urgency": need.urgency,
                "time_bank_minutes": spend,
            },
        )
        _tell_dispatchers(
            need,
            "need.submitted",
            gettext_lazy("New need #%(id)s: %(category)s (%(urgency)s)"),
            category=category,
            urgency=Urgency(need.urgency).label,
        )
        if beneficiary is not None and beneficiary.pk != poster.pk:
            _tell(
                [beneficiary.pk],
                need,
                "need.posted_for_you",
                gettext_lazy("A need was posted for you: #%(id)s"),
                gettext_lazy("Posted by %(who)s. You can follow it here."),
                who=poster.name or poster.masked_phone,
            )
    return need


def _safe_phone(user: User) -> str:
    return user.phone or ""


def _refund(need: Need, actor: User | None) -> None:
    """The need ended before any service: time credit spent on it comes back (by reversal)."""
    from zhiyuan.needs.models import TimeBankStatus
    from zhiyuan.needs.timebank import need_timebank_refund

    row = need_timebank_refund(need=need, actor=actor)
    if row is not None and row.status == TimeBankStatus.REFUNDED:
        _tell(
            [row.member_id],
            need,
            "need.timebank_refunded",
            gettext_lazy("Your %(minutes)s minutes of time credit for need #%(id)s are back"),
            minutes=row.minutes,
        )


# --- the dispatcher's steps --------------------------------------------------------------------


def need_review(*, need: Need, actor: User, request: HttpRequest | None = None) -> Need:
    """A dispatcher takes the need for review; the resident sees someone is on it."""
    require(actor, "need.dispatch", need, request=request)
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.REVIEW, Party.DISPATCHER)
        need.reviewer = actor
        _step(need, A.REVIEW, actor, request=request, fields=["reviewer"])
        _tell_resident(
            need, "need.under_review", gettext_lazy("Your need #%(id)s is being reviewed")
        )
    return need


def need_reject(
    *, need: Need, actor: User, reason: str, request: HttpRequest | None = None
) -> Need:
    """The centre cannot take the need; the reason is shown to the resident."""
    require(actor, "need.dispatch", need, request=request)
    reason = reason.strip()
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.REJECT, Party.DISPATCHER)
        if not reason:
            raise _errors(reason=_("Say why, in words the resident will understand."))
        need.reason, need.reviewer = reason[:500], need.reviewer or actor
        need.closed_at = timezone.now()
        need.review_due_at = None
        _step(
            need,
            A.REJECT,
            actor,
            note=reason,
            request=request,
            fields=["reason", "reviewer", "closed_at", "review_due_at"],
        )
        _refund(need, actor)
        _tell_resident(
            need,
            "need.rejected",
            gettext_lazy("Your need #%(id)s could not be taken"),
            gettext_lazy("Reason: %(reason)s"),
            reason=need.reason,
        )
    return need


def _check_volunteers(need: Need, volunteers: Sequence[User]) -> None:
    """Every volunteer offered may serve: an active profile, no sanction in force, the
    qualifications the need asks for valid on the day (Art. 16), not the person helped."""
    from zhiyuan.safeguards.selectors import volunteer_can_serve

    problems = []
    profiles = selectors.volunteers_by_user(v.pk for v in volunteers)
    day = timezone.localdate(need.window_start) if need.window_start else timezone.localdate()
    wanted = set(need.qualifications or [])
    for volunteer in volunteers:
        profile = profiles.get(volunteer.pk)
        label = str(volunteer)
        if profile is None or profile.status != ProfileStatus.ACTIVE:
            problems.append(_("%(who)s is not an active volunteer.") % {"who": label})
            continue
        if volunteer.pk in (need.posted_by_id, need.beneficiary_id):
            problems.append(_("%(who)s asked for this help and cannot serve it.") % {"who": label})
            continue
        refusal = volunteer_can_serve(volunteer)
        if refusal is not None:
            problems.append(_("%(who)s may not serve now (sanction).") % {"who": label})
            continue
        if wanted:
            held = {q.kind for q in profile.qualifications.all() if q.valid_on(day)}
            missing = wanted - held
            if missing:
                names = ", ".join(str(QualificationKind(k).label) for k in sorted(missing))
                problems.append(
                    _("%(who)s lacks a valid qualification: %(names)s.")
                    % {"who": label, "names": names}
                )
    if problems:
        raise _errors(volunteers=" ".join(problems))


def need_dispatch(
    *,
    need: Need,
    actor: User,
    volunteers: Sequence[User] = (),
    organization: Organization | None = None,
    open_to_teams: bool = False,
    scores: dict[int, tuple[float, list[str]]] | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> Need:
    """Send the need to volunteers (offers they accept or decline: no forced assignment,
    Regulations Art. 25), to a verified team, or — where the region allows — to the teams of
    the area to take. Dispatching again replaces the offers not yet answered."""
    from zhiyuan.organizations.selectors import OperatePurpose
    from zhiyuan.organizations.services import organization_require_operable

    require(actor, "need.dispatch", need, request=request)
    targets = sum([bool(volunteers), organization is not None, open_to_teams])
    if targets != 1:
        raise _errors(volunteers=_("Choose volunteers, one team, or the teams of the area."))
    if organization is not None:
        if not code_contains(organization.region_id, need.region_id):
            raise _errors(organization=_("This team does not serve the need's community."))
        # Outside the write: a refusal stays in the audit log.
        organization_require_operable(
            organization, purpose=OperatePurpose.RECEIVE_DISPATCH, actor=actor, request=request
        )
    if open_to_teams and not selectors.need_policy_for(need.region_id).teams_may_grab:
        raise _errors(organization=_("This region does not let teams take open needs."))
    volunteers = list({v.pk: v for v in volunteers}.values())
    if volunteers:
        _check_volunteers(need, volunteers)
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.DISPATCH, Party.DISPATCHER)
        now = timezone.now()
        keep = {v.pk for v in volunteers}
        withdrawn = [
            pk
            for pk in _withdraw_offers(need, _("The dispatcher sent the need to others."))
            if pk not in keep
        ]
        for volunteer in volunteers:
            score, reasons = (scores or {}).get(volunteer.pk, (None, []))
            NeedAssignment.objects.update_or_create(
                need=need,
                volunteer=volunteer,
                defaults={
                    "state": AssignmentState.OFFERED,
                    "offered_at": now,
                    "offered_by": actor,
                    "answered_at": None,
                    "reason": "",
                    "score": score,
                    "reasons": [str(r) for r in reasons],
                    "organization": None,
                },
            )
        need.organization = organization
        need.open_to_teams = open_to_teams
        need.reviewer = need.reviewer or actor
        need.dispatched_at = need.dispatched_at or now
        need.review_due_at = None
        need.accept_due_at = now + _limits(need).accept
        _step(
            need,
            A.DISPATCH,
            actor,
            note=note,
            organization=organization,
            request=request,
            fields=[
                "organization",
                "open_to_teams",
                "reviewer",
                "dispatched_at",
                "review_due_at",
                "accept_due_at",
            ],
        )
        urgent = need.urgency != Urgency.ROUTINE
        if volunteers:
            _tell(
                [v.pk for v in volunteers],
                need,
                "need.offered",
                gettext_lazy("Can you help? %(category)s in %(community)s"),
                gettext_lazy("Please accept or decline by %(due)s."),
                urgent=urgent,
                category=need.category,
                community=need.region.name,
                due=timezone.localtime(need.accept_due_at).strftime("%m-%d %H:%M"),
            )
        if organization is not None:
            _tell(
                selectors.team_admins_of(organization.pk)
                + selectors.team_members_of(organization.pk),
                need,
                "need.team_dispatched",
                gettext_lazy("Need #%(id)s was sent to %(team)s"),
                gettext_lazy("Members: open it and accept to take a place."),
                urgent=urgent,
                team=organization.name,
            )
        if withdrawn:
            _tell(
                withdrawn,
                need,
                "need.offer_withdrawn",
                gettext_lazy("Need #%(id)s was sent to someone else"),
            )
        _tell_resident(
            need,
            "need.dispatched",
            gettext_lazy("Your need #%(id)s was sent to volunteers"),
            gettext_lazy("You will be told as soon as one accepts."),
        )
    return need


@dataclass(frozen=True)
class BatchOutcome:
    need: Need
    dispatched_to: list[User]
    problem: str = ""


def need_dispatch_batch(
    *, needs: Sequence[Need], actor: User, request: HttpRequest | None = None
) -> list[BatchOutcome]:
    """Dispatch many open needs in one step: the most urgent and oldest first, each to its best
    ranked volunteers (one more than the places, so a decline does not stall it), no volunteer
    offered two needs of the same batch. Each need is dispatched on its own: one refusal does
    not hold back the others."""
    require(actor, "need.dispatch", None, request=request)
    order = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}
    used: set[int] = set()
    outcomes = []
    for need in sorted(needs, key=lambda n: (order[Urgency(n.urgency)], n.submitted_at, n.pk)):
        if not has_perm(actor, "need.dispatch", need):
            outcomes.append(BatchOutcome(need, [], _("Not in your area.")))
            continue
        if need.state not in UNACCEPTED:
            outcomes.append(BatchOutcome(need, [], _("Not waiting for dispatch.")))
            continue
        # A ranker may list people who cannot go, with score 0 and the reason: never offered.
        ranked = [
            c
            for c in selectors.need_candidates(need, limit=need.people_needed + 1, exclude=used)
            if c.score > 0
        ]
        if not ranked:
            outcomes.append(BatchOutcome(need, [], _("No suitable volunteer nearby.")))
            continue
        chosen = [c.volunteer.user for c in ranked]
        try:
            need_dispatch(
                need=need,
                actor=actor,
                volunteers=chosen,
                scores={c.volunteer.user_id: (c.score, c.reasons) for c in ranked},
                note=_("batch dispatch"),
                request=request,
            )
        except (ValidationError, IllegalTransition, PermissionDenied) as exc:
            record_refusal(exc)
            message = (
                exc.message
                if isinstance(exc, IllegalTransition)
                else " ".join(getattr(exc, "messages", [str(exc)]))
            )
            outcomes.append(BatchOutcome(need, [], message))
            continue
        used.update(u.pk for u in chosen)
        outcomes.append(BatchOutcome(need, chosen))
    return outcomes


def need_grab(
    *, need: Need, actor: User, organization: Organization, request: HttpRequest | None = None
) -> Need:
    """A verified team takes an open need of its area (where the region allows it)."""
    from zhiyuan.organizations.selectors import OperatePurpose
    from zhiyuan.organizations.services import organization_require_operable

    require(actor, "need.grab", organization, request=request)
    if not code_contains(organization.region_id, need.region_id):
        raise _errors(organization=_("This need is outside your team's area."))
    if not selectors.need_policy_for(need.region_id).teams_may_grab:
        raise _errors(organization=_("This region does not let teams take open needs."))
    organization_require_operable(
        organization, purpose=OperatePurpose.RECEIVE_DISPATCH, actor=actor, request=request
    )
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.GRAB, Party.TEAM)
        if not need.open_to_teams:
            raise IllegalTransition(_("This need is no longer open to teams."), code="not_open")
        need.open_to_teams = False
        need.organization = organization
        _step(
            need,
            A.GRAB,
            actor,
            organization=organization,
            request=request,
            fields=["open_to_teams", "organization"],
        )
        _tell(
            selectors.team_members_of(organization.pk),
            need,
            "need.team_dispatched",
            gettext_lazy("Need #%(id)s was sent to %(team)s"),
            gettext_lazy("Members: open it and accept to take a place."),
            urgent=need.urgency != Urgency.ROUTINE,
            team=organization.name,
        )
        _tell_dispatchers(
            need, "need.grabbed", gettext_lazy("%(team)s took need #%(id)s"), team=organization.name
        )
    return need


def need_return(
    *, need: Need, actor: User | None, reason: str, request: HttpRequest | None = None
) -> Need:
    """Back to the queue for re-dispatch: by a dispatcher, or by the clock when nobody accepted
    in time (``actor=None``). Open offers and unstarted places are withdrawn; the dispatchers
    are alerted."""
    party = Party.SYSTEM if actor is None else Party.DISPATCHER
    if actor is not None:
        require(actor, "need.dispatch", need, request=request)
    reason = reason.strip()
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.RETURN, party)
        if not reason:
            raise _errors(reason=_("Say why the need goes back to the queue."))
        return _return_locked(need, actor, reason, request)


def _return_locked(
    need: Need, actor: User | None, reason: str, request: HttpRequest | None
) -> Need:
    touched = _withdraw_offers(need, reason, (AssignmentState.OFFERED, AssignmentState.ACCEPTED))
    now = timezone.now()
    need.reason = reason[:500]
    need.organization = None
    need.open_to_teams = False
    need.accept_due_at = None
    need.start_due_at = None
    need.start_alerted_at = None
    need.review_alerted_at = None
    need.review_due_at = now + _limits(need).review
    _step(
        need,
        A.RETURN,
        actor,
        note=reason,
        request=request,
        fields=[
            "reason",
            "organization",
            "open_to_teams",
            "accept_due_at",
            "start_due_at",
            "start_alerted_at",
            "review_alerted_at",
            "review_due_at",
        ],
    )
    _tell_dispatchers(
        need,
        "need.returned",
        gettext_lazy("Need #%(id)s is back in the queue"),
        gettext_lazy("Reason: %(reason)s"),
        urgent=True,
        reason=need.reason,
    )
    if touched:
        _tell(
            touched,
            need,
            "need.offer_withdrawn",
            gettext_lazy("Need #%(id)s was sent to someone else"),
        )
    _tell_resident(
        need, "need.returned", gettext_lazy("We are finding other volunteers for need #%(id)s")
    )
    return need


def need_cancel(
    *, need: Need, actor: User, reason: str = "", request: HttpRequest | None = None
) -> Need:
    """Cancelled by the resident (or the proxy who posted), or by a dispatcher with a reason,
    before service starts. Volunteers holding offers or places are told."""
    parties = selectors.need_parties(actor, need)
    if Party.POSTER in parties:
        party = Party.POSTER
    elif Party.DISPATCHER in parties:
        party = Party.DISPATCHER
    else:
        require(actor, "need.dispatch", need, request=request)  # audits and refuses
        raise PermissionDenied
    reason = reason.strip()
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.CANCEL, party)
        if party == Party.DISPATCHER and not reason:
            raise _errors(reason=_("Say why the need is cancelled."))
        touched = _withdraw_offers(
            need, _("The need was cancelled."), (AssignmentState.OFFERED, AssignmentState.ACCEPTED)
        )
        need.reason = reason[:500]
        need.closed_at = timezone.now()
        need.review_due_at = need.accept_due_at = need.start_due_at = None
        _step(
            need,
            A.CANCEL,
            actor,
            note=reason,
            request=request,
            fields=["reason", "closed_at", "review_due_at", "accept_due_at", "start_due_at"],
        )
        _refund(need, actor)
        if touched:
            _tell(
                touched,
                need,
                "need.cancelled",
                gettext_lazy("Need #%(id)s was cancelled"),
                urgent=True,
            )
        if party == Party.DISPATCHER:
            _tell_resident(
                need,
                "need.cancelled",
                gettext_lazy("Your need #%(id)s was cancelled"),
                gettext_lazy("Reason: %(reason)s"),
                reason=reason,
            )
        else:
            _tell_dispatchers(need, "need.cancelled", gettext_lazy("Need #%(id)s was cancelled"))
    return need


# --- the volunteer's steps ---------------------------------------------------------------------


def _volunteer_gate(volunteer: User, need: Need, request: HttpRequest | None) -> None:
    from zhiyuan.organizations.selectors import OperatePurpose
    from zhiyuan.organizations.services import organization_require_operable
    from zhiyuan.safeguards.services import volunteer_require_can_serve

    require(volunteer, "need.serve", None, request=request)
    volunteer_require_can_serve(volunteer, purpose="need_accept", actor=volunteer, request=request)
    if need.organization_id is not None:
        organization_require_operable(
            need.organization,  # type: ignore[arg-type]
            purpose=OperatePurpose.RECEIVE_DISPATCH,
            actor=volunteer,
            request=request,
        )


def need_accept(
    *, need: Need, volunteer: User, request: HttpRequest | None = None
) -> NeedAssignment:
    """Take a place: an offer made to this volunteer, or a place on a need sent to their team.
    When the places are all taken the remaining offers are withdrawn."""
    _volunteer_gate(volunteer, need, request)
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.ACCEPT, Party.VOLUNTEER)
        mine = NeedAssignment.objects.filter(need=need, volunteer=volunteer).first()
        via_team = need.organization_id is not None and selectors.is_team_member(
            volunteer, need.organization_id
        )
        offered = mine is not None and mine.state == AssignmentState.OFFERED
        if not offered and not (
            via_team and (mine is None or mine.state == AssignmentState.DECLINED)
        ):
            if mine is not None and mine.state in HOLDING:
                raise IllegalTransition(
                    _("You have already accepted this need."), code="already_accepted"
                )
            raise IllegalTransition(_("This need was not offered to you."), code="not_offered")
        held = need.assignments.filter(state__in=HOLDING).count()
        if held >= need.people_needed:
            raise IllegalTransition(_("All places on this need are taken."), code="full")
        now = timezone.now()
        if mine is None:
            mine = NeedAssignment(need=need, volunteer=volunteer, offered_at=now)
        mine.state = AssignmentState.ACCEPTED
        mine.answered_at = now
        mine.reason = ""
        mine.organization_id = need.organization_id
        mine.save()
        fields = ["accept_due_at"]
        need.accept_due_at = None
        if need.accepted_at is None:
            need.accepted_at = now
            fields.append("accepted_at")
        if need.start_due_at is None:
            need.start_due_at = _start_due(need, now)
            fields.append("start_due_at")
        _step(need, A.ACCEPT, volunteer, volunteer=volunteer, request=request, fields=fields)
        if held + 1 >= need.people_needed:
            others = _withdraw_offers(need, _("All places were taken."))
            if others:
                _tell(
                    others,
                    need,
                    "need.offer_withdrawn",
                    gettext_lazy("Need #%(id)s no longer needs you: the places are taken"),
                )
        _tell_resident(
            need,
            "need.accepted",
            gettext_lazy("A volunteer accepted your need #%(id)s"),
            gettext_lazy("%(who)s will help you. They may call you first."),
            who=volunteer.name or _("A volunteer"),
        )
        _tell_dispatchers(need, "need.accepted", gettext_lazy("Need #%(id)s was accepted"))
    return mine


def need_decline(
    *, need: Need, volunteer: User, reason: str, request: HttpRequest | None = None
) -> NeedAssignment:
    """Say no to an offer, with a reason. When nobody is left to answer and nobody accepted,
    the need goes back to the queue and the dispatchers are alerted."""
    require(volunteer, "need.serve", None, request=request)
    reason = reason.strip()
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.DECLINE, Party.VOLUNTEER)
        mine = NeedAssignment.objects.filter(need=need, volunteer=volunteer).first()
        via_team = need.organization_id is not None and selectors.is_team_member(
            volunteer, need.organization_id
        )
        if not (
            (mine is not None and mine.state == AssignmentState.OFFERED)
            or (via_team and mine is None)
        ):
            raise IllegalTransition(_("This need was not offered to you."), code="not_offered")
        if not reason:
            raise _errors(reason=_("Say briefly why you cannot take it; it helps the dispatcher."))
        if mine is None:
            mine = NeedAssignment(
                need=need, volunteer=volunteer, organization_id=need.organization_id
            )
        mine.state = AssignmentState.DECLINED
        mine.reason = reason[:200]
        mine.answered_at = timezone.now()
        mine.save()
        _step(need, A.DECLINE, volunteer, volunteer=volunteer, note=reason, request=request)
        waiting = need.assignments.filter(state=AssignmentState.OFFERED).exists()
        held = need.assignments.filter(state__in=HOLDING).exists()
        if (
            need.state == S.DISPATCHED
            and not waiting
            and not held
            and need.organization_id is None
            and not need.open_to_teams
        ):
            _return_locked(need, None, _("Every volunteer asked declined."), request)
    return mine


def need_withdraw(
    *, need: Need, volunteer: User, reason: str, request: HttpRequest | None = None
) -> NeedAssignment:
    """Give up an accepted place before the service starts, saying why (a volunteer who cannot
    serve as agreed tells promptly, Regulations Art. 22). With nobody left the need returns."""
    require(volunteer, "need.serve", None, request=request)
    reason = reason.strip()
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.WITHDRAW, Party.VOLUNTEER)
        mine = NeedAssignment.objects.filter(
            need=need, volunteer=volunteer, state=AssignmentState.ACCEPTED
        ).first()
        if mine is None:
            raise IllegalTransition(_("You hold no place on this need."), code="not_assigned")
        if not reason:
            raise _errors(reason=_("Say briefly why you cannot come."))
        mine.state = AssignmentState.DROPPED
        mine.reason = reason[:200]
        mine.save(update_fields=["state", "reason"])
        _step(need, A.WITHDRAW, volunteer, volunteer=volunteer, note=reason, request=request)
        if not need.assignments.filter(state__in=HOLDING).exists():
            _return_locked(
                need,
                None,
                _("The volunteer can no longer come: %(reason)s") % {"reason": reason},
                request,
            )
        else:
            _tell_dispatchers(
                need,
                "need.withdrawn",
                gettext_lazy("A volunteer gave up a place on need #%(id)s"),
                urgent=True,
            )
    return mine


def _point(lat: float | None, lng: float | None) -> tuple[float | None, float | None]:
    if lat is None or lng is None:
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise _errors(lat=_("The location is not valid."))
    return lat, lng


# A volunteer's reported position within this distance of the need's map point counts as
# being there (the activities app's "geofence" evidence).
ON_SITE_RADIUS_M = 500


def _on_site(need: Need, lat: float | None, lng: float | None) -> dict[str, Any] | None:
    """Evidence of presence when the position lies within the radius of the need's point."""
    if None in (lat, lng, need.lat, need.lng):
        return None
    metres = distance_km(need.lat, need.lng, lat, lng) * 1000  # type: ignore[arg-type]
    if metres > ON_SITE_RADIUS_M:
        return None
    return {"lat": lat, "lng": lng, "distance_m": round(metres), "radius_m": ON_SITE_RADIUS_M}


def _session_open(need: Need, volunteer: User, lat: float | None, lng: float | None) -> None:
    """Open the activities app's on-site session for this part, when the volunteer is shown to
    be at the need's place and an organisation will record the service (谁组织谁记录)."""
    from zhiyuan.activities.models import CheckMethod
    from zhiyuan.activities.services import checkin_need

    evidence = _on_site(need, lat, lng)
    organization = record_organization_for(need, volunteer)
    if evidence is None or organization is None:
        return
    checkin_need(
        volunteer=volunteer,
        need_key=f"need:{need.pk}",
        organization=organization,
        method=CheckMethod.GEOFENCE,
        evidence=evidence,
    )


def _session_close(need: Need, volunteer: User, lat: float | None, lng: float | None) -> Any:
    """Close the part's on-site session, if one was opened: by position when the volunteer is
    still at the place, else as closed by the system (weaker evidence, and said so)."""
    from zhiyuan.activities.models import CheckMethod, ServiceSession
    from zhiyuan.activities.services import checkout_need

    key = f"need:{need.pk}"
    if not ServiceSession.objects.filter(need_key=key, volunteer=volunteer).exists():
        return None
    evidence = _on_site(need, lat, lng)
    return checkout_need(
        volunteer=volunteer,
        need_key=key,
        method=CheckMethod.GEOFENCE if evidence else CheckMethod.AUTO,
        evidence=evidence or {"closed_by": "need_finish", "position": [lat, lng]},
    ).session


def need_start(
    *,
    need: Need,
    volunteer: User,
    lat: float | None = None,
    lng: float | None = None,
    request: HttpRequest | None = None,
) -> NeedAssignment:
    """On site: the volunteer starts the service. The time and the reported location are kept
    as evidence (hours count from here, not from the journey)."""
    require(volunteer, "need.serve", None, request=request)
    lat, lng = _point(lat, lng)
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.START, Party.VOLUNTEER)
        mine = NeedAssignment.objects.filter(
            need=need, volunteer=volunteer, state=AssignmentState.ACCEPTED
        ).first()
        if mine is None:
            raise IllegalTransition(
                _("You hold no place on this need that is waiting to start."), code="not_assigned"
            )
        now = timezone.now()
        mine.state, mine.started_at, mine.start_lat, mine.start_lng = (
            AssignmentState.STARTED,
            now,
            lat,
            lng,
        )
        mine.save(update_fields=["state", "started_at", "start_lat", "start_lng"])
        _session_open(need, volunteer, lat, lng)
        fields = ["start_due_at"]
        need.start_due_at = None
        if need.started_at is None:
            need.started_at = now
            fields.append("started_at")
        first = need.state == S.ACCEPTED
        _step(need, A.START, volunteer, volunteer=volunteer, request=request, fields=fields)
        if first:
            from zhiyuan.needs.timebank import need_timebank_settle

            # Service has started: time credit spent on the need is no longer refundable.
            need_timebank_settle(need=need)
        if first:
            _tell_resident(
                need, "need.started", gettext_lazy("The volunteer has started on your need #%(id)s")
            )
    return mine


def _check_photos(
    need: Need, photos: Sequence[UploadedFile]
) -> list[tuple[UploadedFile, str, str]]:
    from zhiyuan.organizations.uploads import upload_check, upload_store_name

    if not photos:
        return []
    if not need.photos_allowed:
        raise _errors(photos=_("The resident did not allow photos of this service."))
    if len(photos) > MAX_PHOTOS:
        raise _errors(photos=_("At most %(n)d photos.") % {"n": MAX_PHOTOS})
    checked = []
    for photo in photos:
        try:
            result = upload_check(photo, max_bytes=PHOTO_MAX_BYTES)
        except ValidationError as exc:
            raise _errors(photos=exc.messages[0]) from exc
        if result.content_type not in ("image/jpeg", "image/png"):
            raise _errors(photos=_("Photos must be JPEG or PNG images."))
        checked.append((photo, result.content_type, upload_store_name(result)))
    return checked


def _photos_store(
    need: Need,
    part: NeedAssignment,
    checked: list[tuple[UploadedFile, str, str]],
    actor: User,
    request: HttpRequest | None,
) -> list[NeedPhoto]:
    stored = []
    for upload, content_type, name in checked:
        photo = NeedPhoto(need=need, assignment=part, content_type=content_type)
        photo.file.save(name, upload, save=True)
        audit_record(action=NeedAudit.PHOTO_ADDED, actor=actor, target=photo, request=request)
        stored.append(photo)
    return stored


def need_photos_add(
    *,
    need: Need,
    volunteer: User,
    photos: Sequence[UploadedFile],
    request: HttpRequest | None = None,
) -> list[NeedPhoto]:
    """Photos of the service, from the volunteer serving it (the app's way to send the
    completion note's photos): while they serve, or once they finished until the resident
    rated. The resident must have allowed photos; the same checks as the page (at most 6 per
    volunteer, JPEG or PNG by their bytes, 5 MB each); stored under random names, never public."""
    require(volunteer, "need.serve", None, request=request)
    if not photos:
        raise _errors(photos=_("Choose at least one photo."))
    with transaction.atomic():
        need = _locked(need)
        if need.state not in (S.IN_SERVICE, S.COMPLETED):
            raise IllegalTransition(
                _("This need is %(state)s: photos of the service can no longer be added.")
                % {"state": str(NeedState(need.state).label).lower()}
            )
        mine = NeedAssignment.objects.filter(
            need=need,
            volunteer=volunteer,
            state__in=[AssignmentState.STARTED, AssignmentState.FINISHED],
        ).first()
        if mine is None:
            raise IllegalTransition(_("You have not started this service."), code="not_started")
        if mine.photos.count() + len(photos) > MAX_PHOTOS:
            raise _errors(photos=_("At most %(n)d photos.") % {"n": MAX_PHOTOS})
        return _photos_store(need, mine, _check_photos(need, photos), volunteer, request)


def need_complete(
    *,
    need: Need,
    volunteer: User,
    note: str,
    lat: float | None = None,
    lng: float | None = None,
    photos: Sequence[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> NeedAssignment:
    """The volunteer finishes their part, with a short note (and photos where the resident
    allowed them). Their part becomes a service record. When the last one serving finishes, the
    need is completed and the resident is asked to confirm and rate it."""
    require(volunteer, "need.serve", None, request=request)
    lat, lng = _point(lat, lng)
    note = note.strip()
    if not note:
        raise _errors(note=_("Write a short note of what was done."))
    if len(note) > MAX_NOTE:
        raise _errors(note=_("At most %(n)d characters.") % {"n": MAX_NOTE})
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.FINISH, Party.VOLUNTEER)
        mine = NeedAssignment.objects.filter(
            need=need, volunteer=volunteer, state=AssignmentState.STARTED
        ).first()
        if mine is None:
            raise IllegalTransition(_("You have not started this service."), code="not_started")
        checked = _check_photos(need, photos)
        now = timezone.now()
        mine.state, mine.finished_at, mine.finish_lat, mine.finish_lng = (
            AssignmentState.FINISHED,
            now,
            lat,
            lng,
        )
        mine.save(update_fields=["state", "finished_at", "finish_lat", "finish_lng"])
        if mine.photos.count() + len(checked) > MAX_PHOTOS:
            raise _errors(photos=_("At most %(n)d photos.") % {"n": MAX_PHOTOS})
        _photos_store(need, mine, checked, volunteer, request)
        who = volunteer.name or str(volunteer.pk)
        need.completion_note = (
            f"{need.completion_note}\n{who}: {note}" if need.completion_note else f"{who}: {note}"
        )[:4000]
        _step(
            need,
            A.FINISH,
            volunteer,
            volunteer=volunteer,
            note=note,
            request=request,
            fields=["completion_note"],
        )
        session = _session_close(need, volunteer, lat, lng)
        need_service_record_create(assignment=mine, actor=volunteer, evidence=session)
        if not need.assignments.filter(state=AssignmentState.STARTED).exists():
            # Places accepted but never started did not serve: no record for them.
            need.assignments.filter(state=AssignmentState.ACCEPTED).update(
                state=AssignmentState.ABSENT
            )
            need.completed_at = now
            need.start_due_at = None
            _step(need, A.COMPLETE, None, request=request, fields=["completed_at", "start_due_at"])
            _tell_resident(
                need,
                "need.completed",
                gettext_lazy("Need #%(id)s is done: please confirm and rate it"),
                gettext_lazy("Tell us how it went; it takes a minute."),
            )
            _tell_dispatchers(need, "need.completed", gettext_lazy("Need #%(id)s was completed"))
    return mine


def record_organization_for(need: Need, volunteer: User) -> Organization | None:
    """Who organised (and so records and certifies, 谁组织谁记录) a volunteer's part: the team the
    need went to; for a direct offer, the civilisation-practice centre whose dispatcher sent it
    (the organisation the region names, ``NeedPolicy.record_organization``) while it may
    operate; where no region names one, the volunteer's own organisation whose area covers the
    need, the nearest first. None when there is no such organisation."""
    if need.organization_id is not None:
        return need.organization
    from zhiyuan.organizations.models import Membership, OrganizationStatus
    from zhiyuan.organizations.selectors import OperatePurpose, organization_can_operate

    centre = selectors.record_organization_of(need.region_id)
    if (
        centre is not None
        and organization_can_operate(centre, purpose=OperatePurpose.RECEIVE_DISPATCH) is None
    ):
        return centre

    rows = (
        Membership.objects.filter(
            user=volunteer, left_at__isnull=True, organization__status=OrganizationStatus.VERIFIED
        )
        .select_related("organization")
        .order_by("-organization__region_id", "organization_id")
    )
    for membership in rows:
        if code_contains(membership.organization.region_id, need.region_id):
            return membership.organization
    return None


# Ledger urgency names (zhiyuan.ledger.rules.Urgency) for the need's urgency.
LEDGER_URGENCY = {
    Urgency.ROUTINE: "normal",
    Urgency.URGENT: "urgent",
    Urgency.EMERGENCY: "emergency",
}


def need_service_record_create(
    *, assignment: NeedAssignment, actor: User, evidence: Any = None
) -> None:
    """THE one place where a served need becomes a service record (CONTRACTS.md: records),
    through ``zhiyuan.records.services.record_create`` — hours, points and stars follow from it
    by the records service's confirmation, and by no other path.

    Each volunteer's part is its own record (source ``need:<need>:<volunteer>``). A part is left
    WAITING (never invented) when the records service cannot take it yet: it is not installed,
    or the volunteer serves for no organisation that could certify it. A part shorter than a
    minute makes no record, as a check-in session of under a minute does not. ``evidence`` is
    the part's on-site session (activities app) when there was one.
    """
    need = assignment.need
    assert assignment.started_at is not None and assignment.finished_at is not None
    if (assignment.finished_at - assignment.started_at).total_seconds() < 60:
        return
    organization = assignment.organization or record_organization_for(need, assignment.volunteer)
    if not apps.is_installed("zhiyuan.records") or organization is None:
        _record_waiting(assignment)
        return
    from zhiyuan.needs.timebank import timebank_paid
    from zhiyuan.records.models import RecordKind
    from zhiyuan.records.services import record_create

    source = f"need:{need.pk}:{assignment.volunteer_id}"
    record = record_create(
        volunteer=assignment.volunteer,
        organization=organization,
        region=need.region_id,
        kind=RecordKind.NEED,
        started_at=assignment.started_at,
        ended_at=assignment.finished_at,
        content=f"{need.category.top}: {need.category} — {need.description[:200]}",
        source=source,
        created_by=actor,
        need=need,
        evidence=evidence,
        category=need.category.top.code,
        urgency=LEDGER_URGENCY[Urgency(need.urgency)],
        # Service asked for with time credit earns the volunteer time credit in turn.
        time_bank=timebank_paid(need),
    )
    assignment.organization = organization
    assignment.record_status = RecordStatus.CREATED
    assignment.record_id = record.pk
    assignment.save(update_fields=["organization", "record_status", "record_id"])


def _record_waiting(assignment: NeedAssignment) -> None:
    assignment.record_status = RecordStatus.WAITING
    assignment.save(update_fields=["record_status"])


def need_records_backfill() -> int:
    """Try again the parts left WAITING (see :func:`need_service_record_create`); the number of
    records made."""
    done = 0
    waiting = NeedAssignment.objects.filter(record_status=RecordStatus.WAITING).select_related(
        "need", "need__category", "volunteer"
    )
    for assignment in waiting:
        from zhiyuan.activities.models import ServiceSession

        session = ServiceSession.objects.filter(
            need_key=f"need:{assignment.need_id}",
            volunteer=assignment.volunteer,
            checked_out_at__isnull=False,
        ).first()
        try:
            with transaction.atomic():
                need_service_record_create(
                    assignment=assignment, actor=assignment.volunteer, evidence=session
                )
        except ValidationError as exc:
            # One part the records service refuses must not hold back the others.
            logger.warning("need part %s not recorded: %s", assignment.pk, exc.messages)
            continue
        done += assignment.record_status == RecordStatus.CREATED
    return done


# --- the resident's rating ---------------------------------------------------------------------


def need_rate(
    *,
    need: Need,
    actor: User,
    score: int,
    tags: Sequence[str] = (),
    comment: str = "",
    request: HttpRequest | None = None,
) -> NeedRating:
    """The resident (or the proxy who posted) confirms completion and rates 1–5. A rating at or
    below the region's threshold opens a follow-up for the dispatcher."""
    party = Party.POSTER if Party.POSTER in selectors.need_parties(actor, need) else None
    comment = comment.strip()
    with transaction.atomic():
        need = _locked(need)
        if party is None:
            raise IllegalTransition(
                _("Only the resident or the person who posted for them can rate this need."),
                code="wrong_party",
            )
        transition_check(need.state, A.RATE, party)
        errors = {}
        if not isinstance(score, int) or not 1 <= score <= 5:
            errors["score"] = _("Choose from 1 to 5 stars.")
        if not set(tags) <= set(RATING_TAGS):
            errors["tags"] = _("Some of these tags do not exist.")
        if len(comment) > 500:
            errors["comment"] = _("At most %(n)d characters.") % {"n": 500}
        if errors:
            raise _errors(**errors)
        policy = selectors.need_policy_for(need.region_id)
        rating = NeedRating.objects.create(
            need=need,
            score=score,
            tags=sorted(set(tags)),
            comment=comment,
            rated_by=actor,
            follow_up=score <= policy.low_rating,
        )
        need.closed_at = timezone.now()
        _step(need, A.RATE, actor, request=request, fields=["closed_at"])
        served = list(
            need.assignments.filter(state=AssignmentState.FINISHED).values_list(
                "volunteer_id", flat=True
            )
        )
        _tell(
            served,
            need,
            "need.rated",
            gettext_lazy("Need #%(id)s was rated %(score)s of 5"),
            score=score,
        )
        if rating.follow_up:
            _tell_dispatchers(
                need,
                "need.follow_up",
                gettext_lazy("Low rating on need #%(id)s: please follow up"),
                gettext_lazy("Rated %(score)s of 5."),
                urgent=True,
                score=score,
            )
    return rating


def need_follow_up_close(
    *, rating: NeedRating, actor: User, note: str, request: HttpRequest | None = None
) -> NeedRating:
    """The dispatcher records what was done about a low rating."""
    require(actor, "need.dispatch", rating.need, request=request)
    note = note.strip()
    if not note:
        raise _errors(note=_("Say what was done."))
    with transaction.atomic():
        # Row lock on the rating: two dispatchers closing the same follow-up close it once.
        rating = NeedRating.objects.select_for_update().get(pk=rating.pk)
        if not rating.follow_up or rating.follow_up_closed_at is not None:
            raise IllegalTransition(_("This follow-up is already closed."), code="follow_up_closed")
        rating.follow_up_closed_at, rating.follow_up_closed_by = timezone.now(), actor
        rating.follow_up_note = note[:1000]
        rating.save(update_fields=["follow_up_closed_at", "follow_up_closed_by", "follow_up_note"])
        audit_record(
            action=NeedAudit.FOLLOW_UP_CLOSED, actor=actor, target=rating.need, request=request
        )
    return rating


# --- the clock ---------------------------------------------------------------------------------


def need_expire(*, need: Need) -> Need:
    """Nobody accepted before the window closed (or within a week, as soon as possible)."""
    with transaction.atomic():
        need = _locked(need)
        transition_check(need.state, A.EXPIRE, Party.SYSTEM)
        touched = _withdraw_offers(need, _("The need expired."))
        need.closed_at = timezone.now()
        need.review_due_at = need.accept_due_at = None
        _step(need, A.EXPIRE, None, fields=["closed_at", "review_due_at", "accept_due_at"])
        _refund(need, None)
        _tell_resident(
            need, "need.expired", gettext_lazy("Need #%(id)s expired: nobody could take it in time")
        )
        if touched:
            _tell(touched, need, "need.offer_withdrawn", gettext_lazy("Need #%(id)s expired"))
    return need


@dataclass
class WatchReport:
    returned: int = 0
    expired: int = 0
    review_alerts: int = 0
    start_alerts: int = 0
    reminders: int = 0


def need_deadlines_enforce(*, now: datetime | None = None) -> WatchReport:
    """What the clock does (run every minute by the worker): expire needs past their window,
    return needs nobody accepted in time, alert dispatchers of overdue reviews and starts, and
    remind people of deadlines that are near. Each need is handled in its own transaction."""
    now = now or timezone.now()
    report = WatchReport()
    stale = Need.objects.filter(
        Q(window_start__isnull=True, submitted_at__lt=now - selectors.EXPIRE_ASAP_AFTER)
        | Q(window_end__lt=now),
        state__in=list(UNACCEPTED),
    )
    for need in stale:
        try:
            need_expire(need=need)
            report.expired += 1
        except IllegalTransition:
            pass  # moved on in the meantime
    for need in Need.objects.filter(state=S.DISPATCHED, accept_due_at__lt=now):
        try:
            need_return(need=need, actor=None, reason=_("Nobody accepted in time."))
            report.returned += 1
        except IllegalTransition:
            pass
    for need in Need.objects.filter(
        state__in=list(OPEN), review_due_at__lt=now, review_alerted_at__isnull=True
    ):
        with transaction.atomic():
            if Need.objects.filter(pk=need.pk, review_alerted_at__isnull=True).update(
                review_alerted_at=now
            ):
                _tell_dispatchers(
                    need,
                    "need.review_overdue",
                    gettext_lazy("Need #%(id)s waits for review beyond its time limit"),
                    urgent=True,
                )
                report.review_alerts += 1
    for need in Need.objects.filter(
        state=S.ACCEPTED, start_due_at__lt=now, start_alerted_at__isnull=True
    ):
        with transaction.atomic():
            if Need.objects.filter(pk=need.pk, start_alerted_at__isnull=True).update(
                start_alerted_at=now
            ):
                _tell_dispatchers(
                    need,
                    "need.start_overdue",
                    gettext_lazy("Need #%(id)s has not started in time"),
                    urgent=True,
                )
                holders = need.assignments.filter(state=AssignmentState.ACCEPTED).values_list(
                    "volunteer_id", flat=True
                )
                _tell(
                    holders,
                    need,
                    "need.start_overdue",
                    gettext_lazy(
                        "Need #%(id)s should have started: please start it or tell the centre"
                    ),
                    urgent=True,
                )
                report.start_alerts += 1
    report.reminders = _remind(now)
    return report


def _remind(now: datetime) -> int:
    """Tell the people responsible for a step that its deadline is near — once per deadline."""
    sent = 0
    cache: dict[tuple[str, str], selectors.Limits] = {}
    horizon = now + timedelta(hours=2)
    rows = Need.objects.filter(
        Q(state__in=list(OPEN), review_due_at__gt=now, review_due_at__lte=horizon)
        | Q(state=S.DISPATCHED, accept_due_at__gt=now, accept_due_at__lte=horizon)
        | Q(state=S.ACCEPTED, start_due_at__gt=now, start_due_at__lte=horizon)
    ).select_related("category", "region")
    for need in rows:
        deadline = selectors.need_deadline(need, now, cache)
        if deadline is None or not deadline.due_soon:
            continue
        key = f"need:{need.pk}:{need.state}:{deadline.due_at:%Y%m%d%H%M}"
        due = timezone.localtime(deadline.due_at).strftime("%H:%M")
        with transaction.atomic():
            if need.state in OPEN:
                _tell_dispatchers(
                    need,
                    "need.remind_review",
                    gettext_lazy("Need #%(id)s must be reviewed by %(due)s"),
                    key=key,
                    due=due,
                )
            elif need.state == S.DISPATCHED:
                waiting = list(
                    need.assignments.filter(state=AssignmentState.OFFERED).values_list(
                        "volunteer_id", flat=True
                    )
                )
                if need.organization_id:
                    waiting += selectors.team_admins_of(need.organization_id)
                _tell(
                    waiting,
                    need,
                    "need.remind_accept",
                    gettext_lazy("Please answer need #%(id)s by %(due)s"),
                    key=key,
                    urgent=need.urgency != Urgency.ROUTINE,
                    due=due,
                )
            else:
                holders = need.assignments.filter(state=AssignmentState.ACCEPTED).values_list(
                    "volunteer_id", flat=True
                )
                _tell(
                    holders,
                    need,
                    "need.remind_start",
                    gettext_lazy("Need #%(id)s starts by %(due)s"),
                    key=key,
                    urgent=need.urgency != Urgency.ROUTINE,
                    due=due,
                )
        sent += 1
    return sent
