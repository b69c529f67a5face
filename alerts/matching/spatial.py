"""Which insured assets does an alert reach? (docs/architecture.md: spatial matching)

`affected_assets(session, alert_or_geometry) -> numpy array of asset ids (str)` is the one question
the rest of Haven asks. It answers from a process-wide BookIndex: an AssetIndex over the assets
table, built once (from the database or a GeoParquet snapshot) and then kept current by reading only
the rows whose `updated_at` moved, so an import never forces a full rebuild.

Sharding (the production deployment, many matching workers): the book is partitioned by region.
A region is a 1 degree x 1 degree tile; `ShardPlan.shard_of` assigns each tile to one of
HAVEN_MATCH_SHARDS shards by a fixed hash, so a tile's assets always live together and every
worker agrees without coordination. A worker started with HAVEN_MATCH_SHARD=i holds only shard i's
index and listens on queue `match-shard-i`. A match fans out to the shards whose tiles the area's
bounding box touches, and the ids they return are merged (workers/match.py does the Celery part;
the shard functions here are plain).

One alert whose stored area is unreadable never stops matching: the error is logged with the alert's
id and flagged on it, and the alert matches what could be read (possibly nothing), so the rest of
its chain, a Cancel's all-clear included, still goes out.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import rules
from geo.areas import AreaGeometry, GeocodeResolver, alert_geometry
from geo.gazetteer import Gazetteer, load_gazetteer
from geo.index import AssetIndex
from store.models import Alert, Asset
from store.types import utcnow

log = logging.getLogger(__name__)

# Rows are re-read from this far before the last look began, so a writer whose transaction commits a
# little after it stamped its rows (or whose clock runs a little behind) is still picked up
# (book.dao stamps each chunk as it writes it and the importers commit chunk by chunk).
REFRESH_OVERLAP = timedelta(seconds=30)
# Changed rows live in a small side index until there are this many (or 2% of the book); then they
# are folded into the main index in memory, without reading the database again.
DELTA_FOLD_MIN = 50_000
# Nothing deletes assets today; a full re-read this often also catches rows removed by hand.
FULL_RELOAD_S = 6 * 3600.0
READ_BATCH = 200_000


# --- region shards -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShardPlan:
    count: int = 1
    tile_degrees: float = 1.0

    def tiles(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.floor(np.asarray(lon) / self.tile_degrees).astype(np.int64),
                np.floor(np.asarray(lat) / self.tile_degrees).astype(np.int64))

    def _shard_of_tiles(self, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
        mixed = (tx * 73856093) ^ (ty * 19349663)
        return np.mod(mixed, self.count).astype(np.int32)

    def shard_of(self, lon, lat) -> np.ndarray:
        """The shard holding each point (vectorised)."""
        if self.count <= 1:
            return np.zeros(np.shape(lon), dtype=np.int32)
        return self._shard_of_tiles(*self.tiles(lon, lat))

    def shards_touching(self, geometry: BaseGeometry) -> list[int]:
        """The shards that own at least one tile of the geometry's bounding box (fan-out targets)."""
        if self.count <= 1 or geometry.is_empty:
            return list(range(self.count)) if not geometry.is_empty else []
        minx, miny, maxx, maxy = geometry.bounds
        (x0, y0), (x1, y1) = (np.floor(np.array([minx, miny]) / self.tile_degrees).astype(np.int64),
                              np.floor(np.array([maxx, maxy]) / self.tile_degrees).astype(np.int64))
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 64 * self.count:
            return list(range(self.count))
        tx, ty = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        return sorted(set(self._shard_of_tiles(tx.ravel(), ty.ravel()).tolist()))


def shard_plan() -> ShardPlan:
    return ShardPlan(rules.current().matching.shards)


# --- the book index ------------------------------------------------------------------------------

def _encode_ids(ids) -> np.ndarray:
    return np.array([str(i).encode() for i in ids], dtype=bytes) if len(ids) else np.array([], dtype="S1")


@dataclass
class _Delta:
    """Assets changed since the main index was built: id -> (lon, lat), in this shard."""
    points: dict[bytes, tuple[float, float]] = field(default_factory=dict)
    index: AssetIndex | None = None

    def rebuild(self) -> None:
        if not self.points:
            self.index = None
            return
        ids = np.array(list(self.points), dtype=bytes)
        coords = np.array(list(self.points.values()), dtype=np.float64)
        self.index = AssetIndex.from_arrays(ids, coords[:, 0], coords[:, 1])


class BookIndex:
    """The assets table as an AssetIndex, optionally only one region shard of it, kept current."""

    def __init__(self, shard: int | None = None, plan: ShardPlan | None = None):
        self.shard = shard
        self.plan = plan or ShardPlan()
        self.ids = np.array([], dtype="S1")  # sorted; position i is asset ids[i] in self.main
        self.main = AssetIndex.from_arrays(np.array([], dtype=np.int64), [], [])
        self.superseded = np.zeros(0, dtype=bool)
        self.delta = _Delta()
        self.watermark: datetime | None = None
        self.loaded_at = 0.0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(len(self.ids) - self.superseded.sum() + len(self.delta.points))

    # building
    def _in_shard(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        if self.shard is None:
            return np.ones(len(lon), dtype=bool)
        return self.plan.shard_of(lon, lat) == self.shard

    def _set_main(self, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        keep = self._in_shard(lon, lat)
        ids, lon, lat = ids[keep], lon[keep], lat[keep]
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.main = AssetIndex.from_arrays(np.arange(len(order), dtype=np.int64), lon[order], lat[order])
        self.superseded = np.zeros(len(order), dtype=bool)
        self.delta = _Delta()

    def load_arrays(self, ids, lon, lat, watermark: datetime | None) -> BookIndex:
        with self._lock:
            self._set_main(_encode_ids(ids), np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
            self.watermark = watermark
            self.loaded_at = time.monotonic()
        return self

    def load(self, session: Session) -> BookIndex:
        """Read every asset from the database (a full build)."""
        looked_at = utcnow()
        ids, lons, lats = [], [], []
        rows = session.execute(select(Asset.asset_id, Asset.lon, Asset.lat).execution_options(yield_per=READ_BATCH))
        for batch in rows.partitions():
            columns = list(zip(*batch, strict=True))
            ids.extend(columns[0])
            lons.append(np.asarray(columns[1], dtype=np.float64))
            lats.append(np.asarray(columns[2], dtype=np.float64))
        lon = np.concatenate(lons) if lons else np.array([], dtype=np.float64)
        lat = np.concatenate(lats) if lats else np.array([], dtype=np.float64)
        return self.load_arrays(ids, lon, lat, looked_at)

    @classmethod
    def from_snapshot(cls, path, shard: int | None = None, plan: ShardPlan | None = None) -> BookIndex:
        """A GeoParquet snapshot (save_snapshot) as the starting point; refresh() catches up from there."""
        import geopandas as gpd

        frame = gpd.read_parquet(path)
        watermark = frame.attrs.get("haven_watermark") or None
        index = cls(shard, plan)
        return index.load_arrays(frame["asset_id"].astype(str).to_numpy(), frame.geometry.x.to_numpy(),
                                 frame.geometry.y.to_numpy(),
                                 datetime.fromisoformat(watermark) if watermark else None)

    def save_snapshot(self, path) -> None:
        import geopandas as gpd

        with self._lock:
            self.fold()
            frame = gpd.GeoDataFrame(
                {"asset_id": np.char.decode(self.ids) if len(self.ids) else np.array([], dtype=str)},
                geometry=gpd.points_from_xy(*self._main_coordinates()), crs="EPSG:4326")
            frame.attrs["haven_watermark"] = self.watermark.isoformat() if self.watermark else ""
            frame.to_parquet(path)

    def _main_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = np.empty(len(self.ids)), np.empty(len(self.ids))
        lon[self.main.ids], lat[self.main.ids] = self.main.lon, self.main.lat
        return lon, lat

    # following changes
    def refresh(self, session: Session) -> int:
        """Apply rows changed since the last look; returns how many were read.

        The watermark is when the last look began, not the newest row seen: a book imported in one
        go shares one updated_at, and measured from it every match would re-read the whole import.
        """
        with self._lock:
            if self.watermark is None or time.monotonic() - self.loaded_at > FULL_RELOAD_S:
                self.load(session)
                return len(self)
            looked_at = utcnow()
            rows = session.execute(
                select(Asset.asset_id, Asset.lon, Asset.lat)
                .where(Asset.updated_at >= self.watermark - REFRESH_OVERLAP)).all()
            self.watermark = max(self.watermark, looked_at)
            if rows:
                self.apply_changes([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            return len(rows)

    def apply_changes(self, ids, lon, lat) -> None:
        """Insert or move assets (an upsert of the same id replaces the old point)."""
        with self._lock:
            keys = _encode_ids(ids)
            lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
            if len(self.ids):
                positions = np.clip(np.searchsorted(self.ids, keys), 0, len(self.ids) - 1)
                known = self.ids[positions] == keys
                self.superseded[positions[known]] = True
            inside = self._in_shard(lon, lat)
            changed = False
            for key, x, y, keep in zip(keys, lon, lat, inside, strict=True):
                if keep:
                    changed |= self.delta.points.get(key) != (x, y)
                    self.delta.points[key] = (float(x), float(y))
                elif self.delta.points.pop(key, None) is not None:
                    changed = True
            if len(self.delta.points) > max(DELTA_FOLD_MIN, len(self.ids) // 50):
                self.fold()
            elif changed:
                self.delta.rebuild()

    def fold(self) -> None:
        """Merge the side index of changed assets into the main one (in memory)."""
        with self._lock:
            if not self.delta.points and not self.superseded.any():
                return
            lon, lat = self._main_coordinates()
            keep = ~self.superseded
            delta_ids = np.array(list(self.delta.points), dtype=bytes) if self.delta.points else self.ids[:0]
            delta_xy = np.array(list(self.delta.points.values()), dtype=np.float64).reshape(-1, 2)
            self._set_main(np.concatenate([self.ids[keep], delta_ids]),
                           np.concatenate([lon[keep], delta_xy[:, 0]]), np.concatenate([lat[keep], delta_xy[:, 1]]))

    # asking
    def query_parts(self, geometry: BaseGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What is inside as the index holds it: its sorted id array (UTF-8 bytes; a new array after each
        rebuild), the positions inside in it, and the changed ids inside (bytes). A million ids decode in
        about a second, so a caller keeping arrays in the same order (alerts/reach_book.py) takes these."""
        with self._lock:
            positions = self.main.query(geometry)
            positions = positions[~self.superseded[positions]]
            changed = self.delta.index.query(geometry) if self.delta.index is not None else self.ids[:0]
            return self.ids, positions, changed

    def query(self, geometry: BaseGeometry) -> np.ndarray:
        """Asset ids (str) whose point intersects the geometry; boundary counts as inside."""
        ids, positions, changed = self.query_parts(geometry)
        found = np.concatenate([ids[positions], changed]) if len(changed) else ids[positions]
        return np.char.decode(found).astype(object) if len(found) else np.array([], dtype=object)


_indexes: dict[tuple[str, int | None, int], BookIndex] = {}
_indexes_lock = threading.Lock()


def book_index(session: Session, shard: int | None = None) -> BookIndex:
    """This process's index of the book (or of one shard), brought up to date."""
    plan = shard_plan() if shard is not None else ShardPlan()
    key = (str(session.get_bind().url), shard, plan.count)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = BookIndex(shard, plan)
    index.refresh(session)
    return index


def forget_indexes() -> None:
    """Drop every in-process index (tests, or after the book was replaced)."""
    with _indexes_lock:
        _indexes.clear()


# --- alerts --------------------------------------------------------------------------------------

@cache
def _gazetteer(path: str | None) -> Gazetteer:
    from config.settings import VAR_DIR

    return load_gazetteer(path, cache_dir=VAR_DIR / "cache")


class ConfiguredGazetteer(GeocodeResolver):
    """The gazetteer HAVEN_GAZETTEER_PATH names (or the bundled one), read on first use.

    A missing or unreadable file makes geocodes unknown (reported on the alert), never a crash.
    """

    def resolve(self, value_name: str, value: str):
        try:
            found = _gazetteer(rules.current().matching.gazetteer_path)
        except Exception as exc:  # any reader error: the alert still gets its polygons and circles
            log.error("gazetteer unavailable: %s", exc)
            return [], [f"{value_name}:{value} (gazetteer unavailable: {exc})"]
        return found.resolve(value_name, value)


def alert_area(normalized: dict, alert_id: int | None = None) -> AreaGeometry:
    """A normalized alert's whole area with the configured margin, gazetteer and point snap.

    Never raises: what cannot be drawn is a note on the result (and logged with the alert's id).
    """
    matching_rules = rules.current().matching
    try:
        return alert_geometry(normalized, ConfiguredGazetteer(), margin_km=matching_rules.warning_margin_km,
                              point_snap_m=matching_rules.point_snap_m)
    except Exception as exc:  # a stored alert of any shape must not take its page or its chain down
        log.exception("alert %s: its area could not be computed", alert_id)
        return AreaGeometry(notes=[f"area could not be computed: {type(exc).__name__}: {exc}"])


def record_alert_area(alert: Alert) -> BaseGeometry:
    """Compute and store the alert's area (GeoJSON, WGS-84) and flag what could not be resolved."""
    area = alert_area(alert.normalized or {}, alert.id)
    alert.area_geojson = mapping(area.geometry) if not area.is_empty else None
    flags = list(alert.flags or [])
    flags.extend(flag for flag in area.flags() if flag not in flags)
    alert.flags = flags
    return area.geometry


def stored_area(alert: Alert) -> BaseGeometry:
    """The area matching stored for an alert, or computed now; an unreadable one is logged and recomputed."""
    if alert.area_geojson:
        try:
            geometry = shape(alert.area_geojson)
            return geometry if geometry.is_valid else shapely.make_valid(geometry)
        except Exception:  # any malformed GeoJSON: fall back to the message itself
            log.exception("alert %s: stored area is unreadable; computing it from the message", alert.id)
    return alert_area(alert.normalized or {}, alert.id).geometry


def geometry_of(alert_or_geometry) -> BaseGeometry:
    if isinstance(alert_or_geometry, BaseGeometry):
        return alert_or_geometry
    if isinstance(alert_or_geometry, Alert):
        return stored_area(alert_or_geometry)
    if isinstance(alert_or_geometry, dict):
        return shape(alert_or_geometry)
    raise TypeError(f"expected an Alert, a shapely geometry or a GeoJSON dict, got {type(alert_or_geometry)}")


# A sharded deployment registers how to ask the shard workers (workers.match does, with Celery):
# fan_out(geometry, shards) -> list of id arrays.
_fan_out = None


def use_fan_out(fan_out) -> None:
    global _fan_out
    _fan_out = fan_out


def affected_assets(session: Session, alert_or_geometry) -> np.ndarray:
    """Ids of the insured assets inside an alert's area (an Alert, shapely geometry or GeoJSON dict)."""
    geometry = geometry_of(alert_or_geometry)
    if geometry.is_empty:
        return np.array([], dtype=object)
    plan = shard_plan()
    if plan.count > 1 and _fan_out is not None:
        shards = plan.shards_touching(geometry)
        parts = _fan_out(geometry, shards) if shards else []
        merged = np.concatenate([np.asarray(p, dtype=object) for p in parts]) if parts else np.array([], object)
        return np.unique(merged.astype(str)).astype(object) if len(merged) else merged
    return book_index(session).query(geometry)


def shard_assets(session: Session, geometry: BaseGeometry, shard: int) -> np.ndarray:
    """One shard's part of affected_assets (runs in the worker that holds that shard)."""
    return book_index(session, shard).query(geometry)


@dataclass(frozen=True)
class MatchResult:
    alert_id: int
    matched_assets: int
    asset_ids: np.ndarray


def match_alert(session: Session, alert_id: int) -> MatchResult | None:
    """Resolve a stored alert's area, record it, and count the insured assets inside."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    geometry = record_alert_area(alert)
    try:
        ids = affected_assets(session, geometry)
    except shapely.errors.GEOSException as exc:
        log.exception("alert %s: its area could not be matched against the book", alert_id)
        alert.flags = [*(alert.flags or []), f"area could not be matched: {exc}"]
        ids = np.array([], dtype=object)
    alert.matched_assets = len(ids)
    alert.matched_at = utcnow()
    return MatchResult(alert_id, len(ids), ids)
