"""Charts for the dashboard, drawn on the server as SVG: no script, nothing for the
Content-Security-Policy to allow, readable without JavaScript, and each chart carries its
numbers as text (screen readers read the table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BAR = "#b3261e"
INK = "#1b1f23"
MUTED = "#4a5560"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _open(title: Any, width: int, height: int) -> str:
    label = escape(str(title))
    return (
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>"
    )


def bar_chart(
    rows: Sequence[tuple[Any, float]], *, title: Any, unit: Any = "", width: int = 360
) -> SafeString:
    """Horizontal bars, one per row, labelled and valued (fits a phone's width)."""
    rows = [(str(label), float(value)) for label, value in rows]
    if not rows:
        return mark_safe("")
    top = max(v for _, v in rows) or 1.0
    line, label_w, bar_w = 26, 150, width - 150 - 50
    height = line * len(rows) + 8
    parts = [_open(title, width, height)]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * line
        w = max(1.0, bar_w * value / top) if value else 0.0
        shown = label if len(label) <= 14 else label[:13] + "…"
        figure = f"{_number(value)}{unit}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(shown)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="16" rx="3" fill="{BAR}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 16}" font-size="12" '
            f'fill="{MUTED}">{escape(figure)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text is escaped above


def column_chart(
    rows: Sequence[tuple[Any, float]], *, title: Any, width: int = 360, height: int = 140
) -> SafeString:
    """Vertical columns over time (weeks), the latest on the right."""
    rows = [(str(label), float(value)) for label, value in rows][-16:]
    if not rows:
        return mark_safe("")
    top = max(v for _, v in rows) or 1.0
    base, col = height - 20, (width - 10) / len(rows)
    parts = [
        _open(title, width, height),
        f'<line x1="5" y1="{base}" x2="{width - 5}" y2="{base}" stroke="{MUTED}"/>',
    ]
    for i, (label, value) in enumerate(rows):
        h = (base - 16) * value / top
        x, mid = 5 + i * col, 5 + i * col + col / 2
        parts.append(
            f'<rect x="{x + col * 0.15:.1f}" y="{base - h:.1f}" width="{col * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"/>'
            f'<text x="{mid:.1f}" y="{base - h - 3:.1f}" text-anchor="middle" font-size="10" '
            f'fill="{INK}">{escape(_number(value))}</text>'
            f'<text x="{mid:.1f}" y="{height - 6}" text-anchor="middle" font-size="9" '
            f'fill="{MUTED}">{escape(label[-3:])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308
