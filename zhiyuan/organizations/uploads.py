"""Uploaded documents (registration certificates, complaint evidence): checked and served safely.

The type is read from the file's first bytes, never from its name or the browser's claim, and
only PDF, JPEG and PNG are kept. Files are stored under a random name and served only as
downloads (``Content-Disposition: attachment``) with the sniffed type, ``nosniff`` and a
sandboxing Content-Security-Policy, so nothing uploaded ever runs in the site's origin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse
from django.utils.translation import gettext as _

MAX_BYTES = 5 * 1024 * 1024
# Magic numbers of the accepted types, and the extension each is stored under.
SIGNATURES: list[tuple[bytes, str, str]] = [
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
]
SAFE_TYPES = {content_type for _, content_type, _ in SIGNATURES}


@dataclass(frozen=True)
class CheckedUpload:
    file: UploadedFile
    content_type: str
    extension: str
    original_name: str


def _clean_name(name: str) -> str:
    keep = "".join(c for c in name if c.isalnum() or c in "._- ")
    return keep.strip()[:80] or "file"


def upload_check(file: UploadedFile, *, max_bytes: int = MAX_BYTES) -> CheckedUpload:
    """Accept a PDF, JPEG or PNG of at most ``max_bytes``; raise ValidationError saying why not."""
    size = file.size or 0
    if size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    if size > max_bytes:
        raise ValidationError(
            _("The file is larger than %(mb)d MB.") % {"mb": max_bytes // (1024 * 1024)},
            code="too_large",
        )
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    for magic, content_type, extension in SIGNATURES:
        if head.startswith(magic):
            return CheckedUpload(file, content_type, extension, _clean_name(file.name or ""))
    raise ValidationError(
        _("Only PDF, JPEG and PNG files are accepted; this file is none of them."),
        code="file_type",
    )


def upload_store_name(checked: CheckedUpload) -> str:
    """A random name: the uploader's file name is never used as a path."""
    return f"{uuid.uuid4().hex}.{checked.extension}"


def attachment_response(field: FieldFile, content_type: str, download_name: str) -> HttpResponse:
    """Serve a stored upload as a download, never inline, with a type it cannot escape."""
    safe_type = content_type if content_type in SAFE_TYPES else "application/octet-stream"
    response: Any = FileResponse(
        field.open("rb"), as_attachment=True, filename=download_name, content_type=safe_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response
