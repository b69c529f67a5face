"""Geodesic distances on the WGS-84 ellipsoid (pyproj), for arrays of points."""

from __future__ import annotations

import numpy as np
from pyproj import Geod, Transformer

GEOD = Geod(ellps="WGS84")
TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)  # WGS-84 lon/lat/h -> x, y, z (m)
MEAN_RADIUS_KM = 6371.0088
# The shortest a degree of latitude ever is (at the equator), and a degree of longitude at the equator
# (2 pi a / 360 with a = 6378.137 km): on the ellipsoid a degree of longitude at latitude phi is at least
# KM_PER_DEGREE_LON * cos(phi).
KM_PER_DEGREE_LAT = 110.57
KM_PER_DEGREE_LON = 111.319


def distance_km(lon1, lat1, lon2, lat2, *, within_km: float | None = None) -> np.ndarray:
    """Geodesic distances in km between [lon, lat] points; broadcasts like numpy (a column of jobs
    against a row of providers gives the whole matrix).

    With `within_km`, pairs that are plainly farther apart than that are given `inf` without computing
    the geodesic: a dispatch matrix is mostly such pairs, and the ellipsoidal inverse problem is far
    dearer than this bound (short_distances_km is cheaper still, for pairs that are all short).
    """
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    shape = lon1.shape
    lon1, lat1, lon2, lat2 = (v.ravel() for v in (lon1, lat1, lon2, lat2))
    result = np.full(lon1.size, np.inf)
    near = np.ones(lon1.size, dtype=bool)
    if within_km is not None:
        # A lower bound of the geodesic: the straight line in degrees scaled by the shortest a degree can
        # be anywhere on the way (the path may bend poleward of both ends, where longitude shrinks).
        highest = np.minimum(np.maximum(np.abs(lat1), np.abs(lat2)) + within_km / KM_PER_DEGREE_LAT, 90.0)
        dx = np.abs((lon2 - lon1 + 180.0) % 360.0 - 180.0) * KM_PER_DEGREE_LON * np.cos(np.radians(highest))
        dy = (lat2 - lat1) * KM_PER_DEGREE_LAT
        near &= dx * dx + dy * dy <= within_km * within_km
    if near.any():
        _, _, metres = GEOD.inv(lon1[near], lat1[near], lon2[near], lat2[near])
        result[near] = np.asarray(metres) / 1000.0
    return result.reshape(shape)


def _ecef_km(lon, lat) -> np.ndarray:
    x, y, z = TO_ECEF.transform(np.ravel(lon), np.ravel(lat), np.zeros(np.size(lon)))
    return np.stack([x, y, z], axis=-1).reshape(*np.shape(lon), 3) / 1000.0


def short_distances_km(lon1, lat1, lon2, lat2, *, within_km: float) -> np.ndarray:
    """distance_km for pairs up to a few hundred km, at the cost of a few array operations per pair:
    the straight line between the points' WGS-84 positions (pyproj), lengthened by the sagitta of the
    arc it cuts (c + c^3 / 24R^2). Up to 100 km that is the geodesic to within a metre; pairs farther
    than `within_km` are `inf`. Broadcasts like distance_km.
    """
    start, end = _ecef_km(*np.broadcast_arrays(lon1, lat1)), _ecef_km(*np.broadcast_arrays(lon2, lat2))
    chord = np.sqrt(((start - end) ** 2).sum(axis=-1))
    arc = chord + chord ** 3 / (24.0 * MEAN_RADIUS_KM ** 2)
    return np.where(arc <= within_km, arc, np.inf)
