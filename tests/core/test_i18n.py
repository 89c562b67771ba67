"""Chinese first, English complete: every message has its Chinese translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PO = (
    Path(__file__).resolve().parents[2]
    / "zhiyuan"
    / "locale"
    / "zh_Hans"
    / "LC_MESSAGES"
    / "django.po"
)


def entries(text: str) -> list[tuple[str, str, bool]]:
    found = []
    for block in text.split("\n\n"):
        fuzzy = "#, fuzzy" in block
        msgid = "".join(
            re.findall(r'^(?:msgid|msgid_plural)?\s*"(.*)"$', block.split("msgstr")[0], re.M)
        )
        msgstr = "".join(re.findall(r'"(.*)"', "msgstr".join(block.split("msgstr")[1:])))
        if "msgid" in block and msgid:
            found.append((msgid, msgstr, fuzzy))
    return found


def test_every_message_is_translated_to_chinese() -> None:
    missing = [m for m, s, fuzzy in entries(PO.read_text(encoding="utf-8")) if not s or fuzzy]
    assert missing == []


def test_catalogue_holds_every_string_in_the_code() -> None:
    """Strings marked for translation in code and templates are in the catalogue.

    `make messages` refreshes the catalogue; then translate what it added.
    """
    root = PO.parents[4]
    msgids = {m for m, _, _ in entries(PO.read_text(encoding="utf-8"))}
    patterns = [
        re.compile(r'(?<![\w.])_\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]'),
        re.compile(r'gettext(?:_lazy)?\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]'),
        re.compile(r'\{% translate "([^"]+)" %\}'),
        re.compile(r"\{% translate '([^']+)' %\}"),
    ]
    found: set[str] = set()
    for path in list((root / "zhiyuan").rglob("*.py")) + list((root / "zhiyuan").rglob("*.html")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            found.update(m.replace('\\"', '"') for m in pattern.findall(text))
    assert len(found) > 100
    assert sorted(found - msgids) == []


@pytest.mark.django_db
def test_language_switch_changes_the_page(client) -> None:
    response = client.post(
        "/i18n/setlang/", {"language": "en", "next": "/accounts/login/"}, follow=True
    )
    assert "Mobile number" in response.content.decode()
    response = client.post(
        "/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"}, follow=True
    )
    assert "手机号码" in response.content.decode()
