"""GCJ-02 / BD-09 -> WGS-84 against published reference points; outside China untouched."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo import crs

GEOD = Geod(ellps="WGS84")

# (WGS-84 lat, lon, GCJ-02 lat, lon): googollee/eviltransform python/test.py (Shanghai, Shenzhen, Beijing).
EVILTRANSFORM = [(31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
                 (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
                 (39.911954, 116.377817, 39.91334545536069, 116.38404722455657)]


def metres(lon_a, lat_a, lon_b, lat_b) -> np.ndarray:
    return np.asarray(GEOD.inv(np.asarray(lon_a, float), np.asarray(lat_a, float), np.asarray(lon_b, float),
                               np.asarray(lat_b, float))[2])


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM)
def test_published_points_both_ways(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = crs.wgs84_to_gcj02([wgs_lon], [wgs_lat])
    assert lon[0] == pytest.approx(gcj_lon, abs=1e-7) and lat[0] == pytest.approx(gcj_lat, abs=1e-7)
    lon, lat = crs.to_wgs84([gcj_lon], [gcj_lat], "gcj02")
    assert np.all(metres(lon, lat, [wgs_lon], [wgs_lat]) < 0.01)


def test_beijing_railway_station_from_geochina():
    # caijun/geoChina documentation: WGS-84 (39.90105, 116.42079) is GCJ-02 (39.90245, 116.42703).
    lon, lat = crs.wgs84_to_gcj02([116.42079], [39.90105])
    assert metres(lon, lat, [116.42703], [39.90245])[0] < 1.0


def test_baidu_points_from_coordtransform():
    # wandergis/coordtransform test/app.js: bd09togcj02 and gcj02tobd09 of (116.404, 39.915).
    lon, lat = crs.bd09_to_gcj02([116.404], [39.915])
    assert metres(lon, lat, [116.39762729119315], [39.90865673957631])[0] < 0.1
    lon, lat = crs.gcj02_to_bd09([116.404], [39.915])
    assert lon[0] == pytest.approx(116.41036949371029, abs=1e-9) and lat[0] == pytest.approx(39.92133699351021, abs=1e-9)


def test_baidu_to_wgs84_is_exact_where_the_published_one_step_inverse_is_not():
    # googollee/eviltransform TESTS_bd were made with a one-step approximate inverse (metres off);
    # ours converts back onto the Baidu input exactly and stays within the approximation's error.
    for bd_lat, bd_lon, wgs_lat, wgs_lon in [(29.199786, 120.019809, 29.196131605295484, 120.00877901149691),
                                             (29.210504, 120.036455, 29.206795749156136, 120.0253853970846)]:
        lon, lat = crs.to_wgs84([bd_lon], [bd_lat], "bd09")
        assert metres(lon, lat, [wgs_lon], [wgs_lat])[0] < 50.0
        assert metres(*crs.wgs84_to_bd09(lon, lat), [bd_lon], [bd_lat])[0] < 0.001


def test_round_trips_stay_within_a_metre_everywhere_in_china():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(98, 125, 20000), rng.uniform(18, 45, 20000)
    inside = crs.in_gcj02_region(lon, lat)
    lon, lat = lon[inside], lat[inside]
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert metres(*back, lon, lat).max() < 1.0
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert metres(*back, lon, lat).max() < 1.0
    shift = metres(*crs.wgs84_to_gcj02(lon, lat), lon, lat)
    assert shift.mean() > 200 and shift.max() < 1000  # the obfuscation really moved them


def test_points_outside_china_are_untouched():
    places = {"Seoul": (126.978, 37.566), "Taipei": (121.565, 25.033), "Hanoi": (105.854, 21.029),
              "Tokyo": (139.692, 35.690), "New York": (-74.006, 40.713), "Ulaanbaatar": (106.917, 47.918)}
    lon = np.array([p[0] for p in places.values()])
    lat = np.array([p[1] for p in places.values()])
    for system in ("gcj02", "bd09"):
        out_lon, out_lat = crs.to_wgs84(lon, lat, system)
        assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat), system
    assert crs.in_gcj02_region([114.17, 113.54, 121.47], [22.30, 22.19, 31.23]).all()  # Hong Kong, Macao, Shanghai


def test_inputs_are_not_modified_and_unknown_systems_refused():
    lon, lat = np.array([121.5]), np.array([31.2])
    crs.to_wgs84(lon, lat, "gcj02")
    assert lon[0] == 121.5 and lat[0] == 31.2
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.to_wgs84(lon, lat, "mars")
