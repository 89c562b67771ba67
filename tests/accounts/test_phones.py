from __future__ import annotations

import pytest

from zhiyuan.accounts.phones import InvalidPhone, normalize_mobile


@pytest.mark.parametrize(
    "raw", ["13812341234", "138 1234 1234", "+86 138-1234-1234", "+8613812341234"]
)
def test_mainland_mobiles_normalise_to_eleven_digits(raw: str) -> None:
    assert normalize_mobile(raw) == "13812341234"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a mobile number"),
        ("hello", "not a phone number"),
        ("1381234123", "does not exist"),
        ("+85291234567", "mainland China"),
        ("01065281234", "not a landline"),
    ],
)
def test_malformed_numbers_are_refused_with_a_reason(raw: str, message: str, settings) -> None:
    from django.utils import translation

    with translation.override("en"), pytest.raises(InvalidPhone, match=message):
        normalize_mobile(raw)
