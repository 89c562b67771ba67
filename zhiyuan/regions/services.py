"""Writes to the region hierarchy: importing a region file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from zhiyuan.core.audit import audit_record
from zhiyuan.core.models import AuditAction
from zhiyuan.regions.codes import InvalidRegionCode, parse_code
from zhiyuan.regions.models import Region


class RegionImportError(ValueError):
    """A region file was refused; ``line`` is the 1-based line at fault (0 for the whole file)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(_("Line %(line)d: %(message)s") % {"line": line, "message": message})


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


@transaction.atomic
def region_import_csv(*, text: str, actor: Any = None) -> ImportResult:
    """Import ``code,name,parent_code`` rows, all or nothing.

    Parents may come earlier in the file or already exist. A child's code must lie under its
    parent's and be of a lower level. Existing regions are renamed in place, never re-parented
    away from their code's own structure.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    known = dict(Region.objects.values_list("code", "level"))
    # Regions that already have a parent may not lose it through a re-import.
    parents_of_existing = set(
        Region.objects.filter(parent__isnull=False).values_list("code", flat=True)
    )
    rows: list[tuple[str, str, str | None, int]] = []
    for line_no, row in enumerate(reader, start=1):
        if not row or (line_no == 1 and row[0].strip().lower() == "code"):
            continue
        if len(row) != 3:
            raise RegionImportError(line_no, _("expected three columns: code, name, parent code"))
        code, name, parent_cell = (cell.strip() for cell in row)
        parent = parent_cell or None
        try:
            parsed = parse_code(code)
        except InvalidRegionCode as exc:
            raise RegionImportError(line_no, str(exc)) from exc
        if not name:
            raise RegionImportError(line_no, _("the name is empty"))
        if parent:
            if parent not in known:
                raise RegionImportError(
                    line_no, _("unknown parent code %(parent)s") % {"parent": parent}
                )
            parent_code = parse_code(parent)
            if not parent_code.contains(code) or parent_code.level >= parsed.level:
                raise RegionImportError(
                    line_no,
                    _("%(code)s does not lie under its parent %(parent)s")
                    % {"code": code, "parent": parent},
                )
        elif known and (code not in known or code in parents_of_existing):
            raise RegionImportError(line_no, _("only the top region may have no parent"))
        known[code] = parsed.level
        rows.append((code, name, parent, parsed.level))

    existing = set(
        Region.objects.filter(code__in=[r[0] for r in rows]).values_list("code", flat=True)
    )
    created = [
        Region(code=c, name=n, parent_id=p, level=lvl) for c, n, p, lvl in rows if c not in existing
    ]
    Region.objects.bulk_create(created, batch_size=1000)
    updated = 0
    for code, name, parent, level in rows:
        if code in existing:
            updated += Region.objects.filter(code=code).update(
                name=name, parent_id=parent, level=level
            )
    audit_record(
        action=AuditAction.REGIONS_IMPORTED,
        actor=actor,
        object_type="regions.region",
        detail={"created": len(created), "updated": updated},
    )
    return ImportResult(created=len(created), updated=updated)
