"""The 12-digit statistical division code, without the database.

Layout: PP CC DD SSS VVV — province, city, district (county), street (township), community
(village). The first six digits are the GB/T 2260 code. A region's descendants all share its
significant prefix, so "everything under this street" is one range scan of an ordinary index:
``code BETWEEN prefix||'000…' AND prefix||'999…'``, the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

CODE_LENGTH = 12
# Provincial-level codes of GB/T 2260 (mainland provinces, Taiwan, Hong Kong, Macao).
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)


class Level(models.IntegerChoices):
    PROVINCE = 1, _("province")
    CITY = 2, _("city")
    DISTRICT = 3, _("district")
    STREET = 4, _("street")
    COMMUNITY = 5, _("community")


# Where each level's significant prefix ends.
PREFIX_END = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.DISTRICT: 6,
    Level.STREET: 9,
    Level.COMMUNITY: 12,
}


class InvalidRegionCode(ValueError):
    """A code that is not a well-formed statistical division code; the message says why."""


@dataclass(frozen=True)
class RegionCode:
    code: str
    level: Level

    @property
    def prefix(self) -> str:
        return self.code[: PREFIX_END[self.level]]

    @property
    def subtree_range(self) -> tuple[str, str]:
        """The inclusive range of codes of this region and everything under it."""
        pad = CODE_LENGTH - len(self.prefix)
        return self.prefix + "0" * pad, self.prefix + "9" * pad

    def contains(self, other: str) -> bool:
        return other.startswith(self.prefix)


def parse_code(code: str) -> RegionCode:
    """Check a code's structure and tell its level; raise InvalidRegionCode saying what is wrong."""
    code = (code or "").strip()
    if len(code) != CODE_LENGTH or not code.isdigit():
        raise InvalidRegionCode(_("A region code has exactly 12 digits."))
    if int(code[:2]) not in PROVINCES:
        raise InvalidRegionCode(_("The first two digits are not a province code."))
    level = Level.PROVINCE
    for candidate in (Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY):
        start = PREFIX_END[Level(candidate - 1)]
        if code[start:] == "0" * (CODE_LENGTH - start):
            break
        level = candidate
    # A street or community segment is never 000 once the code reaches that level. District
    # "00" is legal: cities without districts (Dongguan, Zhongshan) number towns as 4419000xx000.
    for lvl in (Level.STREET, Level.COMMUNITY):
        if lvl <= level:
            segment = code[PREFIX_END[Level(lvl - 1)] : PREFIX_END[lvl]]
            if segment == "000":
                raise InvalidRegionCode(_("A street or community segment of the code is 000."))
    return RegionCode(code, level)


def code_contains(ancestor: str, code: str) -> bool:
    """True when ``code`` is ``ancestor`` or lies under it."""
    return parse_code(ancestor).contains(code)


def ancestor_codes(code: str) -> list[str]:
    """The region's own code and its ancestors', from the province down, without a query."""
    prefix = parse_code(code).prefix
    return [
        prefix[:end].ljust(CODE_LENGTH, "0") for end in PREFIX_END.values() if end <= len(prefix)
    ]
