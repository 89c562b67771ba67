"""Safeguards pages: insurance, agreements, the public report form and follow-up, the region
admin's case queue, sanctions (with the public list) and the risk ranking."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.core.audit import audit_record
from zhiyuan.core.masking import mask_name
from zhiyuan.core.models import AuditAction
from zhiyuan.core.permissions import has_perm, region_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.services import organization_require
from zhiyuan.organizations.uploads import attachment_response
from zhiyuan.organizations.views import _form_errors, form_error_texts
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.safeguards import forms, selectors, services
from zhiyuan.safeguards.models import (
    AgreementAcceptance,
    AgreementTemplate,
    AgreementVersion,
    Case,
    CaseCategory,
    CaseEvidence,
    CaseStatus,
    Claim,
    Incident,
    InsurancePolicy,
    SafeguardsAudit,
    Sanction,
)

FOLLOW_SESSION_KEY = "zy_case_code"


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _org(org_id: int) -> Organization:
    return get_object_or_404(Organization.objects.select_related("region"), pk=org_id)


def _volunteer(number: str) -> User | None:
    profile = (
        VolunteerProfile.objects.select_related("user")
        .filter(volunteer_number=(number or "").strip())
        .first()
    )
    return profile.user if profile else None


def _flash_errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


# --- insurance --------------------------------------------------------------------------------


@login_required
def insurance(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    organization_require(request.user, "insurance.manage", org, request=request)
    form = forms.PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policy = services.insurance_policy_create(
                organization=org, actor=_user(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The policy is recorded."))
            return redirect("safeguards:policy", policy.pk)
    return render(
        request,
        "safeguards/insurance.html",
        {"org": org, "form": form, "policies": selectors.insurance_policies_of(org)},
    )


def _policy(request: HttpRequest, policy_id: int) -> InsurancePolicy:
    policy = get_object_or_404(InsurancePolicy.objects.select_related("organization"), pk=policy_id)
    organization_require(request.user, "insurance.manage", policy.organization, request=request)
    return policy


@login_required
def policy_detail(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    incidents = list(
        policy.incidents.select_related("volunteer")
        .prefetch_related("claims")
        .order_by("-occurred_at")
    )
    return render(
        request,
        "safeguards/policy.html",
        {
            "policy": policy,
            "named": policy.insured.select_related("user", "user__volunteer").order_by("added_at"),
            "incidents": incidents,
            "named_form": forms.VolunteerNumberForm(auto_id="named_%s"),
            "incident_form": forms.IncidentForm(auto_id="incident_%s"),
            "decision_form": forms.ClaimDecisionForm(),
        },
    )


@login_required
@require_POST
def policy_name_volunteer(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    user = _volunteer(request.POST.get("volunteer_number", ""))
    if user is None:
        messages.error(request, _("No volunteer has this number."))
    else:
        try:
            services.insured_person_add(
                policy=policy, user=user, actor=_user(request), request=request
            )
        except ValidationError as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("The volunteer is named on the policy."))
    return redirect("safeguards:policy", policy.pk)


@login_required
@require_POST
def policy_cancel(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    services.insurance_policy_cancel(policy=policy, actor=_user(request), request=request)
    messages.success(request, _("The policy is marked cancelled."))
    return redirect("safeguards:insurance", policy.organization_id)


@login_required
@require_POST
def incident_new(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    form = forms.IncidentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        volunteer = _volunteer(data["volunteer_number"]) if data["volunteer_number"] else None
        try:
            services.incident_record(
                policy=policy,
                occurred_at=data["occurred_at"],
                activity_type=data["activity_type"],
                severity=data["severity"],
                description=data["description"],
                volunteer=volunteer,
                activity_key=data["activity_key"],
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("The incident is recorded."))
    else:
        for text in form_error_texts(form):
            messages.error(request, text)
    return redirect("safeguards:policy", policy.pk)


@login_required
@require_POST
def claim_new(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("policy"), pk=incident_id)
    _policy(request, incident.policy_id)
    form = forms.ClaimForm(request.POST)
    if form.is_valid():
        try:
            services.claim_submit(
                incident=incident, actor=_user(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("The claim is recorded."))
    else:
        messages.error(request, _("Enter the amount claimed."))
    return redirect("safeguards:policy", incident.policy_id)


@login_required
@require_POST
def claim_decide(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = get_object_or_404(Claim.objects.select_related("incident__policy"), pk=claim_id)
    _policy(request, claim.incident.policy_id)
    form = forms.ClaimDecisionForm(request.POST)
    if form.is_valid():
        try:
            services.claim_decide(
                claim=claim, actor=_user(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("The insurer's answer is recorded."))
    return redirect("safeguards:policy", claim.incident.policy_id)


@login_required
def insurance_uncovered(request: HttpRequest, org_id: int) -> HttpResponse:
    """Which members are not covered if the organisation ran an activity of this type on
    these days, and why."""
    org = _org(org_id)
    organization_require(request.user, "insurance.manage", org, request=request)
    form = forms.UncoveredForm(request.GET or None)
    result = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        checked, uncovered = selectors.insurance_members_uncovered(
            org, data["activity_type"], data["first_day"], data["last_day"]
        )
        result = {"checked": checked, "uncovered": uncovered}
    return render(
        request, "safeguards/uncovered.html", {"org": org, "form": form, "result": result}
    )


# --- agreements -------------------------------------------------------------------------------


@login_required
def agreements(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    organization_require(request.user, "agreement.manage", org, request=request)
    form = forms.AgreementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.agreement_template_create(
                organization=org, actor=_user(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The agreement is published as version 1."))
            return redirect("safeguards:agreement", template.pk)
    templates = AgreementTemplate.objects.filter(organization=org).prefetch_related("versions")
    return render(
        request, "safeguards/agreements.html", {"org": org, "form": form, "templates": templates}
    )


@login_required
def agreement_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_object_or_404(
        AgreementTemplate.objects.select_related("organization"), pk=template_id
    )
    organization_require(request.user, "agreement.manage", template.organization, request=request)
    form = forms.AgreementVersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.agreement_version_publish(
                template=template,
                body=form.cleaned_data["body"],
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Version %(n)d is published.") % {"n": version.number})
            return redirect("safeguards:agreement", template.pk)
    versions = list(template.versions.order_by("-number"))
    acceptances = (
        AgreementAcceptance.objects.filter(version__template=template)
        .select_related("user", "version")
        .order_by("-accepted_at")[:100]
    )
    return render(
        request,
        "safeguards/agreement.html",
        {"template": template, "versions": versions, "acceptances": acceptances, "form": form},
    )


@login_required
def agreement_accept(request: HttpRequest, version_id: int) -> HttpResponse:
    """A volunteer reads a version and accepts it; the record keeps who, when and from where."""
    require(request.user, "agreement.accept", request=request)
    version = get_object_or_404(
        AgreementVersion.objects.select_related("template__organization"), pk=version_id
    )
    subject = (request.POST.get("for") or request.GET.get("for") or "")[:100]
    accepted = AgreementAcceptance.objects.filter(
        version=version, user=_user(request), subject=subject
    ).first()
    if request.method == "POST":
        try:
            accepted = services.agreement_accept(
                version=version, user=_user(request), subject=subject, request=request
            )
        except ValidationError as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("Your acceptance is recorded."))
    return render(
        request,
        "safeguards/accept.html",
        {"version": version, "subject": subject, "accepted": accepted},
    )


# --- public: report and follow ----------------------------------------------------------------


@never_cache
def report(request: HttpRequest) -> HttpResponse:
    """Anyone can report, logged in or not (Regulations Art. 26)."""
    form = forms.ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            submitted = services.case_submit(
                category=data["category"],
                subject_kind=data["subject_kind"],
                description=data["description"],
                organization=data["organization"],
                subject_detail=data["subject_detail"],
                region=data["region"],
                amount_charged=data["amount_charged"],
                reporter=_user(request) if request.user.is_authenticated else None,
                reporter_name=data["reporter_name"],
                reporter_contact=data["reporter_contact"],
                evidence=data["evidence"],
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            # Shown once on the next page, then gone: only its hash is stored.
            request.session[FOLLOW_SESSION_KEY] = {
                "reference": submitted.case.reference,
                "code": submitted.follow_code,
                "due": submitted.case.due_at.isoformat(),
            }
            return redirect("safeguards:report_received")
    return render(
        request,
        "safeguards/report.html",
        {"form": form, "charging": CaseCategory.CHARGING},
    )


@never_cache
def report_received(request: HttpRequest) -> HttpResponse:
    shown = request.session.pop(FOLLOW_SESSION_KEY, None)
    if shown is None:
        return redirect("safeguards:follow")
    return render(request, "safeguards/report_received.html", {"shown": shown})


@never_cache
def follow(request: HttpRequest) -> HttpResponse:
    """The reporter follows the case with the code, without logging in. What they see names
    nobody: the status, the answer date, the public log and the outcome."""
    form = forms.FollowForm(request.POST or None)
    case = None
    if request.method == "POST" and form.is_valid():
        case = selectors.case_find_by_code(form.cleaned_data["code"])
        if case is None:
            form.add_error("code", _("No case has this code. Check it and try again."))
    log = case.actions.filter(visible_to_reporter=True).order_by("at") if case else []
    return render(request, "safeguards/follow.html", {"form": form, "case": case, "log": log})


@never_cache
def sanctions_public(request: HttpRequest) -> HttpResponse:
    """Current sanctions against organisations, public (no personal data)."""
    page = Paginator(selectors.sanction_list_public(), 50).get_page(request.GET.get("page"))
    return render(request, "safeguards/sanctions_public.html", {"page": page})


# --- region admins: cases ---------------------------------------------------------------------


@login_required
def case_queue(request: HttpRequest) -> HttpResponse:
    require(request.user, "case.handle", request=request)
    status = request.GET.get("status", "open")
    cases = selectors.case_list_for_admin(region_scopes(request.user, "case.handle"), status)
    if request.GET.get("mine") == "1":
        cases = cases.filter(assignee=_user(request))
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "safeguards/cases.html",
        {"page": page, "status": status, "statuses": CaseStatus.choices, "now": timezone.now()},
    )


def _case(request: HttpRequest, case_id: int) -> Case:
    case = get_object_or_404(
        Case.objects.select_related("organization", "region", "assignee", "reported_user"),
        pk=case_id,
    )
    require(request.user, "case.handle", case, request=request)
    return case


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    show_contact = request.GET.get("contact") == "1"
    if show_contact:
        audit_record(
            action=AuditAction.UNMASK,
            actor=request.user,
            target=case,
            request=request,
            detail={"fields": ["reporter_name", "reporter_contact"]},
        )
    party_kinds = None
    if case.organization_id:
        from zhiyuan.safeguards.services import ORG_KINDS

        party_kinds = ORG_KINDS
    return render(
        request,
        "safeguards/case.html",
        {
            "case": case,
            "show_contact": show_contact,
            "reporter_name": case.reporter_name if show_contact else mask_name(case.reporter_name),
            "has_contact": bool(case.reporter_contact),
            "actions": case.actions.select_related("actor").order_by("at", "pk"),
            "evidence": case.evidence.all(),
            "sanctions": case.sanctions.select_related("organization", "user"),
            # Several forms on one page: each gets its own id prefix.
            "decide_form": forms.DecideForm(initial={"version": case.version}, auto_id="decide_%s"),
            "version_form": forms.VersionForm(
                initial={"version": case.version}, auto_id="investigate_%s"
            ),
            "note_form": forms.NoteForm(auto_id="note_%s"),
            "sanction_form": forms.SanctionForm(party_kinds=party_kinds, auto_id="sanction_%s"),
            "volunteer_kinds": services.VOLUNTEER_KINDS,
            "lift_form": forms.LiftForm(),
            "fine_range": _fine_range(case),
        },
    )


def _fine_range(case: Case) -> tuple[Any, Any] | None:
    """Arts. 21 and 37: what was charged is refunded, and the fine is 1 to 5 times it (imposed
    by the civil-affairs authority, never collected through Zhiyuan)."""
    if case.category != CaseCategory.CHARGING or not case.amount_charged:
        return None
    return case.amount_charged, case.amount_charged * 5


@login_required
@require_POST
def case_investigate(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    form = forms.VersionForm(request.POST)
    if not form.is_valid():
        raise Http404
    try:
        services.case_start_investigation(
            case=case,
            expected_version=form.cleaned_data["version"],
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The investigation is open."))
    return redirect("safeguards:case", case.pk)


@login_required
@require_POST
def case_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    form = forms.DecideForm(request.POST)
    if not form.is_valid():
        for text in form_error_texts(form):
            messages.error(request, text)
        return redirect("safeguards:case", case.pk)
    try:
        services.case_decide(
            case=case,
            expected_version=form.cleaned_data["version"],
            outcome=form.cleaned_data["outcome"],
            public_summary=form.cleaned_data["public_summary"],
            note=form.cleaned_data["note"],
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The case is decided; the reporter can read the outcome."))
    return redirect("safeguards:case", case.pk)


@login_required
@require_POST
def case_note(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    form = forms.NoteForm(request.POST)
    form.is_valid()
    try:
        services.case_note_add(
            case=case,
            note=form.cleaned_data.get("note", ""),
            public_note=form.cleaned_data.get("public_note", ""),
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The note is added."))
    return redirect("safeguards:case", case.pk)


@login_required
@require_POST
def case_assign_me(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    try:
        services.case_assign(
            case=case,
            assignee=_user(request),
            expected_version=int(request.POST.get("version", 0) or 0),
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The case is yours."))
    return redirect("safeguards:case", case.pk)


@login_required
def case_evidence(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
    case = _case(request, case_id)
    item = get_object_or_404(CaseEvidence, pk=evidence_id, case=case)
    audit_record(
        action=SafeguardsAudit.CASE_EVIDENCE_READ,
        actor=request.user,
        target=case,
        request=request,
        detail={"evidence": item.pk},
    )
    extension = (item.file.name or "").rsplit(".", 1)[-1]
    return attachment_response(item.file, item.content_type, f"evidence-{item.pk}.{extension}")


def _impose(
    request: HttpRequest, party: Any, case: Case | None, party_kinds: tuple[str, ...]
) -> forms.SanctionForm:
    form = forms.SanctionForm(request.POST, party_kinds=party_kinds)
    if form.is_valid():
        try:
            sanction = services.sanction_impose(
                party=party,
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
                ends_at=form.cleaned_data["ends_at"],
                case=case,
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(kind)s imposed (sanction no. %(id)d).")
                % {"kind": sanction.get_kind_display(), "id": sanction.pk},
            )
    return form


@login_required
@require_POST
def case_sanction(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    if request.POST.get("party") == "person" and case.reported_user_id:
        party: Any = case.reported_user
        kinds = services.VOLUNTEER_KINDS
    elif case.organization_id:
        party, kinds = case.organization, services.ORG_KINDS
    else:
        raise Http404
    form = _impose(request, party, case, kinds)
    for text in form_error_texts(form):
        messages.error(request, text)
    return redirect("safeguards:case", case.pk)


# --- region admins: sanctions of one organisation, lifting, risk ------------------------------


@login_required
def organization_sanctions(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(org_id)
    require(request.user, "sanction.impose", org, request=request)
    form = forms.SanctionForm(party_kinds=services.ORG_KINDS)
    if request.method == "POST":
        form = _impose(request, org, None, services.ORG_KINDS)
        if not form.errors:
            return redirect("safeguards:sanction_new_org", org.pk)
    return render(
        request,
        "safeguards/org_sanctions.html",
        {
            "org": org,
            "form": form,
            "sanctions": selectors.sanction_list_for(org),
            "lift_form": forms.LiftForm(),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def sanction_lift(request: HttpRequest, sanction_id: int) -> HttpResponse:
    sanction = get_object_or_404(Sanction, pk=sanction_id)
    require(request.user, "sanction.impose", sanction, request=request)
    try:
        services.sanction_lift(
            sanction=sanction,
            reason=request.POST.get("lift_reason", ""),
            actor=_user(request),
            request=request,
        )
    except ValidationError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The sanction is lifted."))
    if sanction.case_id and has_perm(request.user, "case.handle", sanction.case):
        return redirect("safeguards:case", sanction.case_id)
    if sanction.organization_id:
        return redirect("safeguards:sanction_new_org", sanction.organization_id)
    return redirect("safeguards:cases")


RISK_LABELS = {
    "substantiated": gettext_lazy("substantiated complaints"),
    "overdue": gettext_lazy("overdue cases"),
    "unresolved": gettext_lazy("open cases"),
    "complaints": gettext_lazy("complaints in 90 days"),
    "charging": gettext_lazy("charging or profit complaints"),
    "active_sanction": gettext_lazy("sanction in force"),
    "past_sanctions": gettext_lazy("earlier sanctions"),
    "serious_incidents": gettext_lazy("serious incidents"),
    "hours_jump": gettext_lazy("jump in claimed hours"),
}


@login_required
def risk(request: HttpRequest) -> HttpResponse:
    require(request.user, "risk.view", request=request)
    rows = [
        {
            "organization": row.organization,
            "score": row.score,
            "labelled": [(RISK_LABELS.get(name, name), points) for name, points in row.parts],
        }
        for row in selectors.risk_ranking(region_scopes(request.user, "risk.view"))[:100]
    ]
    return render(
        request,
        "safeguards/risk.html",
        {"rows": rows, "hours_known": bool(selectors.HOURS_PROVIDERS)},
    )
