"""Normalized alert areas -> one WGS-84 shapely geometry (see DESIGN.md, Domain rules: CAP coordinates).

An area is the union of its polygons and circles. Geocodes describe the area only when it has no
polygon or circle (CAP producers such as the NWS send both, and then the polygon is the warning);
they are resolved through a Gazetteer. Anything that cannot be turned into geometry is reported in
`AreaGeometry.notes` / `.unknown_geocodes`, never raised: one bad area must not hide the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

GEOD = Geod(ellps="WGS84")
EMPTY = shapely.GeometryCollection()
DEFAULT_POINT_SNAP_M = 50.0
# Vertices of a geodesic circle are exact; the straight edges between them cut inside the circle by at
# most this much (the sagitta), far below the 10 m the matching needs.
CIRCLE_MAX_CHORD_ERROR_M = 1.0
WORLD = box(-180.0, -90.0, 180.0, 90.0)


@dataclass
class AreaGeometry:
    geometry: BaseGeometry = EMPTY
    unknown_geocodes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.geometry.is_empty

    def flags(self) -> list[str]:
        """What to record on the alert: one string per unknown geocode or note."""
        return [f"unknown geocode {code}" for code in self.unknown_geocodes] + list(self.notes)


# --- polygons ------------------------------------------------------------------------------------

def unwrap_longitudes(lons: np.ndarray) -> np.ndarray:
    """Make a ring continuous across the antimeridian: 179, -179 becomes 179, 181."""
    steps = np.diff(lons)
    shifts = np.concatenate([[0.0], np.cumsum(-360.0 * np.round(steps / 360.0))])
    return lons + shifts


def wrap_to_world(geometry: BaseGeometry) -> BaseGeometry:
    """Cut a geometry drawn on unwrapped longitudes (e.g. 170..190) into pieces within -180..180."""
    minx, _, maxx, _ = geometry.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geometry
    pieces = []
    for offset in range(int(math.floor((minx + 180.0) / 360.0)), int(math.floor((maxx + 180.0) / 360.0)) + 1):
        shift = offset * 360.0
        piece = shapely.intersection(geometry, shapely.affinity.translate(WORLD, xoff=shift))
        if not piece.is_empty:
            pieces.append(shapely.affinity.translate(piece, xoff=-shift))
    return shapely.union_all(pieces)


def _polygonal_part(geometry: BaseGeometry) -> BaseGeometry:
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else EMPTY


def polygon_geometry(ring: Sequence[Sequence[float]]) -> tuple[BaseGeometry, list[str]]:
    """One CAP polygon ([lon, lat] pairs, already swapped by the parser) -> valid geometry, notes."""
    notes: list[str] = []
    coords = np.asarray(ring, dtype=float).reshape(-1, 2)
    coords = coords[np.isfinite(coords).all(axis=1)]
    if len(coords) < 3:
        return EMPTY, [f"polygon with {len(coords)} usable points ignored"]
    if np.abs(coords[:, 1]).max() > 90.0 or np.abs(coords[:, 0]).max() > 360.0:
        return EMPTY, ["polygon with coordinates out of range ignored"]
    lons = unwrap_longitudes(coords[:, 0])
    lats = coords[:, 1]
    if lons[0] != lons[-1] or lats[0] != lats[-1]:
        lons, lats = np.append(lons, lons[0]), np.append(lats, lats[0])
        notes.append("unclosed polygon ring closed")
    polygon = Polygon(np.column_stack([lons, lats]))
    if not polygon.is_valid:
        repaired = _polygonal_part(shapely.make_valid(polygon))
        if repaired.is_empty:
            # A collinear sliver has no inside, but assets on it are still on the boundary.
            notes.append("degenerate polygon (no area): kept as its outline")
            return wrap_to_world(polygon.exterior), notes
        notes.append("self-intersecting polygon repaired")
        polygon = repaired
    return wrap_to_world(polygon), notes


# --- circles -------------------------------------------------------------------------------------

def circle_vertex_count(radius_m: float, max_error_m: float = CIRCLE_MAX_CHORD_ERROR_M) -> int:
    if radius_m <= max_error_m:
        return 16
    return max(32, math.ceil(math.pi / math.acos(1.0 - max_error_m / radius_m)))


def geodesic_circle(lon: float, lat: float, radius_km: float,
                    point_snap_m: float = DEFAULT_POINT_SNAP_M) -> BaseGeometry:
    """Everything within radius_km of (lon, lat) on the WGS-84 ellipsoid, as a lon/lat polygon.

    Radius 0 is how producers publish a point; it matches within point_snap_m.
    """
    radius_m = radius_km * 1000.0 if radius_km > 0 else point_snap_m
    if radius_m <= 0:
        return Point(lon, lat)
    n = circle_vertex_count(radius_m)
    azimuths = np.linspace(0.0, 360.0, n, endpoint=False)
    ring_lon, ring_lat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), azimuths, np.full(n, radius_m))
    ring_lon = unwrap_longitudes(np.asarray(ring_lon))
    ring_lat = np.asarray(ring_lat)
    closing_step = (ring_lon[0] - ring_lon[-1] + 180.0) % 360.0 - 180.0
    end = ring_lon[-1] + closing_step
    if abs(end - ring_lon[0]) > 180.0:
        # The circle encloses a pole: its ring winds once around the globe. Close it over the pole.
        pole = 90.0 if lat > 0 else -90.0
        ring = np.column_stack([np.append(ring_lon, [end, end, ring_lon[0]]),
                                np.append(ring_lat, [ring_lat[0], pole, pole])])
        return wrap_to_world(shapely.make_valid(Polygon(ring)))
    return wrap_to_world(Polygon(np.column_stack([ring_lon, ring_lat])))


# --- margin --------------------------------------------------------------------------------------

def geodesic_buffer(geometry: BaseGeometry, margin_km: float) -> BaseGeometry:
    """Grow a lon/lat geometry by margin_km measured on the ground.

    Buffers in an azimuthal equidistant projection centred on the geometry, where distances from the
    centre are true; each part is projected around its own centre so large areas stay accurate.
    """
    if margin_km <= 0 or geometry.is_empty:
        return geometry
    grown = []
    for part in shapely.get_parts(geometry):
        centre = part.centroid
        local = CRS.from_proj4(f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m")
        to_local = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        to_wgs84 = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
        buffered = shapely.transform(part, lambda xy, t=to_local: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        buffered = shapely.buffer(buffered, margin_km * 1000.0, quad_segs=32)
        buffered = shapely.transform(buffered,
                                     lambda xy, t=to_wgs84: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        grown.append(wrap_to_world(shapely.make_valid(buffered)))
    return shapely.union_all(grown)


# --- whole areas ---------------------------------------------------------------------------------

class GeocodeResolver:
    """What areas need from a gazetteer: (scheme name as published, value) -> geometries, unknown codes."""

    def resolve(self, value_name: str, value: str) -> tuple[list[BaseGeometry], list[str]]:
        raise NotImplementedError


def area_geometry(area: dict, gazetteer: GeocodeResolver | None = None,
                  point_snap_m: float = DEFAULT_POINT_SNAP_M) -> AreaGeometry:
    """One normalized area {"polygons", "circles", "geocodes"} -> its geometry and what went wrong."""
    result = AreaGeometry()
    shapes: list[BaseGeometry] = []
    for ring in area.get("polygons") or []:
        shape, notes = polygon_geometry(ring)
        result.notes.extend(notes)
        if not shape.is_empty:
            shapes.append(shape)
    for circle in area.get("circles") or []:
        try:
            lon, lat = (float(v) for v in circle["center"])
            radius_km = float(circle.get("radius_km") or 0.0)
        except (KeyError, TypeError, ValueError):
            result.notes.append(f"unreadable circle {circle!r} ignored")
            continue
        if not (abs(lat) <= 90 and abs(lon) <= 180 and math.isfinite(radius_km) and radius_km >= 0):
            result.notes.append(f"circle out of range ignored: centre {lon},{lat} radius {radius_km} km")
            continue
        shapes.append(geodesic_circle(lon, lat, radius_km, point_snap_m))
    if not shapes and area.get("geocodes"):
        if gazetteer is None:
            result.unknown_geocodes.extend(f"{g.get('name')}:{g.get('value')}" for g in area["geocodes"])
        else:
            for geocode in area["geocodes"]:
                found, unknown = gazetteer.resolve(str(geocode.get("name") or ""), str(geocode.get("value") or ""))
                shapes.extend(found)
                result.unknown_geocodes.extend(unknown)
    result.geometry = shapely.union_all(shapes) if shapes else EMPTY
    return result


def combine(results: Iterable[AreaGeometry]) -> AreaGeometry:
    combined = AreaGeometry()
    shapes = []
    for result in results:
        if not result.is_empty:
            shapes.append(result.geometry)
        combined.unknown_geocodes.extend(c for c in result.unknown_geocodes if c not in combined.unknown_geocodes)
        combined.notes.extend(n for n in result.notes if n not in combined.notes)
    combined.geometry = shapely.union_all(shapes) if shapes else EMPTY
    return combined


def alert_geometry(normalized: dict, gazetteer: GeocodeResolver | None = None, margin_km: float = 0.0,
                   point_snap_m: float = DEFAULT_POINT_SNAP_M) -> AreaGeometry:
    """The whole area a normalized alert warns: the union over its infos and their areas, plus margin."""
    result = combine(area_geometry(area, gazetteer, point_snap_m)
                     for info in normalized.get("infos") or []
                     for area in info.get("areas") or [])
    if margin_km > 0 and not result.is_empty:
        result.geometry = geodesic_buffer(result.geometry, margin_km)
    return result
