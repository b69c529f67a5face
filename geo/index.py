"""AssetIndex: millions of insured points, query(geometry) -> asset ids (see DESIGN.md, Interfaces: Python).

A point on the boundary counts as inside: query() returns exactly the ids whose point
shapely.intersects the geometry.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


class AssetIndex:
    def __init__(self, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray):
        self.ids = np.asarray(ids)
        self.lon = np.ascontiguousarray(lon, dtype=np.float64)
        self.lat = np.ascontiguousarray(lat, dtype=np.float64)

    @classmethod
    def from_arrays(cls, ids, lon, lat) -> AssetIndex:
        ids, lon, lat = np.asarray(ids), np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if not (len(ids) == len(lon) == len(lat)):
            raise ValueError(f"ids, lon and lat differ in length: {len(ids)}, {len(lon)}, {len(lat)}")
        return cls(ids, lon, lat)

    def __len__(self) -> int:
        return len(self.ids)

    def query(self, geometry: BaseGeometry) -> np.ndarray:
        if geometry is None or geometry.is_empty or len(self) == 0:
            return self.ids[:0]
        shapely.prepare(geometry)
        return self.ids[shapely.intersects_xy(geometry, self.lon, self.lat)]
