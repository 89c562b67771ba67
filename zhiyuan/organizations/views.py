"""Organisation pages: registration, the verification queue, members, teams and recruitment.

Views parse, authorise, call a service and render; refusals from the gate are shown with the
reason the service gives (the sanction and its end, or the missing verification).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.core.audit import audit_record
from zhiyuan.core.masking import mask_name, mask_phone
from zhiyuan.core.models import AuditAction
from zhiyuan.core.permissions import record_refusal, region_scopes, require
from zhiyuan.organizations import forms, services
from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
    OrganizationAudit,
    OrganizationStatus,
    RecruitmentCall,
)
from zhiyuan.organizations.selectors import (
    membership_history,
    membership_list_active,
    membership_list_for_user,
    membership_requests_for_user,
    membership_requests_pending,
    organization_can_operate,
    organization_list_pending,
    organization_registrations_of,
    organization_tree,
    recruitment_calls_open,
)
from zhiyuan.organizations.uploads import attachment_response


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _form_errors(form: Any, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field where it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def form_error_texts(form: Any) -> list[str]:
    """Every error of a form as plain text, for a flash message."""
    return [str(text) for errors in form.errors.values() for text in errors]


def _org(org_id: int) -> Organization:
    return get_object_or_404(
        Organization.objects.select_related("region", "parent", "sponsor", "sponsor_region"),
        pk=org_id,
    )


def _may_see(request: HttpRequest, org: Organization) -> bool:
    if org.registered_by_id == request.user.pk:
        return True
    return services.organization_may(request.user, "organization.view", org)


# --- registration -----------------------------------------------------------------------------


def _registration_kwargs(form: forms.RegistrationForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "kind": data["kind"],
        "credit_code": data["credit_code"],
        "legal_representative": data["legal_representative"],
        "contact_name": data["contact_name"],
        "contact_phone": data["contact_phone"],
        "region": data["region"],
        "service_fields": data["service_fields"],
        "description": data["description"],
        "sponsor": data["sponsor"],
        "sponsor_region": data["sponsor_region"],
        "certificate": data["certificate"] or None,
    }


@login_required
def organization_register(request: HttpRequest) -> HttpResponse:
    require(request.user, "organization.register", request=request)
    form = forms.RegistrationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_register(
                actor=_user(request), request=request, **_registration_kwargs(form)
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s is registered and waits for verification by the region.")
                % {"name": org.name},
            )
            return redirect("organizations:detail", org.pk)
    return render(request, "organizations/register.html", {"form": form, "editing": None})


@login_required
def organization_edit(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    if org.registered_by_id != request.user.pk:
        raise Http404
    if org.status not in (OrganizationStatus.PENDING, OrganizationStatus.REJECTED):
        messages.info(request, _("Only a waiting or rejected registration can be corrected."))
        return redirect("organizations:detail", org.pk)
    form = forms.RegistrationForm(
        request.POST or None,
        request.FILES or None,
        initial=forms.RegistrationForm.initial_from(org),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_update_registration(
                organization=org,
                actor=_user(request),
                request=request,
                **_registration_kwargs(form),
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The registration was corrected and waits again."))
            return redirect("organizations:detail", org.pk)
    return render(request, "organizations/register.html", {"form": form, "editing": org})


@login_required
def organization_mine(request: HttpRequest) -> HttpResponse:
    """A person's own organisations: registrations, memberships, invitations, open calls."""
    user = _user(request)
    profile = getattr(user, "volunteer", None)
    calls = (
        recruitment_calls_open([profile.region_id[:6].ljust(12, "0")])[:20]
        if profile is not None
        else []
    )
    return render(
        request,
        "organizations/mine.html",
        {
            "registrations": organization_registrations_of(user),
            "memberships": membership_list_for_user(user),
            "requests": membership_requests_for_user(user),
            "calls": calls,
        },
    )


# --- one organisation -------------------------------------------------------------------------


@login_required
def organization_detail(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    if not _may_see(request, org):
        services.organization_require(request.user, "organization.view", org, request=request)
    verifier = services.organization_may(request.user, "organization.verify", org)
    manager = services.organization_may(request.user, "organization.manage", org)
    full = verifier and request.GET.get("full") == "1"
    if full:
        # A region admin checking a registration sees the contacts in full, on record.
        audit_record(
            action=AuditAction.UNMASK,
            actor=request.user,
            target=org,
            request=request,
            detail={"fields": ["legal_representative", "contact_name", "contact_phone"]},
        )
    contacts = {
        "legal_representative": org.legal_representative
        if full
        else mask_name(org.legal_representative),
        "contact_name": org.contact_name if full else mask_name(org.contact_name),
        "contact_phone": org.contact_phone if full else mask_phone(org.contact_phone),
    }
    return render(
        request,
        "organizations/detail.html",
        {
            "org": org,
            "contacts": contacts,
            "full": full,
            "verifier": verifier,
            "manager": manager,
            "refusal": organization_can_operate(org),
            "teams": [("› " * depth, team) for depth, team in organization_tree(org)],
            "calls": RecruitmentCall.objects.filter(organization=org)[:10],
            "reject_form": forms.RejectForm(auto_id="reject_%s"),
            "certificate_form": forms.CertificateForm(auto_id="certificate_%s"),
            "is_registrant": org.registered_by_id == request.user.pk,
        },
    )


@login_required
def organization_certificate(request: HttpRequest, org_id: int) -> HttpResponse:
    """The registration certificate, as a download only (never shown inline)."""
    org = _org(org_id)
    if not _may_see(request, org):
        services.organization_require(request.user, "organization.view", org, request=request)
    if not org.certificate:
        raise Http404
    audit_record(
        action=OrganizationAudit.CERTIFICATE_READ, actor=request.user, target=org, request=request
    )
    extension = (org.certificate.name or "").rsplit(".", 1)[-1]
    return attachment_response(
        org.certificate, org.certificate_type, f"certificate-{org.pk}.{extension}"
    )


@login_required
@require_POST
def organization_certificate_upload(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    if not _may_see(request, org):
        services.organization_require(request.user, "organization.manage", org, request=request)
    form = forms.CertificateForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.organization_certificate_attach(
                organization=org,
                certificate=form.cleaned_data["certificate"],
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("The certificate was uploaded."))
    else:
        for text in form_error_texts(form):
            messages.error(request, text)
    return redirect("organizations:detail", org.pk)


# --- verification -----------------------------------------------------------------------------


@login_required
def verification_queue(request: HttpRequest) -> HttpResponse:
    require(request.user, "organization.verify", request=request)
    pending = organization_list_pending(region_scopes(request.user, "organization.verify"))
    page = Paginator(pending, 50).get_page(request.GET.get("page"))
    return render(request, "organizations/verification.html", {"page": page})


@login_required
@require_POST
def organization_verify(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    try:
        services.organization_verify(organization=org, actor=_user(request), request=request)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("organizations:detail", org.pk)
    messages.success(request, _("%(name)s is verified.") % {"name": org.name})
    return redirect("organizations:verification")


@login_required
@require_POST
def organization_reject(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    form = forms.RejectForm(request.POST)
    reason = form.data.get("reason", "")
    try:
        services.organization_reject(
            organization=org, reason=reason, actor=_user(request), request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("organizations:detail", org.pk)
    messages.success(
        request, _("%(name)s was rejected; the reason is shown to them.") % {"name": org.name}
    )
    return redirect("organizations:verification")


# --- teams, members, recruitment --------------------------------------------------------------


@login_required
def team_create(request: HttpRequest, org_id: int) -> HttpResponse:
    parent = _org(org_id)
    services.organization_require(request.user, "organization.manage", parent, request=request)
    form = forms.TeamForm(request.POST or None, parent=parent)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(
                parent=parent,
                name=form.cleaned_data["name"],
                region=form.cleaned_data["region"],
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The team %(name)s was created.") % {"name": team.name})
            return redirect("organizations:detail", team.pk)
    return render(request, "organizations/team_form.html", {"form": form, "parent": parent})


@login_required
def organization_members(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    services.organization_require(request.user, "organization.manage", org, request=request)
    form = forms.InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from zhiyuan.people.models import VolunteerProfile

        profile = (
            VolunteerProfile.objects.select_related("user")
            .filter(volunteer_number=form.cleaned_data["volunteer_number"].strip())
            .first()
        )
        if profile is None:
            form.add_error("volunteer_number", _("No volunteer has this number."))
        else:
            try:
                services.membership_invite(
                    organization=org,
                    user=profile.user,
                    actor=_user(request),
                    message=form.cleaned_data["message"],
                    request=request,
                )
            except services.OperationRefused as exc:
                record_refusal(exc)
                form.add_error(None, exc.refusal.message)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The invitation was sent."))
                return redirect("organizations:members", org.pk)
    return render(
        request,
        "organizations/members.html",
        {
            "org": org,
            "form": form,
            "members": membership_list_active(org),
            "history": membership_history(org)[:50],
            "requests": membership_requests_pending(org),
            "role_form": forms.RoleForm(),
            "refusal": organization_can_operate(org),
        },
    )


def _after_request(request: HttpRequest, req: MembershipRequest) -> HttpResponse:
    if req.user_id == request.user.pk:
        return redirect("organizations:mine")
    return redirect("organizations:members", req.organization_id)


@login_required
@require_POST
def request_accept(request: HttpRequest, request_id: int) -> HttpResponse:
    req = get_object_or_404(MembershipRequest.objects.select_related("organization"), pk=request_id)
    try:
        services.membership_request_accept(
            membership_request=req, actor=_user(request), request=request
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        messages.error(request, exc.refusal.message)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Welcome aboard: the membership is recorded."))
    return _after_request(request, req)


@login_required
@require_POST
def request_decline(request: HttpRequest, request_id: int) -> HttpResponse:
    req = get_object_or_404(MembershipRequest.objects.select_related("organization"), pk=request_id)
    try:
        services.membership_request_decline(
            membership_request=req, actor=_user(request), request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Done."))
    return _after_request(request, req)


@login_required
@require_POST
def organization_apply(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    form = forms.ApplyForm(request.POST)
    message = form.data.get("message", "")
    try:
        services.membership_apply(
            organization=org, user=_user(request), message=message, request=request
        )
    except services.OperationRefused as exc:
        record_refusal(exc)
        messages.error(request, exc.refusal.message)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
    else:
        messages.success(request, _("Your application to %(name)s was sent.") % {"name": org.name})
    return redirect("organizations:mine")


@login_required
@require_POST
def membership_leave(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("organization"), pk=membership_id
    )
    try:
        services.membership_leave(membership=membership, actor=_user(request), request=request)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The membership ended; its history is kept."))
    if membership.user_id == request.user.pk:
        return redirect("organizations:mine")
    return redirect("organizations:members", membership.organization_id)


@login_required
@require_POST
def membership_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("organization", "user"), pk=membership_id
    )
    try:
        services.membership_set_role(
            membership=membership,
            role=request.POST.get("role", ""),
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The role was changed."))
    return redirect("organizations:members", membership.organization_id)


@login_required
def recruitment_call_new(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    services.organization_require(request.user, "organization.manage", org, request=request)
    form = forms.RecruitmentCallForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.recruitment_call_publish(
                organization=org, actor=_user(request), request=request, **form.cleaned_data
            )
        except services.OperationRefused as exc:
            record_refusal(exc)
            form.add_error(None, exc.refusal.message)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The call for volunteers is published."))
            return redirect("organizations:detail", org.pk)
    return render(
        request,
        "organizations/call_form.html",
        {"form": form, "org": org, "refusal": organization_can_operate(org)},
    )


@login_required
@require_POST
def recruitment_call_close(request: HttpRequest, call_id: int) -> HttpResponse:
    call = get_object_or_404(RecruitmentCall.objects.select_related("organization"), pk=call_id)
    services.recruitment_call_close(call=call, actor=_user(request), request=request)
    messages.success(request, _("The call is closed."))
    return redirect("organizations:detail", call.organization_id)
