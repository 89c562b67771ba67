"""Writes of the safeguards: insurance, agreements, complaints and sanctions.

Each function checks the actor's ability, writes its rows and its audit entry in one
transaction. Nothing here takes money (Art. 21): amounts are what an insurer pays a volunteer,
or what was wrongly charged so that the authority can order it refunded.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.roles import Role
from zhiyuan.core.audit import audit_record, client_ip
from zhiyuan.core.models import AuditResult
from zhiyuan.core.permissions import Scope, require
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.organizations.services import (
    organization_require,
    organization_status_for_sanction,
    refuse,
)
from zhiyuan.organizations.uploads import upload_check, upload_store_name
from zhiyuan.regions.codes import ancestor_codes, parse_code
from zhiyuan.regions.models import Region
from zhiyuan.safeguards.models import (
    RESTRICTING,
    ActivityType,
    AgreementAcceptance,
    AgreementTemplate,
    AgreementVersion,
    Case,
    CaseAction,
    CaseActionKind,
    CaseCategory,
    CaseEvidence,
    CaseOutcome,
    CaseStatus,
    Claim,
    ClaimStatus,
    CoverBasis,
    Incident,
    IncidentSeverity,
    InsurancePolicy,
    InsuredPerson,
    PartyKind,
    SafeguardsAudit,
    Sanction,
    SanctionKind,
    SubjectKind,
)
from zhiyuan.safeguards.selectors import (
    agreement_current_version,
    follow_code_hash,
    sanction_active,
    volunteer_can_serve,
)

S = SafeguardsAudit
MAX_EVIDENCE_FILES = 5


def _errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


# --- volunteers under a sanction --------------------------------------------------------------


def volunteer_require_can_serve(
    user: Any, *, purpose: str, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Raise OperationRefused (audited, outside any write) if a sanction stops this person
    from signing up, joining or taking a dispatched task. ``purpose`` is recorded."""
    refusal = volunteer_can_serve(user)
    if refusal is None:
        return
    raise refuse(
        refusal,
        {
            "action": S.VOLUNTEER_REFUSED,
            "actor": actor or user,
            "target": user,
            "result": AuditResult.DENIED,
            "request": request,
            "detail": {
                "purpose": purpose,
                "reason": refusal.code,
                "sanction": refusal.sanction_id,
            },
        },
    )


# --- insurance --------------------------------------------------------------------------------


def insurance_policy_create(
    *,
    organization: Organization,
    insurer: str,
    policy_number: str,
    starts_on: date,
    ends_on: date,
    cover_death: Decimal,
    cover_disability: Decimal,
    cover_medical: Decimal,
    basis: str,
    activity_types: Iterable[str] = (),
    actor: User,
    request: HttpRequest | None = None,
) -> InsurancePolicy:
    """Record a personal-accident policy the organisation holds for its volunteers (Art. 17)."""
    organization_require(actor, "insurance.manage", organization, request=request)
    with transaction.atomic():
        errors: dict[str, list[str]] = {}
        insurer, policy_number = (insurer or "").strip(), (policy_number or "").strip()
        if not insurer:
            errors["insurer"] = [_("Enter the insurer.")]
        if not policy_number:
            errors["policy_number"] = [_("Enter the policy number.")]
        if ends_on < starts_on:
            errors["ends_on"] = [_("The last day of cover comes before the first.")]
        for name, amount in (
            ("cover_death", cover_death),
            ("cover_disability", cover_disability),
            ("cover_medical", cover_medical),
        ):
            if amount is None or amount < 0:
                errors[name] = [_("Enter an amount of at least 0.")]
        if basis not in CoverBasis.values:
            errors["basis"] = [_("Choose who the policy covers.")]
        types = [t for t in activity_types if t in ActivityType.values]
        if basis == CoverBasis.PARTICIPANTS and not types:
            errors["activity_types"] = [
                _("A policy for activity participants lists the activity types it covers.")
            ]
        if (
            insurer
            and policy_number
            and InsurancePolicy.objects.filter(
                insurer=insurer, policy_number=policy_number
            ).exists()
        ):
            errors["policy_number"] = [_("This insurer's policy number is already recorded.")]
        _errors(errors)
        policy = InsurancePolicy.objects.create(
            organization=organization,
            insurer=insurer,
            policy_number=policy_number,
            starts_on=starts_on,
            ends_on=ends_on,
            cover_death=cover_death,
            cover_disability=cover_disability,
            cover_medical=cover_medical,
            basis=basis,
            activity_types=types,
            created_by=actor,
        )
        audit_record(
            action=S.POLICY_CREATED,
            actor=actor,
            target=policy,
            request=request,
            detail={"organization": organization.pk, "basis": basis},
        )
        return policy


def insurance_policy_cancel(
    *, policy: InsurancePolicy, actor: User, request: HttpRequest | None = None
) -> InsurancePolicy:
    """Mark a policy cancelled: it no longer answers the cover question; its past stays."""
    organization_require(actor, "insurance.manage", policy.organization, request=request)
    with transaction.atomic():
        if policy.cancelled_at is None:
            policy.cancelled_at = timezone.now()
            policy.save(update_fields=["cancelled_at"])
            audit_record(action=S.POLICY_CANCELLED, actor=actor, target=policy, request=request)
        return policy


def insured_person_add(
    *, policy: InsurancePolicy, user: User, actor: User, request: HttpRequest | None = None
) -> InsuredPerson:
    """Name a volunteer on a policy that covers named volunteers."""
    organization_require(actor, "insurance.manage", policy.organization, request=request)
    with transaction.atomic():
        if policy.basis != CoverBasis.NAMED:
            raise ValidationError(_("This policy does not list named volunteers."))
        if not hasattr(user, "volunteer"):
            raise ValidationError(_("Only a registered volunteer can be named on a policy."))
        try:
            with transaction.atomic():
                person = InsuredPerson.objects.create(policy=policy, user=user)
        except IntegrityError as exc:
            raise ValidationError(_("This volunteer is already named on the policy.")) from exc
        audit_record(
            action=S.INSURED_ADDED,
            actor=actor,
            target=policy,
            request=request,
            detail={"user": user.pk},
        )
        return person


def incident_record(
    *,
    policy: InsurancePolicy,
    occurred_at: datetime,
    activity_type: str,
    severity: str,
    description: str,
    volunteer: User | None = None,
    activity_key: str = "",
    actor: User,
    request: HttpRequest | None = None,
) -> Incident:
    """Record what happened to a volunteer during service, against the policy that covers it."""
    organization_require(actor, "insurance.manage", policy.organization, request=request)
    with transaction.atomic():
        errors: dict[str, list[str]] = {}
        day = timezone.localdate(occurred_at)
        if not (policy.starts_on <= day <= policy.ends_on):
            errors["occurred_at"] = [
                _("This day is outside the policy's period (%(start)s to %(end)s).")
                % {"start": policy.starts_on.isoformat(), "end": policy.ends_on.isoformat()}
            ]
        if occurred_at > timezone.now():
            errors["occurred_at"] = [_("An incident cannot be in the future.")]
        if activity_type not in ActivityType.values:
            errors["activity_type"] = [_("Choose the activity type.")]
        if severity not in IncidentSeverity.values:
            errors["severity"] = [_("Choose how serious it was.")]
        if not (description or "").strip():
            errors["description"] = [_("Describe what happened.")]
        _errors(errors)
        incident = Incident.objects.create(
            policy=policy,
            volunteer=volunteer,
            occurred_at=occurred_at,
            activity_key=(activity_key or "").strip()[:100],
            activity_type=activity_type,
            severity=severity,
            description=description.strip(),
            recorded_by=actor,
        )
        audit_record(
            action=S.INCIDENT,
            actor=actor,
            target=incident,
            request=request,
            detail={"policy": policy.pk, "severity": severity},
        )
        return incident


def claim_submit(
    *,
    incident: Incident,
    amount_claimed: Decimal,
    insurer_reference: str = "",
    actor: User,
    request: HttpRequest | None = None,
) -> Claim:
    """Record a claim made to the insurer for an incident."""
    organization_require(actor, "insurance.manage", incident.policy.organization, request=request)
    with transaction.atomic():
        if amount_claimed is None or amount_claimed <= 0:
            raise ValidationError({"amount_claimed": [_("Enter the amount claimed.")]})
        claim = Claim.objects.create(
            incident=incident,
            amount_claimed=amount_claimed,
            insurer_reference=(insurer_reference or "").strip()[:60],
            submitted_by=actor,
        )
        audit_record(action=S.CLAIM, actor=actor, target=claim, request=request)
        return claim


def _cover_limit(policy: InsurancePolicy, severity: str) -> Decimal:
    if severity == IncidentSeverity.DEATH:
        return policy.cover_death
    if severity == IncidentSeverity.SERIOUS:
        return max(policy.cover_disability, policy.cover_medical)
    return policy.cover_medical


def claim_decide(
    *,
    claim: Claim,
    status: str,
    amount_paid: Decimal | None = None,
    actor: User,
    request: HttpRequest | None = None,
) -> Claim:
    """Record the insurer's answer: approved, paid (with the amount) or denied."""
    policy = claim.incident.policy
    organization_require(actor, "insurance.manage", policy.organization, request=request)
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if status not in (ClaimStatus.APPROVED, ClaimStatus.PAID, ClaimStatus.DENIED):
            raise ValidationError({"status": [_("Choose approved, paid or denied.")]})
        if locked.status in (ClaimStatus.PAID, ClaimStatus.DENIED):
            raise ValidationError(_("This claim is settled already."))
        if status == ClaimStatus.PAID:
            limit = _cover_limit(policy, claim.incident.severity)
            if amount_paid is None or amount_paid <= 0:
                raise ValidationError({"amount_paid": [_("Enter the amount paid.")]})
            if amount_paid > limit:
                raise ValidationError(
                    {
                        "amount_paid": [
                            _("More than the policy covers for this (%(limit)s yuan).")
                            % {"limit": limit}
                        ]
                    }
                )
        locked.status = status
        locked.amount_paid = amount_paid if status == ClaimStatus.PAID else None
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "amount_paid", "decided_at"])
        audit_record(
            action=S.CLAIM_DECIDED,
            actor=actor,
            target=locked,
            request=request,
            detail={"status": status},
        )
        return locked


# --- agreements -------------------------------------------------------------------------------


def agreement_template_create(
    *,
    organization: Organization,
    title: str,
    body: str,
    actor: User,
    request: HttpRequest | None = None,
) -> AgreementTemplate:
    """A new agreement of the organisation, with its first version."""
    organization_require(actor, "agreement.manage", organization, request=request)
    with transaction.atomic():
        errors: dict[str, list[str]] = {}
        if not (title or "").strip():
            errors["title"] = [_("Give the agreement a title.")]
        if not (body or "").strip():
            errors["body"] = [_("Write the agreement's text.")]
        _errors(errors)
        template = AgreementTemplate.objects.create(organization=organization, title=title.strip())
        AgreementVersion.objects.create(
            template=template, number=1, body=body.strip(), published_by=actor
        )
        audit_record(action=S.AGREEMENT_CREATED, actor=actor, target=template, request=request)
        return template


def agreement_version_publish(
    *, template: AgreementTemplate, body: str, actor: User, request: HttpRequest | None = None
) -> AgreementVersion:
    """Publish a new text. Earlier versions and their acceptances stay as they were."""
    organization_require(actor, "agreement.manage", template.organization, request=request)
    with transaction.atomic():
        if not (body or "").strip():
            raise ValidationError({"body": [_("Write the agreement's text.")]})
        # Row lock on the template: two admins publishing at once get consecutive numbers.
        AgreementTemplate.objects.select_for_update().get(pk=template.pk)
        current = agreement_current_version(template)
        if current is not None and current.body == body.strip():
            raise ValidationError({"body": [_("The text is the same as the current version.")]})
        version = AgreementVersion.objects.create(
            template=template,
            number=(current.number + 1) if current else 1,
            body=body.strip(),
            published_by=actor,
        )
        audit_record(
            action=S.AGREEMENT_VERSION,
            actor=actor,
            target=version,
            request=request,
            detail={"number": version.number},
        )
        return version


def agreement_accept(
    *,
    version: AgreementVersion,
    user: User,
    subject: str = "",
    request: HttpRequest | None = None,
) -> AgreementAcceptance:
    """Record the volunteer's electronic acceptance: who, when, which version, from where."""
    require(user, "agreement.accept", request=request)
    with transaction.atomic():
        current = agreement_current_version(version.template)
        if current is None or current.pk != version.pk:
            raise ValidationError(
                _("A newer version of this agreement exists: read and accept it.")
            )
        subject = (subject or "").strip()[:100]
        existing = AgreementAcceptance.objects.filter(version=version, user=user, subject=subject)
        if existing.exists():
            return existing.get()
        acceptance = AgreementAcceptance.objects.create(
            version=version,
            user=user,
            subject=subject,
            ip=client_ip(request),
            user_agent=(request.META.get("HTTP_USER_AGENT", "") if request else "")[:200],
        )
        audit_record(
            action=S.AGREEMENT_ACCEPTED,
            actor=user,
            target=acceptance,
            request=request,
            detail={"version": version.pk, "number": version.number},
        )
        return acceptance


# --- complaints and reports -------------------------------------------------------------------

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _new_follow_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def case_pick_assignee(region_code: str) -> User | None:
    """The region admin closest to the place (deepest scope), with the fewest open cases."""
    grants = list(
        RoleGrant.objects.filter(
            role=Role.REGION_ADMIN,
            revoked_at__isnull=True,
            region_id__in=ancestor_codes(region_code),
            user__is_active=True,
        ).select_related("user")
    )
    if not grants:
        return None
    load = dict(
        Case.objects.filter(assignee_id__in=[g.user_id for g in grants])
        .exclude(status=CaseStatus.DECIDED)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    best = min(
        grants,
        key=lambda g: (
            -len(parse_code(g.region_id or "").prefix),
            load.get(g.user_id, 0),
            g.user_id,
        ),
    )
    return best.user


def case_due_days() -> int:
    return int(getattr(settings, "ZHIYUAN_CASE_DUE_DAYS", 15))


@dataclass(frozen=True)
class SubmittedCase:
    case: Case
    follow_code: str  # shown once to the reporter; only its hash is stored


@transaction.atomic
def case_submit(
    *,
    category: str,
    subject_kind: str,
    description: str,
    organization: Organization | None = None,
    subject_detail: str = "",
    reported_user: User | None = None,
    region: Region | None = None,
    amount_charged: Decimal | None = None,
    reporter: User | None = None,
    reporter_name: str = "",
    reporter_contact: str = "",
    evidence: Iterable[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> SubmittedCase:
    """Anyone — logged in or not — complains about or reports an organisation, an activity or a
    person (Art. 26). The case goes to a region admin of the place with an answer date; the
    reporter gets a code to follow it without logging in."""
    errors: dict[str, list[str]] = {}
    if category not in CaseCategory.values:
        errors["category"] = [_("Choose what happened.")]
    if subject_kind not in SubjectKind.values:
        errors["subject_kind"] = [_("Choose who or what the report is about.")]
    if subject_kind == SubjectKind.ORGANIZATION and organization is None:
        errors["organization"] = [_("Choose the organisation.")]
    if subject_kind in (SubjectKind.ACTIVITY, SubjectKind.PERSON) and not (
        (subject_detail or "").strip() or reported_user
    ):
        errors["subject_detail"] = [_("Say which activity or person.")]
    place = organization.region if organization is not None else region
    if place is None:
        errors["region"] = [_("Choose where it happened.")]
    description = (description or "").strip()
    if len(description) < 10:
        errors["description"] = [_("Describe what happened in a few sentences.")]
    if amount_charged is not None and amount_charged < 0:
        errors["amount_charged"] = [_("Enter an amount of at least 0.")]
    files = list(evidence)
    if len(files) > MAX_EVIDENCE_FILES:
        errors["evidence"] = [_("At most %(n)d files.") % {"n": MAX_EVIDENCE_FILES}]
    checked = []
    for upload in files:
        try:
            checked.append(upload_check(upload))
        except ValidationError as exc:
            errors.setdefault("evidence", []).extend(
                f"{(upload.name or '')[:40]}: {m}" for m in exc.messages
            )
    _errors(errors)
    assert place is not None
    code = _new_follow_code()
    now = timezone.now()
    case = Case.objects.create(
        follow_code_hash=follow_code_hash(code),
        category=category,
        subject_kind=subject_kind,
        organization=organization,
        subject_detail=(subject_detail or "").strip(),
        reported_user=reported_user,
        region=place,
        description=description,
        amount_charged=amount_charged if category == CaseCategory.CHARGING else None,
        reporter=reporter if reporter is not None and reporter.is_authenticated else None,
        reporter_name=(reporter_name or "").strip()[:60],
        reporter_contact=(reporter_contact or "").strip()[:100],
        assignee=case_pick_assignee(place.code),
        created_at=now,
        due_at=now + timedelta(days=case_due_days()),
    )
    case.reference = f"C{timezone.localdate(now):%Y%m%d}-{case.pk:05d}"
    case.save(update_fields=["reference"])
    for item in checked:
        stored = CaseEvidence(
            case=case,
            content_type=item.content_type,
            original_name=item.original_name,
            size=item.file.size or 0,
        )
        stored.file.save(upload_store_name(item), item.file, save=False)
        stored.save()
    CaseAction.objects.create(
        case=case,
        kind=CaseActionKind.RECEIVED,
        visible_to_reporter=True,
    )
    audit_record(
        action=S.CASE_SUBMITTED,
        actor=reporter,
        target=case,
        request=request,
        detail={
            "category": category,
            "subject": subject_kind,
            "organization": organization.pk if organization else None,
            "evidence": len(checked),
            "assignee": case.assignee_id,
        },
    )
    return SubmittedCase(case, code)


class CaseConflict(ValidationError):
    """Someone changed the case since the actor loaded it; nothing was written."""


def _conflict(case: Case, actor: User, request: HttpRequest | None) -> CaseConflict:
    current = Case.objects.select_related("decided_by").get(pk=case.pk)
    # The refusal is audited after this transaction rolls back (see _apply).
    if current.status == CaseStatus.DECIDED:
        message = _(
            "Someone else decided this case first (%(outcome)s, by %(who)s): your decision "
            "was not saved. Reload the case to see it."
        ) % {
            "outcome": current.get_outcome_display(),
            "who": current.decided_by.name if current.decided_by else "—",
        }
    else:
        message = _(
            "Someone else changed this case while you were looking at it: nothing was "
            "saved. Reload the case and try again."
        )
    return CaseConflict(message, code="conflict")


def _apply(
    case: Case,
    expected_version: int,
    changes: dict[str, Any],
    *,
    actor: User,
    request: HttpRequest | None,
    action_kind: str,
    note: str,
    public_note: str,
    audit_action: str,
    detail: dict[str, Any],
    visible: bool = False,
) -> Case:
    """Change the case only if it is still at ``expected_version`` (optimistic locking).

    The UPDATE … WHERE version = n is the whole protection: on PostgreSQL the second of two
    concurrent writers waits for the first's row lock, re-reads the row, finds the version
    moved on and updates nothing — it is told, and nothing it sent is half-saved.
    """
    try:
        with transaction.atomic():
            updated = (
                Case.objects.filter(pk=case.pk, version=expected_version)
                .exclude(status=CaseStatus.DECIDED)
                .update(**changes, version=F("version") + 1)
            )
            if updated != 1:
                raise _conflict(case, actor, request)
            CaseAction.objects.create(
                case_id=case.pk,
                actor=actor,
                kind=action_kind,
                note=(note or "").strip(),
                public_note=public_note,
                visible_to_reporter=visible or bool(public_note),
            )
            audit_record(
                action=audit_action, actor=actor, target=case, request=request, detail=detail
            )
    except CaseConflict:
        audit_record(
            action=S.CASE_CONFLICT,
            actor=actor,
            target=case,
            result=AuditResult.DENIED,
            request=request,
            detail={"expected_version": expected_version, "attempt": audit_action},
        )
        raise
    case.refresh_from_db()
    return case


def case_assign(
    *,
    case: Case,
    assignee: User,
    expected_version: int,
    actor: User,
    request: HttpRequest | None = None,
) -> Case:
    """Give the case to another region admin whose area covers it."""
    require(actor, "case.handle", case, request=request)
    from zhiyuan.core.permissions import has_perm

    if not has_perm(assignee, "case.handle", case):
        raise ValidationError({"assignee": [_("This person is not a region admin of the place.")]})
    return _apply(
        case,
        expected_version,
        {"assignee_id": assignee.pk},
        actor=actor,
        request=request,
        action_kind=CaseActionKind.ASSIGNED,
        note="",
        public_note="",
        audit_action=S.CASE_ASSIGNED,
        detail={"assignee": assignee.pk},
    )


def case_start_investigation(
    *, case: Case, expected_version: int, actor: User, request: HttpRequest | None = None
) -> Case:
    """Open the investigation; the reporter sees that the case is being looked into."""
    require(actor, "case.handle", case, request=request)
    if case.status != CaseStatus.OPEN:
        raise ValidationError(_("The investigation has started already."))
    return _apply(
        case,
        expected_version,
        {"status": CaseStatus.INVESTIGATING},
        actor=actor,
        request=request,
        action_kind=CaseActionKind.STATUS,
        note="",
        public_note="",
        visible=True,
        audit_action=S.CASE_STATUS,
        detail={"to": CaseStatus.INVESTIGATING},
    )


def case_decide(
    *,
    case: Case,
    expected_version: int,
    outcome: str,
    public_summary: str,
    note: str = "",
    actor: User,
    request: HttpRequest | None = None,
) -> Case:
    """Decide the case. If another admin decided or changed it since ``expected_version``,
    nothing is saved and CaseConflict says who decided what."""
    require(actor, "case.handle", case, request=request)
    errors: dict[str, list[str]] = {}
    if outcome not in CaseOutcome.values:
        errors["outcome"] = [_("Choose the outcome.")]
    public_summary = (public_summary or "").strip()
    if not public_summary:
        errors["public_summary"] = [_("Write what the reporter will be told.")]
    _errors(errors)
    return _apply(
        case,
        expected_version,
        {
            "status": CaseStatus.DECIDED,
            "outcome": outcome,
            "public_summary": public_summary,
            "decided_at": timezone.now(),
            "decided_by_id": actor.pk,
        },
        actor=actor,
        request=request,
        action_kind=CaseActionKind.DECIDED,
        note=note,
        public_note=public_summary,
        audit_action=S.CASE_DECIDED,
        detail={"outcome": outcome},
    )


def case_note_add(
    *,
    case: Case,
    note: str,
    actor: User,
    public_note: str = "",
    request: HttpRequest | None = None,
) -> CaseAction:
    """Add to the case's log. Notes do not move the version: they never conflict."""
    require(actor, "case.handle", case, request=request)
    with transaction.atomic():
        if not (note or "").strip() and not (public_note or "").strip():
            raise ValidationError({"note": [_("Write the note.")]})
        action = CaseAction.objects.create(
            case=case,
            actor=actor,
            kind=CaseActionKind.NOTE,
            note=(note or "").strip(),
            public_note=(public_note or "").strip(),
            visible_to_reporter=bool((public_note or "").strip()),
        )
        audit_record(action=S.CASE_NOTE, actor=actor, target=case, request=request)
        return action


# --- sanctions --------------------------------------------------------------------------------

ORG_KINDS = (SanctionKind.WARNING, SanctionKind.SUSPENSION, SanctionKind.DEREGISTRATION)
VOLUNTEER_KINDS = (SanctionKind.WARNING, SanctionKind.SUSPENSION, SanctionKind.BAN)


def _party_region(party: Any, case: Case | None) -> Region | None:
    if isinstance(party, Organization):
        return party.region
    profile = getattr(party, "volunteer", None)
    if profile is not None:
        return profile.region
    return case.region if case is not None else None


def _status_after(org: Organization, now: datetime) -> str:
    """The status an organisation's sanctions give it now (verification states untouched)."""
    active = sanction_active(org, now)
    if active is not None and active.kind == SanctionKind.DEREGISTRATION:
        return OrganizationStatus.DEREGISTERED
    if active is not None and active.kind == SanctionKind.SUSPENSION:
        if org.status in (OrganizationStatus.VERIFIED, OrganizationStatus.SUSPENDED):
            return OrganizationStatus.SUSPENDED
        return org.status
    if org.status in (OrganizationStatus.SUSPENDED, OrganizationStatus.DEREGISTERED):
        # Lifted or run out: back to the verified state it had before.
        return OrganizationStatus.VERIFIED
    return org.status


def _sync_org_status(
    org: Organization, sanction: Sanction, actor: Any, request: HttpRequest | None
) -> None:
    status = _status_after(org, timezone.now())
    if status != org.status:
        organization_status_for_sanction(
            organization=org,
            status=status,
            reason=sanction.reason if status != OrganizationStatus.VERIFIED else "",
            sanction_id=sanction.pk,
            actor=actor,
            request=request,
        )


def sanction_impose(
    *,
    party: Organization | User,
    kind: str,
    reason: str,
    ends_at: datetime | None = None,
    starts_at: datetime | None = None,
    case: Case | None = None,
    actor: User,
    request: HttpRequest | None = None,
) -> Sanction:
    """Sanction an organisation (warning, suspension, deregistration) or a volunteer (warning,
    suspension, ban), with the reason, the case it follows from and its period. Suspending or
    deregistering an organisation changes its status in the same transaction."""
    is_org = isinstance(party, Organization)
    region = _party_region(party, case)
    scope = party if is_org else Scope(region_code=region.code if region else None)
    require(actor, "sanction.impose", scope, request=request)
    with transaction.atomic():
        now = timezone.now()
        starts_at = starts_at or now
        errors: dict[str, list[str]] = {}
        allowed = ORG_KINDS if is_org else VOLUNTEER_KINDS
        if kind not in allowed:
            errors["kind"] = [_("This sanction does not apply to this kind of party.")]
        reason = (reason or "").strip()
        if not reason:
            errors["reason"] = [_("Give the reason (for an organisation it is published).")]
        if kind == SanctionKind.SUSPENSION and ends_at is None:
            errors["ends_at"] = [_("A suspension names its end.")]
        if kind in (SanctionKind.DEREGISTRATION, SanctionKind.BAN):
            ends_at = None
        if ends_at is not None and ends_at <= max(starts_at, now):
            errors["ends_at"] = [_("The end must be later than the start and than now.")]
        if region is None:
            errors["party"] = [_("This person has no home region: impose it from a case.")]
        if case is not None and not Case.objects.filter(pk=case.pk).exists():
            errors["case"] = [_("No such case.")]
        _errors(errors)
        assert region is not None
        if is_org:
            # Row lock on the organisation: serialises sanctions with each other and with
            # verification, so the status written matches the sanctions in force.
            party = Organization.objects.select_for_update().get(pk=party.pk)
        sanction = Sanction.objects.create(
            party_kind=PartyKind.ORGANIZATION if is_org else PartyKind.VOLUNTEER,
            organization=party if isinstance(party, Organization) else None,
            user=None if isinstance(party, Organization) else party,
            kind=kind,
            reason=reason,
            case=case,
            region=region,
            starts_at=starts_at,
            ends_at=ends_at,
            imposed_by=actor,
        )
        audit_record(
            action=S.SANCTION_IMPOSED,
            actor=actor,
            target=sanction,
            request=request,
            detail={
                "party": sanction.party_kind,
                "party_id": party.pk,
                "kind": kind,
                "case": case.pk if case else None,
            },
        )
        if is_org:
            assert isinstance(party, Organization)
            _sync_org_status(party, sanction, actor, request)
        if case is not None:
            CaseAction.objects.create(
                case=case,
                actor=actor,
                kind=CaseActionKind.SANCTION,
                visible_to_reporter=True,
                sanction=sanction,
            )
        return sanction


def sanction_lift(
    *, sanction: Sanction, reason: str, actor: User, request: HttpRequest | None = None
) -> Sanction:
    """End a sanction early, saying why. The row stays; an organisation whose last restricting
    sanction is lifted is verified again."""
    require(actor, "sanction.impose", sanction, request=request)
    with transaction.atomic():
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"lift_reason": [_("Say why the sanction is lifted.")]})
        locked = Sanction.objects.select_for_update().get(pk=sanction.pk)
        now = timezone.now()
        if locked.lifted_at is not None or (locked.ends_at is not None and locked.ends_at <= now):
            raise ValidationError(_("This sanction is over already."))
        if locked.organization_id is not None:
            Organization.objects.select_for_update().get(pk=locked.organization_id)
        locked.lifted_at = now
        locked.lifted_by = actor
        locked.lift_reason = reason
        locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        audit_record(action=S.SANCTION_LIFTED, actor=actor, target=locked, request=request)
        org_id = locked.organization_id
        if org_id is not None:
            _sync_org_status(Organization.objects.get(pk=org_id), locked, actor, request)
        return locked


def sanction_sync_statuses(now: datetime | None = None) -> int:
    """Bring organisation statuses in line with sanctions that began or ran out since the last
    run (the gate never waits for this: it reads the sanctions themselves). Returns how many
    organisations changed."""
    now = now or timezone.now()
    candidates = set(
        Organization.objects.filter(
            status__in=[OrganizationStatus.SUSPENDED, OrganizationStatus.DEREGISTERED]
        ).values_list("pk", flat=True)
    ) | set(
        Sanction.objects.filter(
            party_kind=PartyKind.ORGANIZATION,
            kind__in=RESTRICTING,
            starts_at__lte=now,
            lifted_at__isnull=True,
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .values_list("organization_id", flat=True)
    )
    changed = 0
    for org_id in sorted(candidates):
        with transaction.atomic():
            org = Organization.objects.select_for_update().get(pk=org_id)
            last = (
                Sanction.objects.filter(organization=org, kind__in=RESTRICTING)
                .order_by("-starts_at")
                .first()
            )
            if last is None:
                continue  # a status set before sanctions existed: left to a region admin
            status = _status_after(org, now)
            if status != org.status:
                organization_status_for_sanction(
                    organization=org,
                    status=status,
                    reason="" if status == OrganizationStatus.VERIFIED else last.reason,
                    sanction_id=last.pk,
                    actor=None,
                )
                changed += 1
    return changed
