"""Geodesic distances on the WGS-84 ellipsoid (pyproj), for arrays of points."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
# The shortest a degree of latitude ever is (at the equator), and a degree of longitude at the equator.
KM_PER_DEGREE_LAT = 110.57
KM_PER_DEGREE_LON = 111.33


def distance_km(lon1, lat1, lon2, lat2, *, within_km: float | None = None) -> np.ndarray:
    """Geodesic distances in km between [lon, lat] points; broadcasts like numpy (a column of jobs
    against a row of providers gives the whole matrix).

    With `within_km`, pairs that are plainly farther apart than that (by their difference in degrees)
    are given `inf` without computing the geodesic: a dispatch matrix is mostly such pairs, and the
    ellipsoidal inverse problem is far dearer than this bound.
    """
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    shape = lon1.shape
    lon1, lat1, lon2, lat2 = (v.ravel() for v in (lon1, lat1, lon2, lat2))
    result = np.full(lon1.size, np.inf)
    if within_km is None:
        near = np.ones(lon1.size, dtype=bool)
    else:
        dlon = np.abs((lon2 - lon1 + 180.0) % 360.0 - 180.0)
        # The path may bend poleward of both ends, where a degree of longitude is shorter.
        highest = np.minimum(np.maximum(np.abs(lat1), np.abs(lat2)) + within_km / KM_PER_DEGREE_LAT, 90.0)
        near = (np.abs(lat2 - lat1) * KM_PER_DEGREE_LAT <= within_km) & \
               (dlon * KM_PER_DEGREE_LON * np.cos(np.radians(highest)) <= within_km)
    if near.any():
        _, _, metres = GEOD.inv(lon1[near], lat1[near], lon2[near], lat2[near])
        result[near] = np.asarray(metres) / 1000.0
    return result.reshape(shape)
