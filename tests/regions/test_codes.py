from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from zhiyuan.regions.codes import (
    InvalidRegionCode,
    Level,
    ancestor_codes,
    code_contains,
    parse_code,
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("110000000000", Level.PROVINCE),
        ("110100000000", Level.CITY),
        ("110101000000", Level.DISTRICT),
        ("110101001000", Level.STREET),
        ("110101001002", Level.COMMUNITY),
        # Dongguan has no districts: its towns sit straight under the city.
        ("441900003000", Level.STREET),
    ],
)
def test_level_follows_from_the_code(code: str, level: Level) -> None:
    assert parse_code(code).level == level


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("11010100100", "12 digits"),
        ("11010100100a", "12 digits"),
        ("990101001000", "province"),
        ("110101000001", "000"),
    ],
)
def test_malformed_codes_say_what_is_wrong(code: str, message: str) -> None:
    with pytest.raises(InvalidRegionCode, match=message):
        parse_code(code)


def test_subtree_range_covers_exactly_the_descendants() -> None:
    low, high = parse_code("110101001000").subtree_range
    assert (low, high) == ("110101001000", "110101001999")
    assert low <= "110101001017" <= high
    assert not (low <= "110101002001" <= high)


communities = st.builds(
    lambda d, s, c: f"1101{d:02d}{s:03d}{c:03d}",
    st.integers(1, 99),
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(communities)
def test_every_ancestor_contains_its_community(code: str) -> None:
    for end in (2, 4, 6, 9):
        ancestor = code[:end].ljust(12, "0")
        assert code_contains(ancestor, code)
        low, high = parse_code(ancestor).subtree_range
        assert low <= code <= high


@given(communities, communities)
def test_a_community_contains_only_itself(a: str, b: str) -> None:
    assert code_contains(a, b) == (a == b)


def test_ancestor_codes_run_from_the_province_down_to_the_region_itself() -> None:
    assert ancestor_codes("110101001001") == [
        "110000000000",
        "110100000000",
        "110101000000",
        "110101001000",
        "110101001001",
    ]
    assert ancestor_codes("110101000000") == ["110000000000", "110100000000", "110101000000"]
    with pytest.raises(InvalidRegionCode):
        ancestor_codes("11010100100")  # eleven digits
