"""Alert areas -> WGS-84 geometry: polygons, geodesic circles, gazetteer geocodes, margin."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point

from geo.areas import alert_geometry, area_geometry, geodesic_buffer, geodesic_circle, polygon_geometry
from geo.gazetteer import Gazetteer, expand_ugc, load_gazetteer

GEOD = Geod(ellps="WGS84")
WENZHOU = (120.699, 27.994)


def test_unclosed_ring_is_closed_and_noted():
    geometry, notes = polygon_geometry([[120, 27], [121, 27], [121, 28], [120, 28]])
    assert geometry.equals(shapely.box(120, 27, 121, 28))
    assert notes == ["unclosed polygon ring closed"]


def test_self_intersecting_polygon_is_repaired_to_both_lobes():
    geometry, notes = polygon_geometry([[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]])
    assert geometry.is_valid and geometry.area == pytest.approx(2.0)
    assert notes == ["self-intersecting polygon repaired"]
    assert shapely.intersects_xy(geometry, 1.0, 1.0)  # the crossing point is on the boundary


def test_collinear_sliver_keeps_its_outline_so_assets_on_it_still_match():
    geometry, notes = polygon_geometry([[0, 0], [1, 1], [2, 2], [0, 0]])
    assert geometry.geom_type == "LinearRing" or geometry.geom_type == "LineString"
    assert shapely.intersects_xy(geometry, 1.0, 1.0) and "degenerate" in notes[0]


def test_several_polygons_in_one_area_are_joined():
    area = {"polygons": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]}
    result = area_geometry(area)
    assert result.geometry.geom_type == "MultiPolygon" and result.geometry.area == pytest.approx(2.0)


def test_polygon_across_the_antimeridian_is_cut_in_two_pieces():
    geometry, _ = polygon_geometry([[179, -17], [-179, -17], [-179, -15], [179, -15], [179, -17]])
    assert geometry.geom_type == "MultiPolygon"
    assert geometry.area == pytest.approx(4.0)
    assert shapely.intersects_xy(geometry, 179.5, -16) and shapely.intersects_xy(geometry, -179.5, -16)
    assert not shapely.intersects_xy(geometry, 0, -16)


@pytest.mark.parametrize("radius_km", [1, 10, 50, 150, 300])
def test_geodesic_circle_error_is_under_ten_metres(radius_km):
    circle = geodesic_circle(*WENZHOU, radius_km)
    azimuths = np.linspace(0, 360, 97)
    centre = np.full(len(azimuths), WENZHOU[0]), np.full(len(azimuths), WENZHOU[1])
    inside_lon, inside_lat, _ = GEOD.fwd(*centre, azimuths, np.full(len(azimuths), radius_km * 1000 - 10))
    outside_lon, outside_lat, _ = GEOD.fwd(*centre, azimuths, np.full(len(azimuths), radius_km * 1000 + 10))
    assert shapely.intersects_xy(circle, inside_lon, inside_lat).all()
    assert not shapely.intersects_xy(circle, outside_lon, outside_lat).any()


def test_circle_across_the_antimeridian_and_around_a_pole():
    fiji = geodesic_circle(179.9, -17.0, 100)
    assert fiji.geom_type == "MultiPolygon"
    assert shapely.intersects_xy(fiji, -179.5, -17.0) and shapely.intersects_xy(fiji, 179.5, -17.0)
    polar = geodesic_circle(0.0, 89.0, 300)
    assert shapely.intersects_xy(polar, [0, 90, 180, -90], [89.9, 89.9, 89.9, 89.9]).all()


def test_radius_zero_is_a_point_matched_within_the_snap_distance():
    point = geodesic_circle(*WENZHOU, 0.0, point_snap_m=50)
    near = GEOD.fwd(WENZHOU[0], WENZHOU[1], 45, 45)
    far = GEOD.fwd(WENZHOU[0], WENZHOU[1], 45, 60)
    assert shapely.intersects_xy(point, near[0], near[1]) and not shapely.intersects_xy(point, far[0], far[1])
    assert geodesic_circle(*WENZHOU, 0.0, point_snap_m=0).equals(Point(WENZHOU))


def test_margin_grows_the_area_by_ground_distance():
    square = shapely.box(120, 27, 121, 28)
    grown = geodesic_buffer(square, 10.0)
    east = [GEOD.fwd(121, 27.5, 90, d)[0] for d in (9_900, 10_100)]
    assert shapely.intersects_xy(grown, east[0], 27.5) and not shapely.intersects_xy(grown, east[1], 27.5)
    north = [GEOD.fwd(120.5, 28, 0, d)[1] for d in (9_900, 10_100)]
    assert shapely.intersects_xy(grown, 120.5, north[0]) and not shapely.intersects_xy(grown, 120.5, north[1])


def test_compressed_ugc_strings_expand_as_nws_writes_them():
    assert expand_ugc("AKZ185-187-021236-") == ["AKZ185", "AKZ187"]
    assert expand_ugc("AKZ026>029") == ["AKZ026", "AKZ027", "AKZ028", "AKZ029"]
    assert expand_ugc("AKZ185-ALZ001>002-") == ["AKZ185", "ALZ001", "ALZ002"]
    with pytest.raises(ValueError, match="backwards"):
        expand_ugc("AKZ029>026")


def test_bundled_gazetteer_resolves_china_admin_codes():
    gazetteer = load_gazetteer()
    city = gazetteer.boundary("CN-ADCODE", "330300")
    assert city.name == "温州市" and shapely.intersects_xy(city.geometry, *WENZHOU)
    for code in ("440000", "350000", "330000", "460000", "440100", "350200", "460200"):
        assert gazetteer.lookup("CN-ADCODE", code) is not None, code
    result = area_geometry({"geocodes": [{"name": "CN-ADCODE", "value": "330300"},
                                         {"name": "CN-ADCODE", "value": "999999"}]}, gazetteer)
    assert shapely.intersects_xy(result.geometry, *WENZHOU)
    assert result.unknown_geocodes == ["CN-ADCODE:999999"]


def test_supplied_nws_gazetteer_resolves_zones_ranges_counties_and_same(tmp_path):
    """A hand-made boundaries file in the operator's format (no NWS boundaries ship with Haven)."""
    path = tmp_path / "nws.geojson"
    import geopandas as gpd

    gpd.GeoDataFrame({"scheme": ["UGC", "UGC", "FIPS6"], "code": ["AKZ185", "AKZ187", "019037"],
                      "name": ["Zone 185", "Zone 187", "Chickasaw County"]},
                     geometry=[shapely.box(-170, 52, -165, 55), shapely.box(-178, 51, -172, 53),
                               shapely.box(-92.5, 42.9, -92.0, 43.2)], crs="EPSG:4326").to_file(path)
    gazetteer = Gazetteer.from_file(path)
    ugc = area_geometry({"geocodes": [{"name": "UGC", "value": "AKZ185-187-021236-"}]}, gazetteer)
    assert ugc.geometry.area == pytest.approx(15 + 12) and ugc.unknown_geocodes == []
    county = area_geometry({"geocodes": [{"name": "UGC", "value": "IAC037"}, {"name": "SAME", "value": "119037"},
                                         {"name": "UGC", "value": "MTZ014"}]}, gazetteer)
    assert shapely.intersects_xy(county.geometry, -92.2, 43.0)
    assert county.unknown_geocodes == ["UGC:MTZ014"]


def test_areas_never_raise_on_bad_parts():
    normalized = {"infos": [{"areas": [
        {"polygons": [[[0, 0], [1, 1]]], "circles": [{"center": [500, 0], "radius_km": 5}, {"center": "x"}],
         "geocodes": [{"name": "NUTS3", "value": "FR714"}]},
        {"polygons": [], "circles": [{"center": [10, 10], "radius_km": 1}], "geocodes": []}]}]}
    result = alert_geometry(normalized, load_gazetteer())
    assert shapely.intersects_xy(result.geometry, 10, 10)
    assert any("2 usable points" in n for n in result.notes)
    assert any("out of range" in n for n in result.notes) and any("unreadable" in n for n in result.notes)
    assert result.unknown_geocodes == ["NUTS3:FR714"]


def test_missing_gazetteer_file_reports_codes_unknown(tmp_path):
    from alerts.matching.spatial import ConfiguredGazetteer, _gazetteer

    _gazetteer.cache_clear()
    import os

    os.environ["HAVEN_GAZETTEER_PATH"] = str(tmp_path / "nope.geojson")
    try:
        from config import reset_settings

        reset_settings()
        found, unknown = ConfiguredGazetteer().resolve("CN-ADCODE", "330300")
        assert found == [] and "gazetteer unavailable" in unknown[0]
    finally:
        del os.environ["HAVEN_GAZETTEER_PATH"]
        reset_settings()
        _gazetteer.cache_clear()
