"""Unified social credit codes: python-stdnum's own test data, altered codes, and the kind."""

from __future__ import annotations

import pytest
from django.utils.translation import override
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc

from tests.organizations.helpers import credit_code
from zhiyuan.organizations.credit_codes import (
    ACCEPTED_PREFIXES,
    CreditCodeError,
    credit_code_check,
    credit_code_parse,
)
from zhiyuan.organizations.models import OrganizationKind as K

# From python-stdnum's tests/test_cn_uscc.doctest ("found online and should all be valid").
STDNUM_VALID = [
    "121200004013590816",
    "91110000600037341L",
    "91110000710926094P",
    "91120224064012553U",
    "91310115MA1K3BTP2B",
    "9131012056010553X5",
    "91340600MA2PBM9HXD",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "92340621MA2UK3PJXE",
]
# From the same file: refused, with the reason stdnum gives.
STDNUM_INVALID = {
    "12345": "length",
    "A1110000600037341L": "format",
    "9111000060003IOZSV": "format",
    "91110000600037341N": "checksum",
}
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@pytest.mark.parametrize("code", STDNUM_VALID)
def test_stdnum_test_data_is_accepted_as_a_code(code: str) -> None:
    assert credit_code_parse(code).value == code


@pytest.mark.parametrize(("code", "reason"), STDNUM_INVALID.items())
def test_stdnum_invalid_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    with pytest.raises(CreditCodeError) as caught:
        credit_code_parse(code)
    assert caught.value.code == reason


def test_spaces_and_lower_case_are_normalised() -> None:
    assert credit_code_parse("91 110000 600037341l").value == "91110000600037341L"


@pytest.mark.parametrize("code", STDNUM_VALID)
def test_every_single_character_change_is_caught(code: str) -> None:
    """Altering any one character of a valid code makes it fail (the check is mod 31)."""
    for position in range(18):
        for replacement in ALPHABET:
            if replacement == code[position]:
                continue
            altered = code[:position] + replacement + code[position + 1 :]
            expected = "format" if position < 8 and not replacement.isdigit() else "checksum"
            with pytest.raises(CreditCodeError) as caught:
                credit_code_parse(altered)
            assert caught.value.code == expected, altered


def test_a_transposition_is_caught() -> None:
    code = "91110000600037341L"
    swapped = code[:8] + code[9] + code[8] + code[10:]  # "60" → "06"
    assert swapped != code
    with pytest.raises(CreditCodeError) as caught:
        credit_code_parse(swapped)
    assert caught.value.code == "checksum"


def test_messages_say_why_in_words() -> None:
    with override("en"):
        with pytest.raises(CreditCodeError, match="has 18 characters; this one has 5"):
            credit_code_parse("12345")
        with pytest.raises(CreditCodeError, match="check character"):
            credit_code_parse("91110000600037341N")
        with pytest.raises(CreditCodeError, match="other than I, O, Z, S and V"):
            credit_code_parse("9111000060003IOZSV")


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (K.SOCIAL_GROUP, credit_code("51")),
        (K.SOCIAL_SERVICE, credit_code("52")),
        (K.FOUNDATION, credit_code("53")),
        (K.PUBLIC_INSTITUTION, "121200004013590816"),
        (K.ENTERPRISE_TEAM, "91110000600037341L"),
        (K.SCHOOL_TEAM, "121200004013590816"),
        (K.SCHOOL_TEAM, credit_code("52")),
        (K.COMMUNITY_TEAM, credit_code("51")),
        (K.MERCHANT, "92340602MA2PBMEM24"),
    ],
)
def test_codes_fitting_the_kind_are_accepted(kind: str, code: str) -> None:
    assert credit_code_check(code, kind).value == code


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (K.SOCIAL_GROUP, "91110000600037341L"),  # an enterprise
        (K.SOCIAL_GROUP, credit_code("52")),  # a social-service organisation
        (K.FOUNDATION, credit_code("51")),
        (K.SOCIAL_SERVICE, "121200004013590816"),
        (K.PUBLIC_INSTITUTION, credit_code("53")),
        (K.ENTERPRISE_TEAM, "92340602MA2PBMEM24"),  # an individual business is no enterprise
        (K.SCHOOL_TEAM, "91110000600037341L"),
    ],
)
def test_codes_contradicting_the_kind_are_refused_naming_both(kind: str, code: str) -> None:
    with override("en"), pytest.raises(CreditCodeError) as caught:
        credit_code_check(code, kind)
    assert caught.value.code == "kind_mismatch"
    message = str(caught.value)
    assert f"starts with {code[:2]}" in message
    for prefix in ACCEPTED_PREFIXES[kind]:
        assert prefix in message


def test_a_mismatch_message_in_english_reads_plainly() -> None:
    with override("en"), pytest.raises(CreditCodeError) as caught:
        credit_code_check("91110000600037341L", K.SOCIAL_GROUP)
    assert str(caught.value) == (
        "This code starts with 91, which is an enterprise; "
        "a Social group's code starts with 51 (a social group)."
    )


@given(
    prefix=st.sampled_from(["12", "51", "52", "53", "91"]),
    region=st.text(alphabet="0123456789", min_size=6, max_size=6),
    org=st.text(alphabet=ALPHABET, min_size=9, max_size=9),
)
def test_any_well_formed_code_round_trips(prefix: str, region: str, org: str) -> None:
    body = prefix + region + org
    code = body + uscc.calc_check_digit(body)
    assert credit_code_parse(code).value == code
    # and a wrong check character never passes
    wrong = next(c for c in ALPHABET if c != code[-1])
    with pytest.raises(CreditCodeError):
        credit_code_parse(body + wrong)
