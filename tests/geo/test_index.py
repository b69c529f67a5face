"""AssetIndex.query must equal shapely.intersects point by point, boundary included."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo.areas import geodesic_circle
from geo.index import AssetIndex

coordinate = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False, allow_infinity=False)


@st.composite
def polygons(draw):
    """Random star-shaped rings (valid by construction), sometimes with a hole or a second part."""
    def star(cx, cy, radius, n):
        angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi, exclude_max=True), min_size=n,
                                                max_size=n, unique=True))))
        radii = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))) * radius
        return np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])

    n = draw(st.integers(3, 40))
    cx, cy = draw(coordinate), draw(coordinate)
    shell = star(cx, cy, draw(st.floats(0.05, 4.0)), n)
    polygon = shapely.make_valid(Polygon(shell))
    if draw(st.booleans()):
        hole = Point(cx, cy).buffer(0.05, quad_segs=draw(st.integers(1, 4)))
        polygon = shapely.difference(polygon, hole)
    if draw(st.booleans()):
        other = shapely.make_valid(Polygon(star(draw(coordinate), draw(coordinate), draw(st.floats(0.05, 2.0)),
                                                draw(st.integers(3, 12)))))
        polygon = shapely.union(polygon, other)
    assume(not polygon.is_empty)
    return polygon


@st.composite
def points_for(draw, geometry):
    """Random points plus points exactly on the geometry's vertices and on its edges."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    minx, miny, maxx, maxy = geometry.bounds
    lon = rng.uniform(minx - 1, maxx + 1, 3000)
    lat = rng.uniform(miny - 1, maxy + 1, 3000)
    rings = shapely.get_rings(shapely.get_parts(geometry))
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[1:] == ring_of[:-1]
    start, end = coords[:-1][same_ring], coords[1:][same_ring]
    t = rng.uniform(0, 1, (len(start), 1))
    # Vertices are exactly on the boundary; points along the edges are on it or within rounding of it.
    extra = np.concatenate([coords, start + t * (end - start), (start + end) / 2])
    return np.concatenate([lon, extra[:, 0]]), np.concatenate([lat, extra[:, 1]])


def brute_force(geometry, lon, lat) -> np.ndarray:
    return np.nonzero(shapely.intersects_xy(geometry, lon, lat))[0]


def assert_same(index: AssetIndex, geometry, lon, lat) -> None:
    got = np.sort(index.query(geometry))
    expected = brute_force(geometry, lon, lat)
    assert np.array_equal(got, expected), (
        f"{len(set(got) ^ set(expected))} points differ, e.g. "
        f"{[(lon[i], lat[i]) for i in sorted(set(got) ^ set(expected))[:3]]}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), geometry=polygons(), points_per_cell=st.sampled_from([1, 4, 24]))
def test_query_equals_shapely_intersects_on_random_polygons(data, geometry, points_per_cell):
    lon, lat = data.draw(points_for(geometry))
    index = AssetIndex.from_arrays(np.arange(len(lon)), lon, lat, points_per_cell=points_per_cell)
    assert_same(index, geometry, lon, lat)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), geometry=polygons())
def test_points_on_a_grid_shared_with_the_polygon_vertices(data, geometry):
    """Vertices snapped to a lattice that the points also sit on: many exact vertex and edge hits."""
    snapped = shapely.make_valid(shapely.set_precision(geometry, 0.25))
    if snapped.is_empty:
        return
    grid = np.arange(-7.0, 7.0, 0.125)
    lon, lat = (a.ravel() for a in np.meshgrid(grid, grid))
    index = AssetIndex.from_arrays(np.arange(len(lon)), lon, lat,
                                   points_per_cell=data.draw(st.sampled_from([1, 4, 24])))
    assert_same(index, snapped, lon, lat)


def test_lines_points_and_collections_are_matched_exactly():
    grid = np.arange(0.0, 10.0, 0.5)
    lon, lat = (a.ravel() for a in np.meshgrid(grid, grid))
    index = AssetIndex.from_arrays(np.arange(len(lon)), lon, lat)
    line = LineString([(0, 0), (9.5, 9.5)])
    assert len(index.query(line)) == 20  # the diagonal of the lattice
    assert list(index.query(Point(2.5, 3.0))) == [int(np.nonzero((lon == 2.5) & (lat == 3.0))[0][0])]
    collection = shapely.GeometryCollection([Polygon([(1, 1), (3, 1), (3, 3), (1, 3)]), line])
    assert_same(index, collection, lon, lat)


def test_a_boundary_point_counts_as_inside():
    index = AssetIndex.from_arrays(np.array(["on-edge", "on-vertex", "inside", "outside"]),
                                   [121.0, 120.0, 120.5, 121.5], [27.5, 27.0, 27.5, 27.5])
    square = Polygon([(120, 27), (121, 27), (121, 28), (120, 28)])
    assert sorted(index.query(square)) == ["inside", "on-edge", "on-vertex"]


def test_geometry_beyond_the_points_and_empty_inputs():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(110, 120, 5000), rng.uniform(20, 30, 5000)
    index = AssetIndex.from_arrays(np.arange(5000), lon, lat)
    assert_same(index, Polygon([(100, 0), (200, 0), (200, 60), (100, 60)]), lon, lat)
    assert len(index.query(Polygon([(0, 0), (1, 0), (1, 1)]))) == 0
    assert len(index.query(shapely.GeometryCollection())) == 0
    assert len(AssetIndex.from_arrays([], [], []).query(Point(0, 0).buffer(1))) == 0
    assert_same(index, MultiPolygon([Point(112, 22).buffer(1), Point(118, 28).buffer(0.5)]), lon, lat)
    assert_same(index, geodesic_circle(115.0, 25.0, 300.0), lon, lat)


def test_invalid_polygons_still_match_like_shapely():
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    grid = np.arange(-0.5, 2.5, 0.25)
    lon, lat = (a.ravel() for a in np.meshgrid(grid, grid))
    index = AssetIndex.from_arrays(np.arange(len(lon)), lon, lat)
    assert_same(index, bowtie, lon, lat)


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="equally long"):
        AssetIndex.from_arrays([1, 2], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        AssetIndex.from_arrays([1, 2], [1.0, float("nan")], [1.0, 2.0])
