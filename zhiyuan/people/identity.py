"""Identity documents: which part of a number is wrong, and what it says about the person.

Pure functions (python-stdnum and the standard library): no Django models here, so the rules
can be tested exhaustively. Messages are translated.

The resident ID number (GB 11643-1999) carries the region, the birth date and, in the
sequence's last digit, the sex (odd = male); its check character is ISO 7064 MOD 11-2. The
residence permit for Hong Kong, Macao and Taiwan residents and the 2023 foreign permanent
resident ID card use the same 18-character layout.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError


class DocumentType(models.TextChoices):
    RESIDENT_ID = "resident_id", gettext_lazy("Resident ID card")
    HMT_RESIDENCE = "hmt_residence", gettext_lazy("Residence permit (Hong Kong, Macao, Taiwan)")
    HKMO_PASS = "hkmo_pass", gettext_lazy("Mainland travel permit (Hong Kong, Macao)")
    TW_PASS = "tw_pass", gettext_lazy("Mainland travel permit (Taiwan)")
    PASSPORT = "passport", gettext_lazy("Passport")
    FOREIGN_PR = "foreign_pr", gettext_lazy("Foreign permanent resident ID card")


class Sex(models.TextChoices):
    FEMALE = "F", gettext_lazy("Female")
    MALE = "M", gettext_lazy("Male")


class InvalidDocument(ValueError):
    """A document number that fails a check; ``part`` names what is wrong."""

    def __init__(self, part: str, message: str) -> None:
        self.part = part
        super().__init__(message)


@dataclass(frozen=True)
class DocumentFacts:
    """What a valid number tells: its normal form and, where it carries them, birth and sex."""

    number: str
    birth_date: dt.date | None
    sex: Sex | None

    @property
    def derived(self) -> bool:
        return self.birth_date is not None


HMT_PREFIXES = ("810000", "820000", "830000")
CARRIES_BIRTH = {DocumentType.RESIDENT_ID, DocumentType.HMT_RESIDENCE}


def _eighteen(number: str, today: dt.date, *, check_region: bool) -> DocumentFacts:
    """Check an 18-character GB 11643 layout part by part, the most telling failure first."""
    if len(number) != 18:
        raise InvalidDocument(
            "length", _("An ID number has 18 characters; this one has %(n)d.") % {"n": len(number)}
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidDocument(
            "format", _("Only digits are allowed, and X only as the last character.")
        )
    try:
        birth = ric.get_birth_date(number)
    except StdnumError:
        birth = None
    if birth is None or birth > today or birth.year < 1900:
        raise InvalidDocument(
            "birth_date", _("Characters 7 to 14 are not a real birth date (YYYYMMDD).")
        )
    if check_region:
        try:
            ric.get_birth_place(number)
        except (StdnumError, KeyError) as exc:  # KeyError: a code stdnum lists without a county
            raise InvalidDocument(
                "region", _("The first six digits are not a region code of that time.")
            ) from exc
    if number[17] != ric.calc_check_digit(number):
        raise InvalidDocument(
            "check", _("The last character does not match: check the number for a typing error.")
        )
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE
    return DocumentFacts(number, birth, sex)


def check_document(kind: str, raw: str, today: dt.date | None = None) -> DocumentFacts:
    """Validate a document number; raise InvalidDocument naming the part that is wrong."""
    today = today or dt.date.today()  # noqa: DTZ011 — a calendar date in the local sense
    number = re.sub(r"[\s-]", "", raw or "").upper()
    if not number:
        raise InvalidDocument("missing", _("Enter the document number."))
    kind = DocumentType(kind)
    if kind == DocumentType.RESIDENT_ID:
        return _eighteen(number, today, check_region=True)
    if kind == DocumentType.HMT_RESIDENCE:
        if len(number) == 18 and not number.startswith(HMT_PREFIXES):
            raise InvalidDocument(
                "region", _("A residence permit number starts with 810000, 820000 or 830000.")
            )
        return _eighteen(number, today, check_region=False)
    if kind == DocumentType.FOREIGN_PR:
        if re.fullmatch(r"[A-Z]{3}\d{12}", number):  # the 2004–2023 card
            return DocumentFacts(number, None, None)
        if len(number) == 18 and number.startswith("9"):  # the 2023 card, GB 11643 layout
            return _eighteen(number, today, check_region=False)
        raise InvalidDocument(
            "format",
            _(
                "A permanent resident ID is 3 letters and 12 digits, "
                "or 18 characters starting with 9."
            ),
        )
    patterns = {
        DocumentType.HKMO_PASS: (r"[HM]\d{8}(\d{2})?", _("H or M followed by 8 or 10 digits.")),
        DocumentType.TW_PASS: (r"\d{8}(\d{2})?", _("8 or 10 digits.")),
        DocumentType.PASSPORT: (r"[A-Z0-9]{5,17}", _("5 to 17 letters and digits.")),
    }
    pattern, shape = patterns[kind]
    if not re.fullmatch(pattern, number):
        raise InvalidDocument(
            "format", _("This number does not have the right form: %(shape)s") % {"shape": shape}
        )
    return DocumentFacts(number, None, None)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years of age on ``day``."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
