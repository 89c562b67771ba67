"""Identity numbers: property tests over the check character, birth date and sex."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from zhiyuan.people.identity import DocumentType, InvalidDocument, age_on, check_document

TODAY = dt.date(2026, 11, 28)
REGIONS = ["110101", "110105", "310104", "440305", "510107", "650102"]


@st.composite
def resident_ids(draw: st.DrawFn) -> tuple[str, dt.date, int]:
    region = draw(st.sampled_from(REGIONS))
    birth = draw(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2010, 12, 31)))
    sequence = draw(st.integers(0, 999))
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0"), birth, sequence


@given(resident_ids())
def test_every_valid_number_round_trips_birth_date_and_sex(case: tuple[str, dt.date, int]) -> None:
    number, birth, sequence = case
    facts = check_document(DocumentType.RESIDENT_ID, number, today=TODAY)
    assert facts.number == number
    assert facts.birth_date == birth
    assert facts.sex == ("M" if sequence % 2 else "F")


@given(resident_ids(), st.sampled_from("0123456789X"))
def test_every_altered_check_character_is_refused(
    case: tuple[str, dt.date, int], other: str
) -> None:
    number = case[0]
    if other == number[-1]:
        return
    with pytest.raises(InvalidDocument) as caught:
        check_document(DocumentType.RESIDENT_ID, number[:-1] + other, today=TODAY)
    assert caught.value.part == "check"


@pytest.mark.parametrize(
    ("number", "part", "message"),
    [
        ("11010519491231002", "length", "18 characters; this one has 17"),
        ("11010519491331002X", "birth_date", "birth date"),
        ("11010520301231002X", "birth_date", "birth date"),  # in the future
        ("99010519491231002X", "region", "region code"),
        ("11010519491231003X", "check", "last character"),
        ("1101051949123100XX", "format", "only as the last"),
    ],
)
def test_a_mistyped_number_says_which_part_is_wrong(number: str, part: str, message: str) -> None:
    with translation.override("en"), pytest.raises(InvalidDocument, match=message) as caught:
        check_document(DocumentType.RESIDENT_ID, number, today=TODAY)
    assert caught.value.part == part


def test_spaces_and_lower_case_x_are_accepted() -> None:
    facts = check_document(DocumentType.RESIDENT_ID, "110105 19491231 002x", today=TODAY)
    assert facts.number == "11010519491231002X"


@pytest.mark.parametrize(
    ("kind", "number", "ok"),
    [
        (DocumentType.HKMO_PASS, "H12345678", True),
        (DocumentType.HKMO_PASS, "M1234567890", True),
        (DocumentType.HKMO_PASS, "X12345678", False),
        (DocumentType.TW_PASS, "12345678", True),
        (DocumentType.TW_PASS, "1234567", False),
        (DocumentType.PASSPORT, "E12345678", True),
        (DocumentType.PASSPORT, "E1", False),
        (DocumentType.FOREIGN_PR, "USA123456789012", True),
    ],
)
def test_other_documents_check_their_shape(kind: str, number: str, ok: bool) -> None:
    if ok:
        facts = check_document(kind, number, today=TODAY)
        assert facts.birth_date is None  # typed by the person, not derived
    else:
        with pytest.raises(InvalidDocument):
            check_document(kind, number, today=TODAY)


def test_residence_permit_uses_the_same_layout() -> None:
    body = "81000019900101123"
    number = body + ric.calc_check_digit(body + "0")
    facts = check_document(DocumentType.HMT_RESIDENCE, number, today=TODAY)
    assert facts.birth_date == dt.date(1990, 1, 1)
    with pytest.raises(InvalidDocument):
        check_document(DocumentType.HMT_RESIDENCE, "110105" + number[6:], today=TODAY)


def test_age_counts_completed_years() -> None:
    assert age_on(dt.date(2012, 11, 29), TODAY) == 13
    assert age_on(dt.date(2012, 11, 28), TODAY) == 14
