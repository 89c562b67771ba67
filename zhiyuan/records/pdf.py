"""The certificate as a PDF, drawn with WeasyPrint from what the certificate registered.

Chinese text is set in Noto Sans CJK SC, which WeasyPrint finds through fontconfig and embeds
(as a subset) in the PDF, so the document reads the same on any machine: Debian's
``fonts-noto-cjk`` package provides it (the Makefile installs it). The QR code opens the
public verification page; the short code beside it does the same when typed.
"""

from __future__ import annotations

import base64

import segno
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.core.masking import mask_phone
from zhiyuan.records.models import Certificate
from zhiyuan.records.services import certificate_standing

FONT_FAMILY = "Noto Sans CJK SC"


def qr_data_uri(text: str, scale: int = 4) -> str:
    svg = segno.make(text, error="m").svg_inline(scale=scale, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def certificate_html(certificate: Certificate, verify_url: str) -> str:
    return render_to_string(
        "records/certificate_pdf.html",
        {
            "c": certificate,
            "verify_url": verify_url,
            "qr": qr_data_uri(verify_url),
            "font": FONT_FAMILY,
            "contact": mask_phone(certificate.contact),
            "standing": certificate_standing(certificate),
            "issued_on": timezone.localdate(certificate.issued_at),
            "summary": [
                {**row, "hours": round(row["minutes"] / 60, 2)}
                for row in certificate.content_summary
            ],
        },
    )


def certificate_pdf(certificate: Certificate, verify_url: str) -> bytes:
    from weasyprint import HTML

    html = certificate_html(certificate, verify_url)
    pdf: bytes = HTML(string=html, base_url=None).write_pdf()
    return pdf


def verify_url_for(request: HttpRequest | None, certificate: Certificate) -> str:
    path = reverse("records:verify", args=[certificate.short_code])
    return request.build_absolute_uri(path) if request is not None else path


def certificate_response(request: HttpRequest, certificate: Certificate) -> HttpResponse:
    body = certificate_pdf(certificate, verify_url_for(request, certificate))
    response = HttpResponse(body, content_type="application/pdf")
    name = _("certificate") + f"-{certificate.number}.pdf"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response
