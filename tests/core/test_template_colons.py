"""A colon after a translated label belongs to the translation: Chinese writes a full-width
"：", English a plain ":". A colon typed in the template after a translation tag shows the
wrong one in one of the two languages."""

from __future__ import annotations

import re
from pathlib import Path

import zhiyuan

ROOT = Path(zhiyuan.__file__).parent
# A colon (either width) typed right after a {% translate %} or {% endblocktranslate %} tag.
AFTER_TAG = re.compile(
    r"\{%\s*(?:translate|trans|endblocktranslate|endblocktrans)\b[^%]*%\}\s*[:：]"
)


def test_no_template_types_a_colon_after_a_translated_label() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(ROOT.rglob("templates/**/*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if AFTER_TAG.search(line)
    ]
    assert found == []
