"""Distances and datum conversion for check-in, without Django.

Phones in China give positions in two datums. Browsers and GPS give WGS-84; the map SDKs and
mini programs (AMap, Tencent Maps, WeChat's ``wx.getLocation`` with ``type: 'gcj02'``) give
GCJ-02, the obfuscated datum required by the national surveying rules, which is offset from
WGS-84 by up to several hundred metres. Zhiyuan stores and compares WGS-84 only, so a GCJ-02
position is converted back first.

GCJ-02 is defined by a published forward transform (WGS-84 → GCJ-02, on the Krasovsky 1940
ellipsoid); it has no closed-form inverse, so :func:`gcj02_to_wgs84` inverts it by fixed-point
iteration, which converges to well under a millimetre in a handful of steps.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean radius, for great-circle distances
# The GCJ-02 transform's ellipsoid (Krasovsky 1940): semi-major axis and eccentricity squared.
_A = 6378245.0
_EE = 0.00669342162296594323

WGS84 = "wgs84"
GCJ02 = "gcj02"
DATUMS = (WGS84, GCJ02)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def outside_china(lat: float, lng: float) -> bool:
    """The transform is applied only inside this box; elsewhere GCJ-02 equals WGS-84."""
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """The published forward transform."""
    if outside_china(lat, lng):
        return lat, lng
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad = math.radians(lat)
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float, *, tolerance_deg: float = 1e-9) -> tuple[float, float]:
    """Invert the forward transform: find the WGS-84 point whose GCJ-02 image is (lat, lng).

    Fixed-point iteration: start from the GCJ-02 point, move by the residual of the forward
    image, repeat. The offset varies slowly with position, so each step shrinks the error by
    orders of magnitude; 1e-9 degrees is about 0.1 mm.
    """
    if outside_china(lat, lng):
        return lat, lng
    w_lat, w_lng = lat, lng
    for _ in range(30):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        d_lat, d_lng = g_lat - lat, g_lng - lng
        w_lat, w_lng = w_lat - d_lat, w_lng - d_lng
        if abs(d_lat) < tolerance_deg and abs(d_lng) < tolerance_deg:
            break
    return w_lat, w_lng


def to_wgs84(lat: float, lng: float, datum: str) -> tuple[float, float]:
    if datum == GCJ02:
        return gcj02_to_wgs84(lat, lng)
    if datum == WGS84:
        return lat, lng
    raise ValueError(f"unknown datum {datum!r}")


def valid_point(lat: float, lng: float) -> bool:
    return (
        isinstance(lat, int | float)
        and isinstance(lng, int | float)
        and math.isfinite(lat)
        and math.isfinite(lng)
        and -90 <= lat <= 90
        and -180 <= lng <= 180
    )
