"""Record pages: my hours, star level, records, corrections and certificates (phone first);
the organiser's confirmation queue and correction requests; the region's flag rates; the
public certificate check."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.activities.models import Activity
from zhiyuan.core.forms import CHOOSE
from zhiyuan.core.masking import mask_name
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.selectors import organization_descendant_ids
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.records import selectors, services
from zhiyuan.records.forms import RevokeForm, RuleForm
from zhiyuan.records.models import (
    Certificate,
    CorrectionRequest,
    RecordStatus,
    RevokeReason,
    RoundingMode,
    ServiceRecord,
)
from zhiyuan.regions.models import Region

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _form_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


class CertificateForm(forms.Form):
    organization = forms.ModelChoiceField(
        empty_label=CHOOSE, label=gettext_lazy("Organisation"), queryset=Organization.objects.none()
    )
    period_start = forms.DateField(label=gettext_lazy("From"), widget=DATE)
    period_end = forms.DateField(label=gettext_lazy("Until"), widget=DATE)

    def __init__(self, *args: Any, volunteer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        served = [o.pk for o in selectors.organizations_served(volunteer)]
        field = self.fields["organization"]
        field.queryset = Organization.objects.filter(pk__in=served)  # type: ignore[attr-defined]
        if not self.is_bound:
            today = timezone.localdate()
            self.initial.setdefault("period_start", today.replace(month=1, day=1))
            self.initial.setdefault("period_end", today)


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("What is wrong"), widget=forms.Textarea(attrs={"rows": 3})
    )
    started_at = forms.DateTimeField(label=gettext_lazy("Correct start"), widget=DATETIME)
    ended_at = forms.DateTimeField(label=gettext_lazy("Correct end"), widget=DATETIME)
    content = forms.CharField(
        label=gettext_lazy("What was done (if different)"), required=False, max_length=300
    )


class ManualForm(forms.Form):
    activity = forms.ModelChoiceField(
        empty_label=CHOOSE, label=gettext_lazy("Activity"), queryset=Activity.objects.none()
    )
    volunteer_number = forms.CharField(label=gettext_lazy("Volunteer number"), max_length=12)
    started_at = forms.DateTimeField(label=gettext_lazy("From"), widget=DATETIME)
    ended_at = forms.DateTimeField(label=gettext_lazy("Until"), widget=DATETIME)
    content = forms.CharField(label=gettext_lazy("What was done, and why by hand"), max_length=300)

    def __init__(self, *args: Any, organizations: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["activity"].queryset = Activity.objects.filter(  # type: ignore[attr-defined]
            organization_id__in=organizations
        ).order_by("-created_at")


class NoteForm(forms.Form):
    note = forms.CharField(max_length=300, required=False)


# --- the volunteer ----------------------------------------------------------------------------


@login_required
def records_mine(request: HttpRequest) -> HttpResponse:
    """My hours, my star level and its history, my records, my certificates."""
    require(request.user, "record.own", request=request)
    user = _user(request)
    form = CertificateForm(volunteer=user)
    return render(
        request,
        "records/mine.html",
        {
            "summary": selectors.hours_summary(user),
            "stars": services.star_status(user),
            "records": selectors.records_of(user)[:100],
            "certificates": selectors.certificates_of(user),
            "corrections": selectors.corrections_of(user)[:20],
            "form": form,
        },
    )


@login_required
def correction_new(request: HttpRequest, record_id: int) -> HttpResponse:
    record = get_object_or_404(ServiceRecord, pk=record_id, volunteer=request.user)
    require(request.user, "record.own", request=request)
    initial = {
        "started_at": timezone.localtime(record.started_at),
        "ended_at": timezone.localtime(record.ended_at),
    }
    form = CorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.correction_request(
                record=record, actor=_user(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Your request went to the organiser."))
            return redirect("records:mine")
    return render(request, "records/correction_form.html", {"form": form, "record": record})


@login_required
@require_POST
def certificate_issue(request: HttpRequest) -> HttpResponse:
    require(request.user, "record.own", request=request)
    user = _user(request)
    form = CertificateForm(request.POST, volunteer=user)
    if form.is_valid():
        try:
            certificate = services.certificate_issue(
                volunteer=user, actor=user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("Certificate %(number)s is ready to download.") % {"number": certificate.number},
            )
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return redirect("records:mine")


@login_required
def certificate_pdf(request: HttpRequest, certificate_id: int) -> HttpResponse:
    from zhiyuan.records.pdf import certificate_response

    require(request.user, "record.own", request=request)
    certificate = get_object_or_404(Certificate, pk=certificate_id, volunteer=request.user)
    return certificate_response(request, certificate)


def certificate_verify(request: HttpRequest, code: str = "") -> HttpResponse:
    """Public: anyone holding the certificate's QR code or short code can check it. Only the
    random code opens a certificate: numbers are consecutive and would let anyone walk
    through them (the number is shown once the code has opened it)."""
    code = code or request.GET.get("code", "")
    certificate = selectors.certificate_by_code(code) if code else None
    context: dict[str, Any] = {"code": code, "certificate": certificate}
    if certificate is not None:
        context.update(
            standing=services.certificate_standing(certificate),
            volunteer=mask_name(certificate.volunteer_name),
        )
    status = 404 if code and certificate is None else 200
    return render(request, "records/verify.html", context, status=status)


# --- the organiser ----------------------------------------------------------------------------


def _organised_ids(request: HttpRequest) -> list[int]:
    ids: list[int] = []
    for pk in organization_scopes(request.user, "activity.manage"):
        org = Organization.objects.filter(pk=pk).first()
        if org is not None:
            ids += [pk, *organization_descendant_ids(org)]
    return ids


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """Records to confirm (flags and why), and correction requests to decide."""
    require(request.user, "activity.manage", request=request)
    ids = _organised_ids(request)
    rows = list(selectors.confirmation_queue(ids)[:200])
    return render(
        request,
        "records/queue.html",
        {
            "records": rows,
            "corrections": selectors.corrections_pending(ids),
            "me": request.user.pk,
            "now": timezone.now(),
        },
    )


def _record_for(request: HttpRequest, record_id: int) -> ServiceRecord:
    record = get_object_or_404(ServiceRecord.objects.select_related("organization"), pk=record_id)
    if not services.record_may_confirm(request.user, record, second=True):
        require(request.user, "record.confirm", record, request=request)
        raise PermissionDenied
    return record


@login_required
@require_POST
def record_decide(request: HttpRequest, record_id: int, decision: str) -> HttpResponse:
    record = _record_for(request, record_id)
    try:
        if decision == "confirm":
            done = services.record_confirm(record=record, actor=_user(request), request=request)
            if done.status == RecordStatus.CONFIRMED:
                messages.success(request, _("Confirmed."))
            else:
                messages.warning(
                    request, _("Confirmed once. A flagged record needs a second confirmer.")
                )
        else:
            form = NoteForm(request.POST)
            note = form.cleaned_data["note"] if form.is_valid() else ""
            services.record_reject(
                record=record, actor=_user(request), reason=note, request=request
            )
            messages.success(request, _("Rejected."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    target = request.POST.get("next")
    if target == "flags":
        return redirect("records:flags")
    return redirect("records:queue")


@login_required
@require_POST
def correction_decide(request: HttpRequest, correction_id: int, decision: str) -> HttpResponse:
    correction = get_object_or_404(
        CorrectionRequest.objects.select_related("record__organization"), pk=correction_id
    )
    if not services.is_organiser(request.user, correction.record.organization):
        require(request.user, "record.confirm", correction.record.organization, request=request)
        raise PermissionDenied
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if decision == "approve":
            services.correction_approve(
                correction=correction, actor=_user(request), note=note, request=request
            )
            messages.success(request, _("Corrected: a new version of the record was written."))
        else:
            services.correction_reject(
                correction=correction, actor=_user(request), note=note, request=request
            )
            messages.success(request, _("The correction was turned down."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("records:queue")


@login_required
def manual_new(request: HttpRequest) -> HttpResponse:
    require(request.user, "activity.manage", request=request)
    form = ManualForm(request.POST or None, organizations=_organised_ids(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        profile = VolunteerProfile.objects.filter(
            volunteer_number=data["volunteer_number"].strip()
        ).first()
        if profile is None:
            form.add_error("volunteer_number", _("No volunteer has this number."))
        else:
            try:
                services.record_manual_create(
                    activity=data["activity"],
                    volunteer=profile.user,
                    started_at=data["started_at"],
                    ended_at=data["ended_at"],
                    content=data["content"],
                    actor=_user(request),
                    request=request,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Entered by hand; it waits for confirmation."))
                return redirect("records:queue")
    return render(request, "records/manual_form.html", {"form": form})


# --- the region -------------------------------------------------------------------------------


@login_required
def flags(request: HttpRequest) -> HttpResponse:
    """Flag rates per organisation, and flagged records waiting for a second confirmer."""
    require(request.user, "record.flags", request=request)
    codes = region_scopes(request.user, "record.flags")
    days = 90
    return render(
        request,
        "records/flags.html",
        {
            "rates": selectors.record_flag_rates(codes, timezone.now() - dt.timedelta(days=days)),
            "second": selectors.second_confirmation_queue(codes)[:100],
            "days": days,
            "me": request.user.pk,
        },
    )


def _shown(value: Any) -> str:
    """A rule value as a person reads it in the history."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return " / ".join(str(v) for v in value)
    if isinstance(value, str) and value in RoundingMode.values:
        return str(RoundingMode(value).label)  # stored as a code, read in the reader's words
    return str(value)


def _rule_region(request: HttpRequest) -> tuple[Region, list[Region]]:
    """The region whose rules the admin edits (``?region=``, within their regions; by default
    the first region they administer) and the regions they administer."""
    codes = region_scopes(request.user, "record.rules")
    mine = list(Region.objects.filter(pk__in=codes).order_by("code")) if codes else []
    wanted = request.GET.get("region") or (mine[0].pk if mine else "")
    region = Region.objects.filter(pk=wanted).first()
    if region is None:
        raise Http404
    require(request.user, "record.rules", region, request=request)
    return region, mine


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    """The region's recording rules: what applies now (and where it comes from), a form to
    change them, and every earlier version with who changed what and why."""
    require(request.user, "record.rules", request=request)
    region, mine = _rule_region(request)
    applied = services.record_rules_for(region)
    form = RuleForm(request.POST or None, initial=RuleForm.initial_from(applied))
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.record_rule_set(
                region=region,
                actor=_user(request),
                note=form.cleaned_data["note"],
                request=request,
                **form.rule_values(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                _("Version %(v)d of the recording rules is in force.") % {"v": rule.version},
            )
            return redirect(f"{request.path}?region={region.pk}")
    source = Region.objects.filter(pk=applied.region_code).first() if applied.region_code else None
    labels: dict[str, Any] = {name: f.label for name, f in RuleForm.base_fields.items()}
    labels["star_hours"] = gettext_lazy("Hours for each star")
    labels["star_min_months"] = gettext_lazy("Months of service for each star")
    return render(
        request,
        "records/rules.html",
        {
            "region": region,
            "regions": mine,
            "form": form,
            "source": source,
            "versions": [
                (
                    v,
                    [
                        (labels.get(f, f), _shown(pair[0]), _shown(pair[1]))
                        for f, pair in v.changes.items()
                    ],
                )
                for v in selectors.rule_versions(region.pk)
            ],
        },
    )


def _issued_scope(request: HttpRequest) -> tuple[list[int], list[str] | None]:
    """Organisations whose certificates the user may see and revoke, and regions (region
    admins: every issuing organisation of their regions)."""
    org_ids = _organised_ids(request)
    codes = region_scopes(request.user, "certificate.revoke")
    if not org_ids and codes == []:
        require(request.user, "certificate.revoke", request=request)
        raise PermissionDenied
    return org_ids, codes


@login_required
def certificates_issued(request: HttpRequest) -> HttpResponse:
    """Certificates issued by my organisations (or my region's), with whether each stands."""
    org_ids, codes = _issued_scope(request)
    query = request.GET.get("q", "")[:40]
    rows = list(selectors.certificates_issued(org_ids, codes, query)[:100])
    return render(
        request,
        "records/certificates_issued.html",
        {
            # Names masked, as everywhere by default (the API does the same).
            "rows": [
                (c, services.certificate_standing(c), mask_name(c.volunteer_name)) for c in rows
            ],
            "q": query,
        },
    )


@login_required
def certificate_revoke(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """Revoke a certificate, saying why (a fixed reason for the public page, a note)."""
    certificate = get_object_or_404(
        Certificate.objects.select_related("organization"), pk=certificate_id
    )
    if not services.certificate_may_revoke(request.user, certificate):
        # Certificate ids are consecutive: outsiders get the answer of one that does not exist.
        raise Http404
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.certificate_revoke(
                certificate=certificate,
                actor=_user(request),
                request=request,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("Certificate %(number)s is revoked; the public check now says so.")
                % {"number": certificate.number},
            )
            return redirect("records:certificates_issued")
    return render(
        request,
        "records/certificate_revoke.html",
        {
            "certificate": certificate,
            "volunteer_masked": mask_name(certificate.volunteer_name),
            "standing": services.certificate_standing(certificate),
            "form": form,
            "reasons": RevokeReason.choices,
        },
    )


@login_required
def stars(request: HttpRequest) -> HttpResponse:
    """My star level: each level's hours and months of service, which I have reached and
    when, and what is still missing for the next."""
    require(request.user, "record.own", request=request)
    status = services.star_status(_user(request))
    reached = {a.level: a for a in status.awards}
    months = services.months_of_service(status.first_service)
    levels = [
        {
            "level": index + 1,
            "hours": hours,
            "months": status.min_months[index] if index < len(status.min_months) else 0,
            "award": reached.get(index + 1),
            "current": index + 1 <= status.level,
        }
        for index, hours in enumerate(status.thresholds)
    ]
    return render(
        request,
        "records/stars.html",
        {"status": status, "levels": levels, "months": months},
    )
