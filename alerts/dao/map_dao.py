"""The operations map's warnings: areas in force with their chains and delivery counts, the affected assets
counted into grid cells, and what changed for the live event stream (docs/architecture.md, "The layers").

A stored alert whose area cannot be read or drawn is logged with its id and shown without an area
(`area_error` says so); it never takes the map or the asset counts down with it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.dao.alerts_dao import area_geojson, chain_json
from geo.index import AssetIndex
from store.models import Alert, AlertChain, Asset, Notification
from store.models.alerts import ChainState
from store.models.notifications import NOT_DELIVERED, NOT_YET_SENDING, UNFINISHED, NotificationState

log = logging.getLogger(__name__)
ENDED_CHAINS_SHOWN_FOR = timedelta(hours=6)
AREA_SIMPLIFY_DEG = 0.002  # about 200 m: invisible at the zoom a region is watched at
CELL_SIZES_DEG = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)


# --- warnings on the map --------------------------------------------------------------------------

def simplified(geojson: dict | None) -> dict | None:
    if not geojson:
        return None
    geometry = shape(geojson)
    return mapping(geometry.simplify(AREA_SIMPLIFY_DEG, preserve_topology=True))


AREA_UNREADABLE = "this alert's area cannot be drawn; the server log has the details"


def _drawn_area(alert: Alert) -> tuple[dict | None, str | None]:
    """The alert's area simplified for the map, or (None, why not) when it cannot be read or drawn."""
    try:
        return simplified(area_geojson(alert)), None
    except Exception:  # any broken stored area: this alert loses its outline, the map stays up
        log.exception("alert %s: its area cannot be drawn on the operations map", alert.id)
        return None, AREA_UNREADABLE


def _area_shape(alert: Alert) -> BaseGeometry | None:
    """The alert's area as matching stored it (valid, non-empty), or None when it cannot be read."""
    try:
        geojson = area_geojson(alert)
        if not geojson:
            return None
        geometry = shape(geojson)
        geometry = geometry if geometry.is_valid else shapely.make_valid(geometry)
        return None if geometry.is_empty else geometry
    except Exception:  # any broken stored area: counted as no area, the other alerts still count
        log.exception("alert %s: its area cannot be read for the asset counts", alert.id)
        return None


def delivery_counts_by_chain(session: Session, chain_ids: list[int]) -> dict[int, dict]:
    """Per chain: customers warned, and messages delivered, failed, pending (held ones included)."""
    counts = {chain_id: {"warned": 0, "messages": 0, "delivered": 0, "failed": 0, "pending": 0, "cancelled": 0}
              for chain_id in chain_ids}
    if not chain_ids:
        return counts
    for chain_id, state, number in session.execute(
            select(Notification.chain_id, Notification.state, func.count())
            .where(Notification.chain_id.in_(chain_ids)).group_by(Notification.chain_id, Notification.state)):
        bucket = ("delivered" if state == NotificationState.DELIVERED else "failed" if state in NOT_DELIVERED
                  else "pending" if state in UNFINISHED else "cancelled")
        counts[chain_id][bucket] += number
        counts[chain_id]["messages"] += number
    for chain_id, customers in session.execute(
            select(Notification.chain_id, func.count(func.distinct(Notification.customer_id)))
            .where(Notification.chain_id.in_(chain_ids), Notification.state != NotificationState.CANCELLED,
                   Notification.kind != "all_clear")
            .group_by(Notification.chain_id)):
        counts[chain_id]["warned"] = customers
    # Pending is mostly messages waiting for the end of quiet hours: the map says so and until when.
    for chain_id, held, release_at in session.execute(
            select(Notification.chain_id, func.count(), func.min(Notification.not_before))
            .where(Notification.chain_id.in_(chain_ids), Notification.not_before.is_not(None),
                   Notification.state.in_(NOT_YET_SENDING))
            .group_by(Notification.chain_id)):
        counts[chain_id]["held"], counts[chain_id]["held_until"] = held, release_at
    return counts


def shown_chains(session: Session, now: datetime) -> list[AlertChain]:
    """Active chains, and chains that ended recently (shown as outlines, so an all-clear is seen)."""
    return list(session.scalars(
        select(AlertChain).where((AlertChain.state == ChainState.ACTIVE)
                                 | (AlertChain.updated_at >= now - ENDED_CHAINS_SHOWN_FOR))
        .order_by(AlertChain.updated_at.desc()).limit(200)))


def _by_language(infos: list[dict], field: str) -> dict[str, str]:
    """language -> that info's text (a CAP alert carries one info per language), first info first."""
    found: dict[str, str] = {}
    for info in infos:
        if info.get(field):
            found.setdefault(info.get("language") or "", info[field])
    return found


def _warning_json(session: Session, chain: AlertChain, counts: dict, now: datetime) -> dict | None:
    alert = session.get(Alert, chain.effective_alert_id or chain.current_alert_id or 0)
    if alert is None:
        return None
    current = session.get(Alert, chain.current_alert_id) if chain.current_alert_id else alert
    active = chain.state == ChainState.ACTIVE and (alert.expires_at is None or alert.expires_at > now)
    # An ended chain reads in its all-clear's own words; the area stays the last one in force.
    worded = current if current is not None and current.ends_chain else alert
    infos = (worded.normalized or {}).get("infos") or [{}]
    info = infos[0]
    return {
        "chain_id": chain.id, "state": ChainState.EXPIRED if chain.state == ChainState.ACTIVE and not active else chain.state,
        "active": active, "alert_id": alert.id, "current_msg_type": current.msg_type if current else None,
        "severity": alert.max_severity, "max_severity": chain.max_severity, "event": info.get("event"),
        "headline": info.get("headline"), "instruction": info.get("instruction"), "sender": alert.sender,
        "headlines": _by_language(infos, "headline"), "events": _by_language(infos, "event"),
        "instructions": _by_language(infos, "instruction"), "worded_alert_id": worded.id,
        "sent": alert.sent, "expires_at": alert.expires_at, "received_at": alert.received_at,
        "matched_assets": alert.matched_assets, "matched_at": alert.matched_at,
        "counts": counts, "history": chain_json(session, chain)["alerts"],
        **dict(zip(("area", "area_error"), _drawn_area(alert), strict=True)),
    }


def _warning_or_none(session: Session, chain: AlertChain, counts: dict, now: datetime) -> dict | None:
    try:
        return _warning_json(session, chain, counts, now)
    except Exception:  # one broken stored alert is left off the map, never the whole map
        log.exception("chain %s (alert %s): left off the operations map", chain.id,
                      chain.effective_alert_id or chain.current_alert_id)
        return None


def warnings_on_map(session: Session, now: datetime) -> list[dict]:
    """The chains shown on the map, each with its effective alert, history and delivery counts."""
    chains = shown_chains(session, now)
    counts = delivery_counts_by_chain(session, [c.id for c in chains])
    return [w for w in (_warning_or_none(session, c, counts[c.id], now) for c in chains) if w is not None]


def active_area(session: Session, now: datetime, chain_id: int | None = None) -> BaseGeometry | None:
    """The union of the areas in force (or of one chain's), as matching stored them."""
    chains = [c for c in shown_chains(session, now) if c.state == ChainState.ACTIVE and (chain_id is None or c.id == chain_id)]
    areas = []
    for chain in chains:
        alert = session.get(Alert, chain.effective_alert_id or 0)
        if alert is None or (alert.expires_at is not None and alert.expires_at <= now):
            continue
        area = _area_shape(alert)
        if area is not None:
            areas.append(area)
    if not areas:
        return None
    try:
        return shapely.union_all(areas)
    except shapely.errors.GEOSException:
        log.exception("the areas in force cannot be merged; counting them one by one")
        return shapely.GeometryCollection(areas)


# --- affected assets as grid cells ---------------------------------------------------------------

@dataclass
class _Book:
    version: tuple = ()
    lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    index: AssetIndex | None = None
    checked_at: float = 0.0


class AffectedAssetGrid:
    """All insured points of the book in one AssetIndex, counted into grid cells inside an area.

    The index holds positions, not ids: the console needs where the assets are, never which. It is
    rebuilt when the book's size or newest change moves (checked at most every `recheck_s`).
    """

    def __init__(self, recheck_s: float = 10.0):
        self.recheck_s = recheck_s
        self._books: dict[str, _Book] = {}
        self._lock = threading.Lock()

    def _book(self, session: Session) -> _Book:
        key = str(session.get_bind().url)
        with self._lock:
            book = self._books.setdefault(key, _Book())
            if book.index is not None and time.monotonic() - book.checked_at < self.recheck_s:
                return book
            version = tuple(session.execute(select(func.count(), func.max(Asset.updated_at))).one())
            book.checked_at = time.monotonic()
            if book.index is None or version != book.version:
                rows = session.execute(select(Asset.lon, Asset.lat)).all()
                coords = np.array(rows, dtype=np.float64).reshape(-1, 2)
                book.lon, book.lat, book.version = coords[:, 0], coords[:, 1], version
                book.index = AssetIndex.from_arrays(np.arange(len(coords)), book.lon, book.lat)
            return book

    def cells(self, session: Session, area: BaseGeometry | None, cell_deg: float,
              bbox: tuple[float, float, float, float] | None = None) -> dict:
        """{"cell_deg", "total", "in_view", "cells": [[lon, lat, count], ...]}: every asset inside the area
        is counted in `total`; those inside `bbox` (west, south, east, north) are counted into cells."""
        empty = {"cell_deg": cell_deg, "total": 0, "in_view": 0, "cells": []}
        if area is None or area.is_empty:
            return empty
        book = self._book(session)
        inside = np.asarray(book.index.query(area), dtype=np.int64)
        lon, lat = book.lon[inside], book.lat[inside]
        if bbox is not None:
            west, south, east, north = bbox
            seen = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
            lon, lat = lon[seen], lat[seen]
        if lon.size == 0:
            return {**empty, "total": int(inside.size)}
        keys = np.stack([np.floor(lon / cell_deg), np.floor(lat / cell_deg)], axis=1)
        _, which, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        which = which.ravel()
        centre_lon = np.bincount(which, weights=lon) / counts
        centre_lat = np.bincount(which, weights=lat) / counts
        cells = [[round(float(x), 5), round(float(y), 5), int(n)]
                 for x, y, n in zip(centre_lon, centre_lat, counts, strict=True)]
        return {"cell_deg": cell_deg, "total": int(inside.size), "in_view": int(lon.size), "cells": cells}


def cell_size(requested: float | None) -> float:
    """The listed cell size nearest the one asked for (so cached answers are shared)."""
    if requested is None:
        return 0.1
    return min(CELL_SIZES_DEG, key=lambda size: abs(np.log(size / requested)))


# --- what changed (for the live event stream) ----------------------------------------------------

def warnings_fingerprint(session: Session, now: datetime) -> dict:
    """What moves when a warning arrives, is matched, changes its chain, or its messages change state."""
    chain_ids = [c.id for c in shown_chains(session, now)]
    deliveries = () if not chain_ids else tuple(session.execute(
        select(func.count(), func.max(Notification.updated_at)).where(Notification.chain_id.in_(chain_ids))).one())
    return {"alert_id": session.scalar(select(func.max(Alert.id))) or 0,
            "alerts_matched": session.scalar(select(func.max(Alert.matched_at))),
            "chains_updated": session.scalar(select(func.max(AlertChain.updated_at))),
            "deliveries": deliveries}


def alert_ids_after(session: Session, alert_id: int, limit: int) -> list[int]:
    return list(session.scalars(select(Alert.id).where(Alert.id > alert_id).order_by(Alert.id).limit(limit)))
