"""Typhoon wind swath: the area a storm's gale-force winds cover along its track and forecast.

Each fix carries wind radii by quadrant (NE, SE, SW, NW, in km). Its footprint is four geodesic
quarter-discs; consecutive footprints are joined by their convex hull (the storm sweeps the ground
in between), and the swath is the union of all of them. Coordinates are WGS-84 `[lon, lat]`.
Pure geometry: imports nothing from Haven (DESIGN.md, Architecture: geo/ calls no module of ours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

GEOD = Geod(ellps="WGS84")
QUADRANTS = (("ne", 0.0), ("se", 90.0), ("sw", 180.0), ("nw", 270.0))  # quadrant, starting azimuth


@dataclass(frozen=True)
class Fix:
    lon: float
    lat: float
    radii_km: dict[str, float]  # ne, se, sw, nw; a missing or zero quadrant adds nothing


def footprint(fix: Fix, step_deg: float = 10.0) -> Polygon:
    """The four geodesic quarter-discs around one fix, as one star-shaped (so simple) polygon."""
    lons: list[float] = []
    lats: list[float] = []
    for quadrant, start in QUADRANTS:
        radius_m = max(float(fix.radii_km.get(quadrant) or 0.0), 0.0) * 1000.0
        if radius_m == 0.0:
            lons.append(fix.lon)
            lats.append(fix.lat)
            continue
        azimuths = np.arange(start, start + 90.0 + 1e-9, step_deg)
        end_lons, end_lats, _ = GEOD.fwd(np.full(azimuths.size, fix.lon), np.full(azimuths.size, fix.lat),
                                         azimuths, np.full(azimuths.size, radius_m))
        lons.extend(end_lons.tolist())
        lats.extend(end_lats.tolist())
    if len(set(zip(lons, lats, strict=True))) < 3:
        return Polygon()
    polygon = Polygon(zip(lons, lats, strict=True))
    return polygon if polygon.is_valid else polygon.buffer(0)


def wind_swath(fixes: Sequence[Fix], step_deg: float = 10.0) -> Polygon | MultiPolygon:
    """Union of the hulls of consecutive footprints (each hull holds both footprints and the ground between)."""
    shapes = [shape for shape in (footprint(fix, step_deg) for fix in fixes) if not shape.is_empty]
    if len(shapes) == 1:
        return shapes[0]
    pieces = [shapely.MultiPolygon([first, second]).convex_hull for first, second in zip(shapes, shapes[1:], strict=False)
              if isinstance(first, Polygon) and isinstance(second, Polygon)]
    pieces += [shape for shape in shapes if not isinstance(shape, Polygon)]
    if not pieces:
        return Polygon()
    return shapely.union_all(pieces).buffer(0)


def polygons_lon_lat(geometry: Polygon | MultiPolygon, tolerance_deg: float = 0.01) -> list[list[list[float]]]:
    """Exterior rings as closed [[lon, lat], ...] lists (holes dropped: a swath has none worth keeping)."""
    simplified = geometry.simplify(tolerance_deg, preserve_topology=True) if tolerance_deg else geometry
    parts = simplified.geoms if isinstance(simplified, MultiPolygon) else [simplified]
    return [[[round(x, 5), round(y, 5)] for x, y in part.exterior.coords] for part in parts if not part.is_empty]
