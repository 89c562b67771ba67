"""Mainland mobile numbers: parsing and normalising with phonenumbers."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext as _


class InvalidPhone(ValueError):
    """Not a mainland China mobile number; the message says so in the user's language."""


def normalize_mobile(raw: str) -> str:
    """Return the 11-digit national form of a mainland mobile number, or raise InvalidPhone."""
    text = (raw or "").strip().replace(" ", "").replace("-", "")
    if not text:
        raise InvalidPhone(_("Enter a mobile number."))
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_("This is not a phone number.")) from exc
    if number.country_code != 86:
        raise InvalidPhone(_("Enter a mainland China mobile number (+86)."))
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_("This mobile number does not exist: check the 11 digits."))
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone(_("Enter a mobile number, not a landline."))
    return str(number.national_number)
