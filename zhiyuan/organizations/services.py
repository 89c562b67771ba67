"""Writes to organisations: registration, verification, teams, members and recruitment.

Every state change is audited in the same transaction. Anything that publishes or recruits
first asks :func:`organization_require_operable`, which audits a refusal *outside* the write's
transaction (so the refusal stays on record when the write is abandoned) and raises
:class:`OperationRefused` naming the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, role_revoke
from zhiyuan.core.audit import audit_record
from zhiyuan.core.models import AuditResult
from zhiyuan.core.permissions import Refused, has_perm, record_refusal, require
from zhiyuan.organizations.credit_codes import CODE_REQUIRED, CreditCodeError, credit_code_check
from zhiyuan.organizations.models import (
    MemberRole,
    Membership,
    MembershipRequest,
    Organization,
    OrganizationAudit,
    OrganizationKind,
    OrganizationStatus,
    RecruitmentCall,
    RequestKind,
    RequestStatus,
    ServiceField,
)
from zhiyuan.organizations.selectors import (
    OperatePurpose,
    Refusal,
    organization_can_operate,
    organization_chain,
)
from zhiyuan.organizations.uploads import upload_check, upload_store_name
from zhiyuan.regions.codes import Level
from zhiyuan.regions.models import Region

A = OrganizationAudit
# Registered through this app; partner merchants are set up by the rewards store.
REGISTRABLE_KINDS = [k for k in OrganizationKind if k != OrganizationKind.MERCHANT]


class OperationRefused(Refused):
    """The organisation or person may not do this now; ``refusal`` says why.

    Like core's ``Refused`` it carries its audit entry: written at once outside a transaction,
    else by whoever catches it once the transaction is gone (``record_refusal``; the views and
    the API do, and ``RefusalAuditMiddleware`` catches the rest).
    """

    def __init__(self, refusal: Refusal, audit: dict[str, Any]) -> None:
        super().__init__(refusal.message, audit)
        self.refusal = refusal


def refuse(refusal: Refusal, audit: dict[str, Any]) -> OperationRefused:
    """The exception for a refusal, its audit entry written now if no transaction is open."""
    exc = OperationRefused(refusal, audit)
    if not transaction.get_connection().in_atomic_block:
        record_refusal(exc)
    return exc


# --- permission and gate helpers --------------------------------------------------------------


def organization_may(user: Any, ability: str, org: Organization) -> bool:
    """``has_perm`` on the organisation or any parent: a parent's admin manages its teams."""
    return any(has_perm(user, ability, node) for node in organization_chain(org))


def organization_require(
    user: Any, ability: str, org: Organization, request: HttpRequest | None = None
) -> None:
    """Like ``require``, over the organisation and its parents; audits a refusal."""
    if not organization_may(user, ability, org):
        require(user, ability, org, request=request)


def organization_require_operable(
    org: Organization,
    *,
    purpose: str,
    actor: Any,
    request: HttpRequest | None = None,
) -> None:
    """Raise OperationRefused (after auditing it) unless ``org`` may operate now.

    Called before the write's own transaction opens, so the refusal stays in the audit log
    (inside a caller's transaction the entry rides on the exception; see OperationRefused).
    """
    refusal = organization_can_operate(org, purpose=purpose)
    if refusal is None:
        return
    raise refuse(
        refusal,
        {
            "action": A.REFUSED,
            "actor": actor,
            "target": org,
            "result": AuditResult.DENIED,
            "request": request,
            "detail": {
                "purpose": purpose,
                "reason": refusal.code,
                "organization": refusal.organization_id,
                "sanction": refusal.sanction_id,
            },
        },
    )


# --- registration -----------------------------------------------------------------------------


def _clean_registration(
    *,
    name: str,
    kind: str,
    credit_code: str | None,
    legal_representative: str,
    contact_name: str,
    contact_phone: str,
    region: Region,
    service_fields: Iterable[str],
    sponsor: Organization | None,
    sponsor_region: Region | None,
    instance: Organization | None = None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors.setdefault("name", []).append(_("Enter the organisation's name."))
    if kind not in REGISTRABLE_KINDS:
        errors.setdefault("kind", []).append(_("Choose the kind of organisation."))
    code: str | None = None
    raw_code = (credit_code or "").strip()
    if raw_code:
        try:
            code = credit_code_check(raw_code, kind).value
        except CreditCodeError as exc:
            errors.setdefault("credit_code", []).append(str(exc))
        else:
            taken = Organization.objects.filter(credit_code=code)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                errors.setdefault("credit_code", []).append(
                    _("An organisation with this credit code is registered already.")
                )
    elif kind in CODE_REQUIRED:
        errors.setdefault("credit_code", []).append(
            _("A %(kind)s gives its unified social credit code.")
            % {"kind": OrganizationKind(kind).label}
        )
    if kind == OrganizationKind.COMMUNITY_TEAM and not raw_code:
        if sponsor is None and sponsor_region is None:
            errors.setdefault("sponsor", []).append(
                _(
                    "A grassroots team without a credit code names a sponsoring verified "
                    "organisation or community."
                )
            )
        if sponsor is not None and organization_can_operate(sponsor) is not None:
            errors.setdefault("sponsor", []).append(
                _("The sponsoring organisation must be verified and in good standing.")
            )
        if sponsor_region is not None and sponsor_region.level != Level.COMMUNITY:
            errors.setdefault("sponsor_region", []).append(
                _("The sponsoring community must be a community or village.")
            )
    if not (legal_representative or "").strip():
        errors.setdefault("legal_representative", []).append(
            _("Enter the legal representative (for a team: its leader).")
        )
    if not (contact_name or "").strip():
        errors.setdefault("contact_name", []).append(_("Enter a contact person."))
    phone = ""
    try:
        phone = normalize_mobile(contact_phone)
    except InvalidPhone as exc:
        errors.setdefault("contact_phone", []).append(str(exc))
    fields = [f for f in service_fields if f in ServiceField.values]
    if not fields:
        errors.setdefault("service_fields", []).append(_("Choose at least one field of service."))
    if region is None or region.level < Level.DISTRICT:
        errors.setdefault("region", []).append(
            _("Choose a district, street or community as the service area.")
        )
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "kind": kind,
        "credit_code": code,
        "legal_representative": legal_representative.strip(),
        "contact_name": contact_name.strip(),
        "contact_phone": phone,
        "region": region,
        "service_fields": fields,
        "sponsor": sponsor if kind == OrganizationKind.COMMUNITY_TEAM and not code else None,
        "sponsor_region": (
            sponsor_region if kind == OrganizationKind.COMMUNITY_TEAM and not code else None
        ),
    }


def _attach_certificate(org: Organization, certificate: UploadedFile) -> None:
    try:
        checked = upload_check(certificate)
    except ValidationError as exc:
        raise ValidationError({"certificate": exc.messages}) from exc
    org.certificate.save(upload_store_name(checked), checked.file, save=False)
    org.certificate_type = checked.content_type


def organization_register(
    *,
    actor: User,
    name: str,
    kind: str,
    credit_code: str | None,
    legal_representative: str,
    contact_name: str,
    contact_phone: str,
    region: Region,
    service_fields: Iterable[str],
    description: str = "",
    sponsor: Organization | None = None,
    sponsor_region: Region | None = None,
    certificate: UploadedFile | None = None,
    request: HttpRequest | None = None,
) -> Organization:
    """Register an organisation; it waits for a region admin of its area to verify it.

    The person registering becomes its organisation admin (and team leader) when it is
    verified, not before: until then they can only see and correct their registration.
    """
    require(actor, "organization.register", request=request)
    data = _clean_registration(
        name=name,
        kind=kind,
        credit_code=credit_code,
        legal_representative=legal_representative,
        contact_name=contact_name,
        contact_phone=contact_phone,
        region=region,
        service_fields=service_fields,
        sponsor=sponsor,
        sponsor_region=sponsor_region,
    )
    with transaction.atomic():
        org = Organization(
            **data,
            description=(description or "").strip(),
            registered_by=actor,
            status=OrganizationStatus.PENDING,
            status_changed_at=timezone.now(),
        )
        if certificate is not None:
            _attach_certificate(org, certificate)
        try:
            with transaction.atomic():
                org.save()
        except IntegrityError as exc:  # a concurrent registration took the code
            raise ValidationError(
                {"credit_code": [_("An organisation with this credit code is registered already.")]}
            ) from exc
        audit_record(
            action=A.REGISTERED,
            actor=actor,
            target=org,
            request=request,
            detail={"kind": org.kind, "region": org.region_id, "code_given": bool(org.credit_code)},
        )
    return org


def organization_update_registration(
    *,
    organization: Organization,
    actor: User,
    name: str,
    kind: str,
    credit_code: str | None,
    legal_representative: str,
    contact_name: str,
    contact_phone: str,
    region: Region,
    service_fields: Iterable[str],
    description: str = "",
    sponsor: Organization | None = None,
    sponsor_region: Region | None = None,
    certificate: UploadedFile | None = None,
    request: HttpRequest | None = None,
) -> Organization:
    """Correct a registration that waits or was rejected; a rejected one goes back to waiting.

    Only the person who registered it may; a verified organisation's registration changes
    through the region admin (not built here).
    """
    if organization.registered_by_id != actor.pk:
        # Only the registrant corrects a registration: an ability nobody holds, so the
        # refusal is audited like any other.
        require(actor, "organization.correct_others_registration", organization, request=request)
    with transaction.atomic():
        # Row lock: a correction and a region admin's decision do not interleave.
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.status not in (OrganizationStatus.PENDING, OrganizationStatus.REJECTED):
            raise ValidationError(_("Only a waiting or rejected registration can be corrected."))
        data = _clean_registration(
            name=name,
            kind=kind,
            credit_code=credit_code,
            legal_representative=legal_representative,
            contact_name=contact_name,
            contact_phone=contact_phone,
            region=region,
            service_fields=service_fields,
            sponsor=sponsor,
            sponsor_region=sponsor_region,
            instance=org,
        )
        for key, value in data.items():
            setattr(org, key, value)
        org.description = (description or "").strip()
        if certificate is not None:
            _attach_certificate(org, certificate)
        was = org.status
        org.status = OrganizationStatus.PENDING
        org.status_changed_at = timezone.now()
        org.save()
        audit_record(
            action=A.UPDATED,
            actor=actor,
            target=org,
            request=request,
            detail={"from": was, "to": org.status},
        )
        return org


def organization_certificate_attach(
    *,
    organization: Organization,
    certificate: UploadedFile,
    actor: User,
    request: HttpRequest | None = None,
) -> Organization:
    """Upload (or replace) the registration certificate: the registrant or an org admin."""
    if organization.registered_by_id != actor.pk:
        organization_require(actor, "organization.manage", organization, request=request)
    with transaction.atomic():
        # Row lock: two uploads at once leave one certificate, not a mix.
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        _attach_certificate(org, certificate)
        org.save(update_fields=["certificate", "certificate_type"])
        audit_record(
            action=A.CERTIFICATE,
            actor=actor,
            target=org,
            request=request,
            detail={"type": org.certificate_type},
        )
        return org


# --- verification -----------------------------------------------------------------------------


def _set_status(
    org: Organization,
    status: str,
    *,
    reason: str,
    action: str,
    actor: Any,
    request: HttpRequest | None,
    detail: dict[str, Any] | None = None,
) -> None:
    was = org.status
    org.status = status
    org.status_reason = reason
    org.status_changed_at = timezone.now()
    org.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(
        action=action,
        actor=actor,
        target=org,
        request=request,
        detail={"from": was, "to": status, **(detail or {})},
    )


def organization_verify(
    *, organization: Organization, actor: User, request: HttpRequest | None = None
) -> Organization:
    """A region admin of the area verifies a waiting registration; the registrant becomes its
    organisation admin and leader."""
    require(actor, "organization.verify", organization, request=request)
    with transaction.atomic():
        # Row lock: serialises two region admins deciding the same registration.
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.status != OrganizationStatus.PENDING:
            raise ValidationError(
                _("This registration is %(status)s already: only a waiting one can be verified.")
                % {"status": org.get_status_display()}
            )
        if org.kind in CODE_REQUIRED and not org.certificate:
            raise ValidationError(
                _("The registration certificate is missing: ask the organisation to upload it.")
            )
        _set_status(
            org,
            OrganizationStatus.VERIFIED,
            reason="",
            action=A.VERIFIED,
            actor=actor,
            request=request,
        )
        registrant = org.registered_by
        if registrant is not None:
            role_grant(user=registrant, role=Role.ORG_ADMIN, organization=org)
            if not Membership.objects.filter(
                organization=org, user=registrant, left_at__isnull=True
            ).exists():
                Membership.objects.create(organization=org, user=registrant, role=MemberRole.LEADER)
        return org


def organization_reject(
    *, organization: Organization, reason: str, actor: User, request: HttpRequest | None = None
) -> Organization:
    """A region admin refuses a waiting registration, saying why (the registrant reads it)."""
    require(actor, "organization.verify", organization, request=request)
    with transaction.atomic():
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"reason": [_("Say why the registration is rejected.")]})
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.status != OrganizationStatus.PENDING:
            raise ValidationError(
                _("This registration is %(status)s already: only a waiting one can be rejected.")
                % {"status": org.get_status_display()}
            )
        _set_status(
            org,
            OrganizationStatus.REJECTED,
            reason=reason,
            action=A.REJECTED,
            actor=actor,
            request=request,
        )
        return org


def organization_status_for_sanction(
    *,
    organization: Organization,
    status: str,
    reason: str,
    sanction_id: int,
    actor: Any,
    request: HttpRequest | None = None,
) -> None:
    """Suspend, reinstate or deregister — called by the sanctions service only, inside its
    transaction, with the organisation row already locked there."""
    action = {
        OrganizationStatus.SUSPENDED: A.SUSPENDED,
        OrganizationStatus.VERIFIED: A.REINSTATED,
        OrganizationStatus.DEREGISTERED: A.DEREGISTERED,
    }[OrganizationStatus(status)]
    _set_status(
        organization,
        status,
        reason=reason,
        action=action,
        actor=actor,
        request=request,
        detail={"sanction": sanction_id},
    )


# --- teams ------------------------------------------------------------------------------------


def team_create(
    *,
    parent: Organization,
    name: str,
    region: Region,
    actor: User,
    request: HttpRequest | None = None,
) -> Organization:
    """A team under an organisation (or under another team, to any depth). It shares its
    parent's kind and standing: a team of a verified organisation is verified."""
    organization_require(actor, "organization.manage", parent, request=request)
    with transaction.atomic():
        name = (name or "").strip()
        if not name:
            raise ValidationError({"name": [_("Enter the team's name.")]})
        low, high = parent.region.subtree_range
        if not (low <= region.code <= high):
            raise ValidationError(
                {
                    "region": [
                        _("A team serves within its parent's area (%(area)s).")
                        % {"area": parent.region.name}
                    ]
                }
            )
        team = Organization.objects.create(
            name=name,
            kind=parent.kind,
            region=region,
            parent=parent,
            status=(
                OrganizationStatus.VERIFIED
                if parent.status == OrganizationStatus.VERIFIED
                else OrganizationStatus.PENDING
            ),
            service_fields=list(parent.service_fields or []),
            registered_by=actor,
            status_changed_at=timezone.now(),
        )
        audit_record(
            action=A.TEAM_CREATED,
            actor=actor,
            target=team,
            request=request,
            detail={"parent": parent.pk, "region": region.code},
        )
        return team


# --- members ----------------------------------------------------------------------------------


def _volunteer_gate(user: User, *, actor: Any, request: HttpRequest | None) -> None:
    from zhiyuan.safeguards.services import volunteer_require_can_serve

    volunteer_require_can_serve(user, purpose="join", actor=actor, request=request)


def _active_membership(org: Organization, user: User) -> Membership | None:
    return Membership.objects.filter(organization=org, user=user, left_at__isnull=True).first()


def _new_request(
    *, org: Organization, user: User, kind: str, message: str, actor: User
) -> MembershipRequest:
    if _active_membership(org, user) is not None:
        raise ValidationError(_("%(name)s is a member already.") % {"name": user.name or "—"})
    try:
        with transaction.atomic():
            return MembershipRequest.objects.create(
                organization=org,
                user=user,
                kind=kind,
                message=(message or "").strip()[:200],
                created_by=actor,
            )
    except IntegrityError as exc:
        raise ValidationError(_("A request for this person is already waiting.")) from exc


def membership_apply(
    *,
    organization: Organization,
    user: User,
    message: str = "",
    request: HttpRequest | None = None,
) -> MembershipRequest:
    """A volunteer asks to join; the organisation approves or declines."""
    require(user, "organization.join", request=request)
    _volunteer_gate(user, actor=user, request=request)
    organization_require_operable(
        organization, purpose=OperatePurpose.RECRUIT, actor=user, request=request
    )
    with transaction.atomic():
        req = _new_request(
            org=organization, user=user, kind=RequestKind.APPLICATION, message=message, actor=user
        )
        audit_record(action=A.APPLIED, actor=user, target=req, request=request)
    return req


def membership_invite(
    *,
    organization: Organization,
    user: User,
    actor: User,
    message: str = "",
    request: HttpRequest | None = None,
) -> MembershipRequest:
    """The organisation invites a volunteer; the volunteer accepts or declines. Recruiting."""
    organization_require(actor, "organization.manage", organization, request=request)
    organization_require_operable(
        organization, purpose=OperatePurpose.RECRUIT, actor=actor, request=request
    )
    if not hasattr(user, "volunteer"):
        raise ValidationError(_("Only a registered volunteer can be invited."))
    with transaction.atomic():
        req = _new_request(
            org=organization, user=user, kind=RequestKind.INVITATION, message=message, actor=actor
        )
        audit_record(
            action=A.INVITED, actor=actor, target=req, request=request, detail={"user": user.pk}
        )
    return req


def _answering_party_check(
    req: MembershipRequest, actor: User, request: HttpRequest | None
) -> None:
    if req.kind == RequestKind.APPLICATION:
        organization_require(actor, "organization.manage", req.organization, request=request)
    elif req.user_id != actor.pk:
        # Only the invited person answers an invitation. An ability nobody holds: refused and
        # audited like any other refusal.
        require(actor, "organization.answer_others_invitation", req, request=request)


def membership_request_accept(
    *, membership_request: MembershipRequest, actor: User, request: HttpRequest | None = None
) -> Membership:
    """Approve an application (the organisation) or accept an invitation (the volunteer)."""
    req = membership_request
    _answering_party_check(req, actor, request)
    organization_require_operable(
        req.organization, purpose=OperatePurpose.RECRUIT, actor=actor, request=request
    )
    _volunteer_gate(req.user, actor=actor, request=request)
    with transaction.atomic():
        # Row lock: the same request answered twice (two admins, or a double click).
        locked = MembershipRequest.objects.select_for_update().get(pk=req.pk)
        if locked.status != RequestStatus.PENDING:
            raise ValidationError(_("This request was answered already."))
        locked.status = RequestStatus.ACCEPTED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.save(update_fields=["status", "decided_at", "decided_by"])
        membership = _active_membership(locked.organization, locked.user)
        if membership is None:
            membership = Membership.objects.create(
                organization=locked.organization, user=locked.user
            )
        audit_record(
            action=A.ACCEPTED,
            actor=actor,
            target=membership,
            request=request,
            detail={"request": locked.pk, "kind": locked.kind},
        )
    return membership


def membership_request_decline(
    *, membership_request: MembershipRequest, actor: User, request: HttpRequest | None = None
) -> MembershipRequest:
    """Say no to a request. The volunteer withdraws an application or declines an invitation;
    the organisation declines an application or withdraws an invitation."""
    by_volunteer = membership_request.user_id == actor.pk
    if not by_volunteer:
        organization_require(
            actor, "organization.manage", membership_request.organization, request=request
        )
    with transaction.atomic():
        # Row lock: an answer and a withdrawal of the same request do not both land.
        req = MembershipRequest.objects.select_for_update().get(pk=membership_request.pk)
        if req.status != RequestStatus.PENDING:
            raise ValidationError(_("This request was answered already."))
        sent_by_actor = by_volunteer == (req.kind == RequestKind.APPLICATION)
        req.status = RequestStatus.WITHDRAWN if sent_by_actor else RequestStatus.DECLINED
        req.decided_at = timezone.now()
        req.decided_by = actor
        req.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(
            action=A.WITHDRAWN if sent_by_actor else A.DECLINED,
            actor=actor,
            target=req,
            request=request,
        )
    return req


def _sync_admin_grant(membership: Membership) -> None:
    """A leader or admin of an organisation holds the org-admin role for it; others do not."""
    if membership.left_at is None and membership.role in (MemberRole.LEADER, MemberRole.ADMIN):
        role_grant(user=membership.user, role=Role.ORG_ADMIN, organization=membership.organization)
        return
    for grant in RoleGrant.objects.filter(
        user_id=membership.user_id,
        role=Role.ORG_ADMIN,
        organization_id=membership.organization_id,
        revoked_at__isnull=True,
    ):
        role_revoke(grant=grant)


def membership_set_role(
    *, membership: Membership, role: str, actor: User, request: HttpRequest | None = None
) -> Membership:
    """Make a member a leader, an admin or a plain member (a leader or admin can manage the
    organisation here, and its teams)."""
    organization_require(actor, "organization.manage", membership.organization, request=request)
    with transaction.atomic():
        if role not in MemberRole.values:
            raise ValidationError({"role": [_("Choose leader, admin or member.")]})
        m = Membership.objects.select_for_update().get(pk=membership.pk)
        if m.left_at is not None:
            raise ValidationError(_("This person has left the organisation."))
        was = m.role
        m.role = role
        m.save(update_fields=["role"])
        _sync_admin_grant(m)
        audit_record(
            action=A.ROLE_CHANGED,
            actor=actor,
            target=m,
            request=request,
            detail={"from": was, "to": role},
        )
        return m


def membership_leave(
    *, membership: Membership, actor: User, request: HttpRequest | None = None
) -> Membership:
    """The member leaves (or an admin removes them). The row stays with ``left_at`` set, so
    the volunteer's past records keep their organisation; a new membership can follow."""
    if membership.user_id != actor.pk:
        organization_require(actor, "organization.manage", membership.organization, request=request)
    with transaction.atomic():
        m = Membership.objects.select_for_update().get(pk=membership.pk)
        if m.left_at is not None:
            raise ValidationError(_("This person has left the organisation already."))
        m.left_at = timezone.now()
        m.save(update_fields=["left_at"])
        _sync_admin_grant(m)
        audit_record(
            action=A.LEFT,
            actor=actor,
            target=m,
            request=request,
            detail={"by_self": m.user_id == actor.pk},
        )
        return m


# --- recruitment calls ------------------------------------------------------------------------


def recruitment_call_publish(
    *,
    organization: Organization,
    title: str,
    body: str,
    risks: str = "",
    closes_on: date | None = None,
    actor: User,
    request: HttpRequest | None = None,
) -> RecruitmentCall:
    """Publish a call for volunteers (Art. 12: true information and the risks). Only an
    organisation that may operate can publish."""
    organization_require(actor, "organization.manage", organization, request=request)
    organization_require_operable(
        organization, purpose=OperatePurpose.PUBLISH, actor=actor, request=request
    )
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = [_("Give the call a title.")]
    if not (body or "").strip():
        errors["body"] = [_("Say what volunteers will do.")]
    if closes_on is not None and closes_on < timezone.localdate():
        errors["closes_on"] = [_("The closing date has passed already.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        call = RecruitmentCall.objects.create(
            organization=organization,
            title=title.strip(),
            body=body.strip(),
            risks=(risks or "").strip(),
            closes_on=closes_on,
            published_by=actor,
        )
        audit_record(action=A.CALL_PUBLISHED, actor=actor, target=call, request=request)
    return call


def recruitment_call_close(
    *, call: RecruitmentCall, actor: User, request: HttpRequest | None = None
) -> RecruitmentCall:
    organization_require(actor, "organization.manage", call.organization, request=request)
    with transaction.atomic():
        if call.closed_at is None:
            call.closed_at = timezone.now()
            call.save(update_fields=["closed_at"])
            audit_record(action=A.CALL_CLOSED, actor=actor, target=call, request=request)
        return call
