"""Normalized alert areas -> one WGS-84 shapely geometry (CAP coordinates are lat,lon; ours lon,lat).

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

from geo.limits import MAX_CIRCLE_RADIUS_KM

GEOD = Geod(ellps="WGS84")
EMPTY = shapely.GeometryCollection()
DEFAULT_POINT_SNAP_M = 50.0
# Vertices of a geodesic circle are exact; the straight lon/lat edges between them stray from the true
# circle by at most this much (checked along every edge and refined where needed, which matters near
# the poles), far below the 10 m the matching needs.
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
    if not np.array_equal(coords[0], coords[-1]):
        coords = np.vstack([coords, coords[:1]])
        notes.append("unclosed polygon ring closed")
    lons = unwrap_longitudes(coords[:, 0])
    lats = coords[:, 1]
    turns = round((lons[-1] - lons[0]) / 360.0)
    if abs(turns) > 1:
        return EMPTY, [f"polygon winding {abs(turns)} times around the globe ignored"]
    if turns:
        # The ring goes once around the globe, so it encloses a pole: the one on its side of the equator.
        polygon = Polygon(_closed_over_pole(lons, lats, 90.0 if lats.mean() >= 0 else -90.0))
    else:
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


def _closed_over_pole(ring_lon: np.ndarray, ring_lat: np.ndarray, pole: float) -> np.ndarray:
    """A ring whose unwrapped longitudes go once around the globe, closed along two meridians and the pole."""
    end = ring_lon[-1]
    return np.column_stack([np.append(ring_lon, [end, ring_lon[0], ring_lon[0]]),
                            np.append(ring_lat, [pole, pole, ring_lat[0]])])


EDGE_CHECK_FRACTIONS = np.array([0.25, 0.5, 0.75])
MAX_REFINEMENTS = 60


def _circle_ring(lon: float, lat: float, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Ring vertices (lon, lat, not unwrapped) whose straight lon/lat edges keep within the chord error.

    The first guess spaces the vertices for a flat circle. A straight lon/lat edge bends away from the
    ground circle (most near a pole), so every edge is checked at a few points and split (by azimuth)
    until it fits; only the new edges are checked again.
    """
    # Spaced for half the error on flat ground, most edges fit at the first check.
    azimuths = np.linspace(0.0, 360.0, circle_vertex_count(radius_m, CIRCLE_MAX_CHORD_ERROR_M / 2), endpoint=False)
    ring_lon, ring_lat, _ = GEOD.fwd(np.full(len(azimuths), lon), np.full(len(azimuths), lat), azimuths,
                                     np.full(len(azimuths), radius_m))
    unchecked = np.ones(len(azimuths), dtype=bool)  # edge i runs from vertex i to vertex i + 1
    for _ in range(MAX_REFINEMENTS):
        edges = np.flatnonzero(unchecked)
        following = (edges + 1) % len(azimuths)
        step_lon = (ring_lon[following] - ring_lon[edges] + 180.0) % 360.0 - 180.0
        f = EDGE_CHECK_FRACTIONS[:, None]
        sample_lon = (ring_lon[edges] + f * step_lon).ravel()
        sample_lat = (ring_lat[edges] + f * (ring_lat[following] - ring_lat[edges])).ravel()
        _, _, distance = GEOD.inv(np.full(sample_lon.size, lon), np.full(sample_lon.size, lat), sample_lon, sample_lat)
        error = np.abs(np.asarray(distance).reshape(len(f), len(edges)) - radius_m).max(axis=0)
        split = edges[error > CIRCLE_MAX_CHORD_ERROR_M]
        if not len(split):
            break
        next_azimuth = np.append(azimuths[1:], 360.0)
        new_azimuths = (azimuths[split] + next_azimuth[split]) / 2.0
        new_lon, new_lat, _ = GEOD.fwd(np.full(len(split), lon), np.full(len(split), lat), new_azimuths,
                                       np.full(len(split), radius_m))
        azimuths = np.concatenate([azimuths, new_azimuths])
        ring_lon = np.concatenate([ring_lon, new_lon])
        ring_lat = np.concatenate([ring_lat, new_lat])
        order = np.argsort(azimuths, kind="stable")
        # The split edges and the new halves after them are the only ones not known to fit.
        unchecked = np.concatenate([np.zeros(len(order) - len(split), dtype=bool), np.ones(len(split), dtype=bool)])
        unchecked[split] = True
        azimuths, ring_lon, ring_lat, unchecked = azimuths[order], ring_lon[order], ring_lat[order], unchecked[order]
    return np.asarray(ring_lon), np.asarray(ring_lat)


def geodesic_circle(lon: float, lat: float, radius_km: float,
                    point_snap_m: float = DEFAULT_POINT_SNAP_M) -> BaseGeometry:
    """Everything within radius_km of (lon, lat) on the WGS-84 ellipsoid, as a lon/lat polygon.

    Radius 0 is how producers publish a point; it matches within point_snap_m. A circle across the
    antimeridian comes back cut into pieces on either side of it; one around a pole is closed over it.
    ValueError for a centre or radius out of range (radius above MAX_CIRCLE_RADIUS_KM included).
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lat) <= 90.0 and abs(lon) <= 180.0):
        raise ValueError(f"circle centre {lon},{lat} is not a longitude,latitude")
    if not (math.isfinite(radius_km) and 0.0 <= radius_km <= MAX_CIRCLE_RADIUS_KM):
        raise ValueError(f"circle radius {radius_km} km is outside [0, {MAX_CIRCLE_RADIUS_KM:g}] km")
    radius_m = radius_km * 1000.0 if radius_km > 0 else point_snap_m
    if radius_m <= 0:
        return Point(lon, lat)
    ring_lon, ring_lat = _circle_ring(lon, lat, radius_m)
    ring_lon = unwrap_longitudes(ring_lon)
    closing_step = (ring_lon[0] - ring_lon[-1] + 180.0) % 360.0 - 180.0
    end = ring_lon[-1] + closing_step
    if abs(end - ring_lon[0]) > 180.0:
        # The circle encloses a pole: its ring winds once around the globe. Close it over the pole.
        ring = _closed_over_pole(np.append(ring_lon, end), np.append(ring_lat, ring_lat[0]),
                                 90.0 if lat > 0 else -90.0)
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


def _union(shapes: list[BaseGeometry], notes: list[str]) -> BaseGeometry:
    """The union of the shapes; one that GEOS cannot overlay is repaired first, or left out with a note."""
    if not shapes:
        return EMPTY
    try:
        return shapely.union_all(shapes)
    except shapely.errors.GEOSException:
        pass
    kept = []
    for shape in shapes:
        try:
            repaired = shape if shape.is_valid else shapely.make_valid(shape)
            shapely.union_all([*kept, repaired])
            kept.append(repaired)
        except shapely.errors.GEOSException as exc:
            notes.append(f"shape that cannot be combined with the others ignored: {exc}")
    return shapely.union_all(kept) if kept else EMPTY


def area_geometry(area: dict, gazetteer: GeocodeResolver | None = None,
                  point_snap_m: float = DEFAULT_POINT_SNAP_M) -> AreaGeometry:
    """One normalized area {"polygons", "circles", "geocodes"} -> its geometry and what went wrong."""
    result = AreaGeometry()
    shapes: list[BaseGeometry] = []
    for ring in area.get("polygons") or []:
        try:
            shape, notes = polygon_geometry(ring)
        except (TypeError, ValueError, shapely.errors.GEOSException) as exc:
            shape, notes = EMPTY, [f"unreadable polygon ignored: {exc}"]
        result.notes.extend(notes)
        if not shape.is_empty:
            shapes.append(shape)
    for circle in area.get("circles") or []:
        try:
            lon, lat = (float(v) for v in circle["center"])
            radius_km = float(circle.get("radius_km") or 0.0)
        except (KeyError, TypeError, ValueError, AttributeError):
            result.notes.append(f"unreadable circle {circle!r} ignored")
            continue
        try:
            shapes.append(geodesic_circle(lon, lat, radius_km, point_snap_m))
        except (ValueError, shapely.errors.GEOSException) as exc:
            result.notes.append(f"circle out of range ignored: centre {lon},{lat} radius {radius_km} km ({exc})")
    if not shapes and area.get("geocodes"):
        if gazetteer is None:
            result.unknown_geocodes.extend(f"{g.get('name')}:{g.get('value')}" for g in area["geocodes"])
        else:
            for geocode in area["geocodes"]:
                found, unknown = gazetteer.resolve(str(geocode.get("name") or ""), str(geocode.get("value") or ""))
                shapes.extend(found)
                result.unknown_geocodes.extend(unknown)
    result.geometry = _union(shapes, result.notes)
    return result


def combine(results: Iterable[AreaGeometry]) -> AreaGeometry:
    combined = AreaGeometry()
    shapes = []
    for result in results:
        if not result.is_empty:
            shapes.append(result.geometry)
        combined.unknown_geocodes.extend(c for c in result.unknown_geocodes if c not in combined.unknown_geocodes)
        combined.notes.extend(n for n in result.notes if n not in combined.notes)
    combined.geometry = _union(shapes, combined.notes)
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
