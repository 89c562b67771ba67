"""Reads of the region hierarchy."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from zhiyuan.regions.codes import parse_code
from zhiyuan.regions.models import Region


def region_subtree(code: str) -> QuerySet[Region]:
    """The region and everything under it, in one range scan of the primary key."""
    return Region.objects.filter(code__range=parse_code(code).subtree_range)


def region_subtree_q(codes: list[str] | None, field: str = "region") -> Q:
    """A filter for rows whose region lies under any of ``codes``.

    ``None`` means no limit (a deployment-wide administrator); an empty list matches nothing.
    Each code becomes one range condition on the foreign-key column: no join, no recursion.
    """
    if codes is None:
        return Q()
    condition = Q(pk__in=[])
    for code in codes:
        low, high = parse_code(code).subtree_range
        # gte/lte rather than range: Django offers no range lookup on a foreign key.
        condition |= Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return condition


def region_path(code: str) -> list[Region]:
    """The chain of ancestors from the province down to the region itself."""
    parsed = parse_code(code)
    # Ancestors' codes follow from the code itself: one query for the whole path.
    prefixes = [parsed.code[:end] for end in (2, 4, 6, 9, 12) if end <= len(parsed.prefix)]
    codes = [p.ljust(12, "0") for p in prefixes]
    return list(Region.objects.filter(code__in=codes).order_by("level"))


def region_picker_levels(code: str | None) -> list[tuple[str | None, list[Region]]]:
    """The select boxes of a region picker showing ``code``: for each level from the top,
    the chosen region (or None) and the choices at that level. A level with a single choice
    is chosen already (a district deployment starts at its streets).

    One query per level shown (at most five), whatever the size of the deployment.
    """
    chosen = region_path(code) if code else []
    levels: list[tuple[str | None, list[Region]]] = []
    parent: str | None = None
    for depth in range(6):
        options = list(
            Region.objects.filter(parent_id=parent).order_by("code")
            if parent
            else Region.objects.filter(parent__isnull=True).order_by("code")
        )
        if not options:
            break
        picked = chosen[depth].code if depth < len(chosen) else None
        if picked is None and len(options) == 1:
            picked = options[0].code
        levels.append((picked, options))
        if picked is None:
            break
        parent = picked
    return levels
