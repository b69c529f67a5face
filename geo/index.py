"""AssetIndex: millions of insured points, query(geometry) -> asset ids (public: other code relies on it).

The contract is exactness: query() returns the ids whose point `shapely.intersects` the geometry,
so a point on the boundary counts as inside. Speed comes from not testing most points at all:

* Build: points are sorted into a regular grid of square cells (about POINTS_PER_CELL points per
  cell on average) and stored cell by cell, so every cell's points are one contiguous slice.
* Query: the cells that the geometry's boundary passes through (found by sampling the boundary at a
  quarter of the cell size) are the only ones whose points are tested exactly, with
  shapely.intersects_xy on the prepared geometry. Every other cell lies wholly inside or wholly
  outside; a scanline over the cell-row centre lines (even-odd rule on the polygon rings) says
  which, and the inside ones contribute all their points as one slice each, untested.
Lines and points in a geometry have no inside, so all their cells are tested exactly.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

POINTS_PER_CELL = 4
MIN_CELL_DEG = 1e-5  # about a metre
MAX_CELLS = 8_000_000
# The boundary is sampled every cell/4 and each sample marks the cells within cell/4 of it, so every
# boundary point lies in a marked cell (margin for rounding included).
SAMPLE_FRACTION = 0.25


def _ranges_to_indices(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenate the integer ranges [starts[i], ends[i]) into one index array."""
    lengths = ends - starts
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)


def _single_parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    """Polygons, lines and points, with every multi-part geometry and collection opened up."""
    parts = shapely.get_parts(geometry)
    while any(shapely.get_num_geometries(parts) > 1) or any(
            p.geom_type.startswith("Multi") or p.geom_type == "GeometryCollection" for p in parts):
        parts = shapely.get_parts(parts)
    return [p for p in parts if not p.is_empty]


def _samples_along(lines, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along every segment of the lines (and their vertices), at most `step` apart per axis.

    Done here rather than with shapely.segmentize, which would round new vertices to a geometry's
    own precision grid (set_precision) and leave gaps.
    """
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    coords, part_of = shapely.get_coordinates(parts, return_index=True)
    if len(coords) < 2:
        return coords[:, 0], coords[:, 1]
    same_part = part_of[1:] == part_of[:-1]
    start, end = coords[:-1][same_part], coords[1:][same_part]
    pieces = np.maximum(np.ceil(np.abs(end - start).max(axis=1) / step), 1).astype(np.int64)
    segment = np.repeat(np.arange(len(start)), pieces)
    fraction = (np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / pieces[segment]
    along = start[segment] + fraction[:, None] * (end[segment] - start[segment])
    samples = np.concatenate([coords, along])
    return samples[:, 0], samples[:, 1]


class AssetIndex:
    """Points (lon, lat in WGS-84) with ids; query(geometry) -> ids of the points intersecting it."""

    def __init__(self, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray, origin: tuple[float, float],
                 cell: float, shape: tuple[int, int], cell_start: np.ndarray):
        self.ids, self.lon, self.lat = ids, lon, lat  # sorted by cell
        self.x0, self.y0 = origin
        self.cell = cell
        self.ny, self.nx = shape
        self.cell_start = cell_start  # points of cell k are [cell_start[k], cell_start[k + 1])

    @classmethod
    def from_arrays(cls, ids, lon, lat, points_per_cell: int = POINTS_PER_CELL) -> AssetIndex:
        ids = np.asarray(ids)
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if not (ids.ndim == lon.ndim == lat.ndim == 1 and len(ids) == len(lon) == len(lat)):
            raise ValueError(f"ids, lon and lat must be 1-d and equally long: {ids.shape}, {lon.shape}, {lat.shape}")
        bad = ~(np.isfinite(lon) & np.isfinite(lat))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} points have non-finite coordinates (first at position "
                             f"{int(np.argmax(bad))})")
        n = len(ids)
        if n == 0:
            return cls(ids, lon, lat, (0.0, 0.0), 1.0, (1, 1), np.zeros(2, dtype=np.int64))
        x0, y0 = float(lon.min()), float(lat.min())
        width, height = max(float(lon.max()) - x0, 1e-9), max(float(lat.max()) - y0, 1e-9)
        cell = math.sqrt(width * height / max(n / points_per_cell, 1.0))
        cell = max(cell, width / 50_000, height / 50_000, MIN_CELL_DEG)
        while (math.floor(width / cell) + 1) * (math.floor(height / cell) + 1) > MAX_CELLS:
            cell *= 1.25
        nx, ny = math.floor(width / cell) + 1, math.floor(height / cell) + 1
        key_type = np.int32 if nx * ny < 2**31 else np.int64
        cx = np.minimum(((lon - x0) / cell).astype(key_type), nx - 1)
        cy = np.minimum(((lat - y0) / cell).astype(key_type), ny - 1)
        key = cy * key_type(nx) + cx
        del cx, cy
        order = np.argsort(key)  # the order of points within a cell does not matter
        cell_start = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=nx * ny), out=cell_start[1:])
        del key
        return cls(ids[order], lon[order], lat[order], (x0, y0), cell, (ny, nx), cell_start)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.lon.nbytes + self.lat.nbytes + self.cell_start.nbytes

    # --- query -----------------------------------------------------------------------------------

    def query(self, geometry: BaseGeometry) -> np.ndarray:
        """Ids of the points that intersect geometry (boundary included), in no particular order."""
        if geometry is None or geometry.is_empty or len(self) == 0:
            return self.ids[:0]
        minx, miny, maxx, maxy = geometry.bounds
        c0, c1 = self._columns(np.array([minx, maxx]))
        r0, r1 = self._rows(np.array([miny, maxy]))
        if (maxx < self.x0 or maxy < self.y0 or minx > self.x0 + self.nx * self.cell
                or miny > self.y0 + self.ny * self.cell):
            return self.ids[:0]
        block = (r0, r1, c0, c1)
        shape = (r1 - r0 + 1, c1 - c0 + 1)
        parts = _single_parts(geometry)
        polygons = [p for p in parts if p.geom_type == "Polygon"]
        others = [p for p in parts if p.geom_type != "Polygon"]
        exact = np.zeros(shape, dtype=bool)
        inside = np.zeros(shape, dtype=bool)
        # The even-odd fill needs rings that neither cross nor overlap: a valid (multi)polygon.
        if polygons and (polygons[0].is_valid if len(polygons) == 1 else shapely.MultiPolygon(polygons).is_valid):
            self._mark_boundary(exact, block, shapely.get_rings(polygons))
            self._fill_inside(inside, exact, block, polygons)
        elif polygons:
            exact[:] = True  # an invalid polygon has no reliable inside: test every point of its box
        for other in others:
            self._mark_boundary(exact, block, [other])
        inside &= ~exact
        shapely.prepare(geometry)
        found = [self.ids[self._points_in(inside, block)]]
        candidates = self._points_in(exact, block)
        if len(candidates):
            hit = shapely.intersects_xy(geometry, self.lon[candidates], self.lat[candidates])
            found.append(self.ids[candidates[hit]])
        return np.concatenate(found)

    def _columns(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((x - self.x0) / self.cell), 0, self.nx - 1).astype(np.int64)

    def _rows(self, y: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((y - self.y0) / self.cell), 0, self.ny - 1).astype(np.int64)

    def _mark_boundary(self, exact: np.ndarray, block, lines) -> None:
        """Mark every cell that a boundary (or line, or point) passes through."""
        r0, r1, c0, c1 = block
        step = self.cell * SAMPLE_FRACTION
        # Only the part of the boundary over the grid matters (and sampling more would be wasted work).
        lines = shapely.clip_by_rect(np.asarray(lines, dtype=object), self.x0 - 2 * self.cell, self.y0 - 2 * self.cell,
                                     self.x0 + (self.nx + 2) * self.cell, self.y0 + (self.ny + 2) * self.cell)
        x, y = _samples_along(lines, step)
        near = ((x >= self.x0 + (c0 - 1) * self.cell) & (x <= self.x0 + (c1 + 2) * self.cell)
                & (y >= self.y0 + (r0 - 1) * self.cell) & (y <= self.y0 + (r1 + 2) * self.cell))
        x, y = x[near], y[near]
        for dx in (-step, step):
            for dy in (-step, step):
                rows = self._rows(y + dy)
                cols = self._columns(x + dx)
                ok = (rows >= r0) & (rows <= r1) & (cols >= c0) & (cols <= c1)
                exact[rows[ok] - r0, cols[ok] - c0] = True

    def _fill_inside(self, inside: np.ndarray, exact: np.ndarray, block, polygons) -> None:
        """Even-odd scanline along each cell row's centre line: mark the cells strictly inside."""
        r0, r1, c0, c1 = block
        rings = shapely.get_rings(polygons)
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        same_ring = ring_of[1:] == ring_of[:-1]
        ax, ay = coords[:-1, 0][same_ring], coords[:-1, 1][same_ring]
        bx, by = coords[1:, 0][same_ring], coords[1:, 1][same_ring]
        low, high = np.minimum(ay, by), np.maximum(ay, by)
        first = np.maximum(np.floor((low - self.y0) / self.cell - 0.5).astype(np.int64) - 1, r0)
        last = np.minimum(np.floor((high - self.y0) / self.cell - 0.5).astype(np.int64) + 1, r1)
        spans = np.maximum(last - first + 1, 0)
        edge = np.repeat(np.arange(len(ax)), spans)
        row = np.repeat(first - (np.cumsum(spans) - spans), spans) + np.arange(int(spans.sum()))
        centre = self.y0 + (row + 0.5) * self.cell
        # Half-open rule: an edge counts where low <= y < high, so a vertex on the line counts once.
        crossing = (low[edge] <= centre) & (centre < high[edge])
        edge, row, centre = edge[crossing], row[crossing], centre[crossing]
        if len(edge) == 0:
            return
        x = ax[edge] + (centre - ay[edge]) * (bx[edge] - ax[edge]) / (by[edge] - ay[edge])
        order = np.lexsort((x, row))
        row, x = row[order], x[order]
        enter, leave = x[0::2], x[1::2]
        row = row[0::2]
        left = np.floor((enter - self.x0) / self.cell).astype(np.int64)
        right = np.floor((leave - self.x0) / self.cell).astype(np.int64)
        # The cell truly holding a crossing is a boundary cell already; the computed one may differ from it
        # by rounding, so it is tested exactly too. Cells strictly between are inside (or boundary cells).
        for column in (left, right):
            ok = (column >= c0) & (column <= c1)
            exact[row[ok] - r0, column[ok] - c0] = True
        start, stop = np.maximum(left + 1, c0), np.minimum(right - 1, c1)
        ok = start <= stop
        coverage = np.zeros((inside.shape[0], inside.shape[1] + 1), dtype=np.int32)
        np.add.at(coverage, (row[ok] - r0, start[ok] - c0), 1)
        np.add.at(coverage, (row[ok] - r0, stop[ok] - c0 + 1), -1)
        inside |= np.cumsum(coverage, axis=1)[:, :-1] > 0

    def _points_in(self, mask: np.ndarray, block) -> np.ndarray:
        """Positions of all points in the marked cells (runs of cells in a row are one slice)."""
        r0, _, c0, _ = block
        padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
        padded[:, 1:-1] = mask
        steps = np.diff(padded, axis=1)
        run_rows, run_starts = np.nonzero(steps == 1)
        _, run_ends = np.nonzero(steps == -1)  # same row-major order as the starts
        first_cell = (run_rows + r0) * self.nx + (run_starts + c0)
        last_cell = (run_rows + r0) * self.nx + (run_ends - 1 + c0)
        return _ranges_to_indices(self.cell_start[first_cell], self.cell_start[last_cell + 1])
