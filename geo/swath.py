"""Typhoon wind swath: the area a storm's gale-force winds cover along its track and forecast.

Each fix carries wind radii by quadrant (NE, SE, SW, NW, in km). Its footprint is four geodesic
quarter-discs; consecutive footprints are joined by their convex hull (the storm sweeps the ground
in between), and the swath is the union of all of them. Coordinates are WGS-84 `[lon, lat]`.
A track across the antimeridian is drawn on continuous longitudes, then cut at 180 into pieces.
Pure geometry: imports nothing from Haven outside geo/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

from geo.areas import unwrap_longitudes, wrap_to_world

GEOD = Geod(ellps="WGS84")
QUADRANTS = (("ne", 0.0), ("se", 90.0), ("sw", 180.0), ("nw", 270.0))  # quadrant, starting azimuth


@dataclass(frozen=True)
class Fix:
    lon: float
    lat: float
    radii_km: dict[str, float]  # ne, se, sw, nw; a missing or zero quadrant adds nothing


def footprints(fixes: Sequence[Fix], step_deg: float = 10.0) -> list[Polygon]:
    """Each fix's four geodesic quarter-discs as one star-shaped (so simple) polygon; one pyproj call for all."""
    if not fixes:
        return []
    arcs = [np.arange(start, start + 90.0 + 1e-9, step_deg) for _, start in QUADRANTS]
    per_fix = sum(arc.size for arc in arcs)
    radii_m = np.array([[max(float(f.radii_km.get(q) or 0.0), 0.0) * 1000.0 for q, _ in QUADRANTS] for f in fixes])
    lon0 = np.repeat([f.lon for f in fixes], per_fix)
    lat0 = np.repeat([f.lat for f in fixes], per_fix)
    azimuths = np.tile(np.concatenate(arcs), len(fixes))
    distances = np.repeat(radii_m, [arc.size for arc in arcs], axis=1).reshape(-1)
    lons, lats, _ = GEOD.fwd(lon0, lat0, azimuths, distances)
    lons = lon0 + (lons - lon0 + 180.0) % 360.0 - 180.0  # continuous around the fix, even across 180
    lons, lats = lons.reshape(len(fixes), per_fix), lats.reshape(len(fixes), per_fix)
    shapes = []
    for i, fix in enumerate(fixes):
        points, offset = [], 0
        for q, arc in enumerate(arcs):
            if radii_m[i, q] == 0.0:
                points.append((fix.lon, fix.lat))  # a quadrant without gale winds adds nothing
            else:
                points.extend(zip(lons[i, offset:offset + arc.size], lats[i, offset:offset + arc.size], strict=True))
            offset += arc.size
        polygon = Polygon(points) if len(set(points)) >= 3 else Polygon()
        shapes.append(polygon if polygon.is_valid else polygon.buffer(0))
    return shapes


def footprint(fix: Fix, step_deg: float = 10.0) -> Polygon:
    return footprints([fix], step_deg)[0]


def wind_swath(fixes: Sequence[Fix], step_deg: float = 10.0) -> Polygon | MultiPolygon:
    """Union of the hulls of consecutive footprints (each hull holds both footprints and the ground between)."""
    if fixes:
        lons = unwrap_longitudes(np.array([fix.lon for fix in fixes], dtype=float))
        fixes = [replace(fix, lon=float(lon)) for fix, lon in zip(fixes, lons, strict=True)]
    shapes = [shape for shape in footprints(fixes, step_deg) if not shape.is_empty]
    if len(shapes) == 1:
        return wrap_to_world(shapes[0])
    pieces = [MultiPolygon([first, second]).convex_hull for first, second in zip(shapes, shapes[1:], strict=False)
              if isinstance(first, Polygon) and isinstance(second, Polygon)]
    pieces += [shape for shape in shapes if not isinstance(shape, Polygon)]
    if not pieces:
        return Polygon()
    return wrap_to_world(shapely.union_all(pieces))


def polygons_lon_lat(geometry: Polygon | MultiPolygon, tolerance_deg: float = 0.01) -> list[list[list[float]]]:
    """Exterior rings as closed [[lon, lat], ...] lists (holes dropped: a swath has none worth keeping)."""
    simplified = geometry.simplify(tolerance_deg, preserve_topology=True) if tolerance_deg else geometry
    parts = [part for part in shapely.get_parts(simplified) if isinstance(part, Polygon)]
    return [[[round(x, 5), round(y, 5)] for x, y in part.exterior.coords] for part in parts if not part.is_empty]
