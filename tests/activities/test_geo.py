"""GCJ-02 ↔ WGS-84 against published point pairs, and distances."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhiyuan.activities import geo

# (WGS-84 lat, lng, GCJ-02 lat, lng): the reference pairs used by the eviltransform library's
# own tests (Shanghai, Shenzhen, Beijing).
PAIRS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]


@pytest.mark.parametrize(("w_lat", "w_lng", "g_lat", "g_lng"), PAIRS)
def test_forward_matches_reference(w_lat, w_lng, g_lat, g_lng) -> None:
    lat, lng = geo.wgs84_to_gcj02(w_lat, w_lng)
    assert lat == pytest.approx(g_lat, abs=1e-9)
    assert lng == pytest.approx(g_lng, abs=1e-9)


@pytest.mark.parametrize(("w_lat", "w_lng", "g_lat", "g_lng"), PAIRS)
def test_inverse_recovers_wgs84_within_a_millimetre(w_lat, w_lng, g_lat, g_lng) -> None:
    lat, lng = geo.gcj02_to_wgs84(g_lat, g_lng)
    assert geo.haversine_m(lat, lng, w_lat, w_lng) < 0.001


def test_the_offset_is_hundreds_of_metres_in_beijing() -> None:
    w_lat, w_lng, g_lat, g_lng = PAIRS[2]
    assert 400 < geo.haversine_m(w_lat, w_lng, g_lat, g_lng) < 700


def test_outside_china_nothing_changes() -> None:
    assert geo.gcj02_to_wgs84(48.8566, 2.3522) == (48.8566, 2.3522)
    assert geo.wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)


@given(st.floats(18.0, 53.0), st.floats(74.0, 134.0))
def test_inverse_is_exact_everywhere_in_china(lat: float, lng: float) -> None:
    g_lat, g_lng = geo.wgs84_to_gcj02(lat, lng)
    back = geo.gcj02_to_wgs84(g_lat, g_lng)
    assert geo.haversine_m(back[0], back[1], lat, lng) < 0.01


def test_haversine_known_distance() -> None:
    # One degree of latitude is about 111.2 km.
    assert geo.haversine_m(39.0, 116.0, 40.0, 116.0) == pytest.approx(111_195, rel=1e-3)


def test_unknown_datum_is_refused() -> None:
    with pytest.raises(ValueError, match="datum"):
        geo.to_wgs84(39.9, 116.4, "bd09")
