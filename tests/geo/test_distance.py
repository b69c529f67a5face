"""Geodesic distances on WGS-84 (geo/distance.py), as dispatch measures a truck's way to a car."""

import numpy as np

from geo.distance import distance_km


def test_a_degree_along_the_equator_and_along_a_meridian_has_its_ellipsoidal_length():
    along_equator = float(distance_km(0.0, 0.0, 1.0, 0.0))
    along_meridian = float(distance_km(0.0, 0.0, 0.0, 1.0))
    # WGS-84: a = 6378.137 km, so a degree of the equator is 2*pi*a/360; a meridian degree there is shorter.
    assert abs(along_equator - 111.3195) < 0.001, f"a degree of the equator is 111.32 km, got {along_equator}"
    assert abs(along_meridian - 110.574) < 0.001, f"a meridian degree at the equator is 110.57 km, got {along_meridian}"


def test_a_column_of_jobs_against_a_row_of_trucks_gives_the_whole_matrix():
    jobs_lon, jobs_lat = np.array([[121.55], [122.207]]), np.array([[29.874], [29.985]])  # Ningbo, Zhoushan
    trucks_lon, trucks_lat = np.array([[121.55, 120.755, 113.264]]), np.array([[29.874, 30.746, 23.129]])
    matrix = distance_km(jobs_lon, jobs_lat, trucks_lon, trucks_lat)
    assert matrix.shape == (2, 3), f"two jobs against three trucks, got shape {matrix.shape}"
    assert matrix[0, 0] == 0.0, f"a truck at the job is 0 km away, got {matrix[0, 0]}"
    assert 60 < matrix[1, 0] < 70, f"Zhoushan to Ningbo is about 65 km, got {matrix[1, 0]:.1f}"


def test_pairs_plainly_out_of_reach_are_infinite_and_no_pair_within_reach_is_lost():
    rng = np.random.default_rng(3)
    lon1, lat1 = rng.uniform(100, 125, (300, 1)), rng.uniform(-60, 60, (300, 1))
    lon2, lat2 = lon1.T + rng.normal(0, 1.5, (1, 300)), lat1.T + rng.normal(0, 1.5, (1, 300))
    exact = distance_km(lon1, lat1, lon2, lat2)
    bounded = distance_km(lon1, lat1, lon2, lat2, within_km=100.0)
    within = exact <= 100.0
    assert within.any(), "the sample has pairs within 100 km"
    assert np.array_equal(bounded[within], exact[within]), "every pair within 100 km keeps its exact distance"
    assert np.isinf(bounded[~within]).mean() > 0.9, "most pairs beyond 100 km are skipped as unreachable"
    assert (bounded[~within] > 100.0).all(), "no pair beyond 100 km comes back as within reach"


def test_the_antimeridian_is_crossed_the_short_way():
    across = float(distance_km(179.9, 0.0, -179.9, 0.0, within_km=100.0))
    assert 22 < across < 23, f"0.2 degrees across the antimeridian is about 22 km, got {across}"


def test_the_short_distance_matrix_is_the_geodesic_within_a_metre_up_to_100_km():
    from geo.distance import short_distances_km

    rng = np.random.default_rng(11)
    lon1, lat1 = rng.uniform(-180, 180, (400, 1)), rng.uniform(-85, 85, (400, 1))
    lon2, lat2 = (lon1.T + rng.normal(0, 0.6, (1, 400)) + 180) % 360 - 180, lat1.T + rng.normal(0, 0.6, (1, 400))
    exact = distance_km(lon1, lat1, lon2, lat2)
    short = short_distances_km(lon1, lat1, lon2, lat2, within_km=100.0)
    within = exact <= 100.0
    assert within.sum() > 50, "the sample has pairs within 100 km, near the poles and the antimeridian too"
    worst_m = float(np.abs(short[within] - exact[within]).max() * 1000)
    assert worst_m < 1.0, f"every pair within 100 km is within a metre of pyproj's geodesic, worst {worst_m:.3f} m"
    assert np.isinf(short[exact > 100.001]).all(), "pairs beyond 100 km are out of reach"
