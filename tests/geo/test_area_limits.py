"""Circles up to the radius limit match exactly; antimeridian and polar areas are right, never empty.

"Exactly" is measured against pyproj's geodesic distance on WGS-84: an asset CIRCLE_MAX_CHORD_ERROR_M
inside the radius is matched, one that far outside is not, for every accepted radius from 0 to
MAX_CIRCLE_RADIUS_KM and for circles that cross the antimeridian or contain a pole. Areas come from CAP
text through the parser, so the whole path from the message to the AssetIndex is what is checked.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from alerts.reading.parse import parse_message
from geo.areas import (
    CIRCLE_MAX_CHORD_ERROR_M,
    DEFAULT_POINT_SNAP_M,
    alert_geometry,
    geodesic_circle,
    polygon_geometry,
)
from geo.index import AssetIndex
from geo.limits import MAX_CIRCLE_RADIUS_KM
from geo.swath import Fix, wind_swath

GEOD = Geod(ellps="WGS84")
RADII_KM = [0, 0.05, 1, 50, 500, 2000, 3000]
# (lon, lat): mid-latitudes, the equator, across the antimeridian both ways, near and around both poles.
CENTRES = [(120.7, 28.0), (0.0, 0.0), (179.9, -17.0), (-179.8, 52.0), (120.0, 80.0), (-45.0, 89.9),
           (60.0, -70.0), (10.0, -89.5)]


def cap_with_circle(lon: float, lat: float, radius_km: float) -> bytes:
    return (f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>C-1</identifier>'
            f"<sender>ops@example.org</sender><sent>2026-07-24T10:00:00+08:00</sent><status>Actual</status>"
            f"<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category><event>Storm</event>"
            f"<urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty><area>"
            f"<areaDesc>ring</areaDesc><circle>{lat!r},{lon!r} {radius_km!r}</circle></area></info></alert>").encode()


def circle_area_from_cap(lon: float, lat: float, radius_km: float):
    alert = parse_message(cap_with_circle(lon, lat, radius_km)).alerts[0].alert
    result = alert_geometry(alert)
    assert not result.is_empty, f"circle {lat},{lon} {radius_km} km came out empty: {result.notes}"
    return result.geometry


def ring_of_assets(lon: float, lat: float, distance_m: float, count: int, seed: int):
    """Points at exactly distance_m from the centre (geodesic), at random azimuths."""
    azimuths = np.random.default_rng(seed).uniform(0.0, 360.0, count)
    x, y, _ = GEOD.fwd(np.full(count, lon), np.full(count, lat), azimuths, np.full(count, distance_m))
    return np.asarray(x), np.asarray(y)


def assert_index_matches_geodesic_distance(lon: float, lat: float, radius_km: float, count: int = 1500,
                                           seed: int = 0) -> None:
    """Assets just inside the radius are found by the AssetIndex, assets just outside are not."""
    radius_m = radius_km * 1000.0 if radius_km > 0 else DEFAULT_POINT_SNAP_M
    tolerance = CIRCLE_MAX_CHORD_ERROR_M
    inner = ring_of_assets(lon, lat, max(radius_m - tolerance, 0.0), count, seed)
    outer = ring_of_assets(lon, lat, radius_m + tolerance, count, seed + 1)
    # Random assets anywhere around, labelled by their true distance (the band of the tolerance left out).
    rng = np.random.default_rng(seed + 2)
    far_x, far_y = ring_of_assets(lon, lat, 0.0, 1, seed)  # the centre itself
    spread_d = rng.uniform(0.0, 2.0 * radius_m + 1000.0, count)
    spread_x, spread_y, _ = GEOD.fwd(np.full(count, lon), np.full(count, lat), rng.uniform(0, 360, count), spread_d)
    keep = np.abs(spread_d - radius_m) > tolerance
    lons = np.concatenate([inner[0], outer[0], far_x, np.asarray(spread_x)[keep]])
    lats = np.concatenate([inner[1], outer[1], far_y, np.asarray(spread_y)[keep]])
    should_match = np.concatenate([np.ones(count, bool), np.zeros(count, bool), [True], spread_d[keep] < radius_m])
    area = circle_area_from_cap(lon, lat, radius_km)
    index = AssetIndex.from_arrays(np.arange(len(lons)), lons, lats)
    matched = np.zeros(len(lons), dtype=bool)
    matched[index.query(area)] = True
    missed = np.flatnonzero(should_match & ~matched)
    extra = np.flatnonzero(~should_match & matched)
    assert missed.size == 0, (f"circle {lat},{lon} {radius_km} km: {missed.size} assets inside the radius not "
                              f"matched, e.g. lon,lat {lons[missed[0]]},{lats[missed[0]]}")
    assert extra.size == 0, (f"circle {lat},{lon} {radius_km} km: {extra.size} assets outside the radius "
                             f"matched, e.g. lon,lat {lons[extra[0]]},{lats[extra[0]]}")


@pytest.mark.parametrize("radius_km", RADII_KM)
@pytest.mark.parametrize("centre", CENTRES, ids=lambda c: f"{c[0]},{c[1]}")
def test_every_accepted_radius_matches_by_geodesic_distance(centre, radius_km):
    assert_index_matches_geodesic_distance(*centre, radius_km)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lon=st.floats(-180, 180), lat=st.floats(-90, 90),
       radius_km=st.floats(0, MAX_CIRCLE_RADIUS_KM), seed=st.integers(0, 2**16))
def test_any_circle_up_to_the_limit_matches_by_geodesic_distance(lon, lat, radius_km, seed):
    lon, lat, radius_km = round(lon, 4), round(lat, 4), round(radius_km, 3)  # as an agency would write them
    assert_index_matches_geodesic_distance(lon, lat, radius_km, count=400, seed=seed)


def test_circle_across_the_antimeridian_is_split_into_a_multipolygon():
    area = circle_area_from_cap(179.9, -17.0, 300)
    assert area.geom_type == "MultiPolygon", f"expected two pieces either side of 180, got {area.geom_type}"
    minx, _, maxx, _ = area.bounds
    assert minx == -180.0 and maxx == 180.0, f"pieces should meet the antimeridian, bounds {area.bounds}"
    assert shapely.intersects_xy(area, -178.0, -17.0) and shapely.intersects_xy(area, 178.0, -17.0), \
        "both Fiji sides of the antimeridian should be inside"
    assert not shapely.intersects_xy(area, 0.0, -17.0), "the far side of the world should be outside"


@pytest.mark.parametrize("lat, pole", [(80.0, 90.0), (-70.0, -90.0)])
def test_circle_around_a_pole_covers_the_pole_and_every_longitude_near_it(lat, pole):
    area = circle_area_from_cap(120.0, lat, 3000)
    near_pole = np.full(36, pole - np.sign(pole) * 0.5)
    assert shapely.intersects_xy(area, np.arange(-175, 185, 10), near_pole).all(), \
        "every longitude half a degree from the pole should be inside a 3,000 km circle around it"
    assert area.is_valid and area.bounds[0] == -180.0 and area.bounds[2] == 180.0


def test_radius_past_the_limit_is_never_drawn_the_wrong_way_round():
    """Stored before the limit existed: drawn as nothing, with a note, rather than inside out."""
    for radius_km in (1e9, 15_000, 20_100, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="radius"):
            geodesic_circle(120.7, 28.0, radius_km)
    result = alert_geometry({"infos": [{"areas": [{"circles": [{"center": [120.7, 28.0], "radius_km": 1e9}]},
                                                  {"circles": [{"center": [121.0, 28.0], "radius_km": 5}]}]}]})
    assert shapely.intersects_xy(result.geometry, 121.0, 28.0), "the good circle should still be drawn"
    assert not shapely.intersects_xy(result.geometry, 120.7, 28.0), "the oversized circle should not be drawn"
    assert any("circle out of range ignored" in note and "1000000000" in note for note in result.notes), result.notes


def test_polygon_across_the_antimeridian_from_cap_text():
    raw = cap_with_circle(0, 0, 1).replace(
        b"<circle>0,0 1</circle>", b"<polygon>-16,179 -16,-179 -18,-179 -18,179 -16,179</polygon>")
    alert = parse_message(raw).alerts[0].alert
    area = alert_geometry(alert).geometry
    assert area.geom_type == "MultiPolygon" and area.area == pytest.approx(4.0), \
        f"a 2x2 degree square across 180 should be two 1x2 pieces, got {area.geom_type} of {area.area}"
    index = AssetIndex.from_arrays(np.arange(4), [179.5, -179.5, 0.0, 178.5], [-17.0, -17.0, -17.0, -17.0])
    assert sorted(index.query(area).tolist()) == [0, 1], "both sides of 180 inside, Greenwich and 178.5 outside"


def test_polygon_going_around_a_pole_is_closed_over_that_pole():
    ring = [[lon, 75.0] for lon in range(-180, 180, 30)] + [[-180, 75.0]]
    area, notes = polygon_geometry(ring)
    assert not area.is_empty, f"an Arctic ring came out empty: {notes}"
    assert shapely.intersects_xy(area, np.arange(-170, 180, 20), np.full(18, 89.0)).all(), \
        "the North Pole side of a ring at 75N should be inside"
    assert not shapely.intersects_xy(area, 0.0, 60.0), "south of the ring should be outside"
    south = [[lon, -80.0] for lon in range(180, -180, -45)] + [[180, -80.0]]
    area, _ = polygon_geometry(south)
    assert shapely.intersects_xy(area, 33.0, -89.0) and not shapely.intersects_xy(area, 33.0, -70.0), \
        "a ring at 80S should enclose the South Pole"


def test_typhoon_swath_across_the_antimeridian_is_cut_there_not_wrapped_round_the_world():
    radii = dict.fromkeys(("ne", "se", "sw", "nw"), 300)
    swath = wind_swath([Fix(178.0, 20.0, radii), Fix(179.5, 21.0, radii), Fix(-178.5, 22.0, radii)])
    assert swath.geom_type == "MultiPolygon" and swath.bounds[0] == -180.0 and swath.bounds[2] == 180.0, \
        f"a track over 180 should come back as pieces either side of it, got {swath.geom_type} {swath.bounds}"
    inside = shapely.intersects_xy(swath, [179.9, -179.9, -178.5, 178.0], [21.0, 21.0, 22.0, 20.0])
    assert inside.all(), f"the ground along the track should be inside: {inside}"
    assert not shapely.intersects_xy(swath, 0.0, 21.0), "Africa is not under a Pacific typhoon"
    assert swath.area < 60, f"the swath should be a few hundred km wide, not the globe: {swath.area} sq deg"
