"""Where a point-polled feed asks, and what its answers add up to (feed kind qweather-v1).

QWeather's Weather Alert API v1 answers for a coordinate, not for an area. A feed therefore polls a set of
points, each standing for one county (six-digit administrative code): by default a point inside every
finest unit of the gazetteer (county, district, or a city without counties) where the book holds an asset,
recomputed when the book changes; or the fixed list HAVEN_QWEATHER_POINTS.

An alert's area is the union of the counties of every point that returned it. Several points returning one
alert in the same round are stored as one alert with all their counties. When a later answer from another
point returns an alert already stored, its stored area grows by that county (the raw payload stays as it
arrived) and the alert is matched again: the fan-out's once-per-chain key means only the customers the new
county brings in are warned. An answer that no longer carries an alert cancels nothing: only the provider's
cancel, or the expiry, ends it.

Plain functions over a Session; the HTTP side is alerts.qweather_polling.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.reading import feedstate
from alerts.reading.errors import MessageInvalid
from alerts.reading.ingest import IngestResult, Origin, quarantine, store_alert
from alerts.reading.parse import parse_message
from alerts.reading.parsed import ParsedAlert
from alerts.reading.qweather_v1 import ADMIN_CODE_SCHEME, language_of
from geo.gazetteer import Gazetteer
from store.audit import record
from store.models.alerts import Alert, Feed, FeedPoint
from store.models.book import Asset

log = logging.getLogger(__name__)

POINT_KIND = "qweather-v1"
FIXED, BOOK = "fixed", "book"
_FIXED_POINT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*(?:,\s*(\d{6})\s*)?$")


@dataclass(frozen=True)
class WantedPoint:
    lat: float
    lon: float
    admin_code: str
    name: str | None = None


@dataclass
class PointChoice:
    points: list[WantedPoint]
    assets_outside: int = 0  # book assets in no unit of the gazetteer: no point, so never warned
    signature: str = ""
    unplaced: list[str] = field(default_factory=list)  # fixed points the gazetteer puts in no county


@dataclass(frozen=True)
class PointSnapshot:
    """What one request needs, detached from the session."""

    id: int
    lat: float
    lon: float
    admin_code: str
    etag: str | None
    last_tag: str | None


def book_signature(session: Session) -> str:
    """The book's last change (assets are upserted, never deleted): one index lookup, cheap every round."""
    newest = session.execute(select(func.max(Asset.updated_at))).scalar()
    return f"book|{newest.isoformat() if newest else ''}"


def fixed_signature(text: str) -> str:
    return "fixed|" + hashlib.sha256(text.strip().encode()).hexdigest()[:32]


def parse_fixed_points(text: str, gazetteer: Gazetteer) -> PointChoice:
    """'28.02,120.65,330302;27.88,120.83' -> points; a point without a code gets the unit it lies in."""
    choice = PointChoice([], signature=fixed_signature(text))
    for part in (p for p in text.split(";") if p.strip()):
        found = _FIXED_POINT.match(part)
        if not found:
            raise ValueError(f"HAVEN_QWEATHER_POINTS: {part.strip()!r} is not lat,lon[,adcode]")
        lat, lon, code = round(float(found.group(1)), 2), round(float(found.group(2)), 2), found.group(3)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"HAVEN_QWEATHER_POINTS: {part.strip()!r} is not a latitude,longitude pair")
        if code is None:
            inside, _ = gazetteer.units_of_points([lon], [lat])
            code = next(iter(inside), None)
        if code is None:
            choice.unplaced.append(part.strip())
            continue
        unit = gazetteer.boundary(ADMIN_CODE_SCHEME, code)
        choice.points.append(WantedPoint(lat, lon, code, unit.name if unit else None))
    return choice


def points_from_book(session: Session, gazetteer: Gazetteer) -> PointChoice:
    """A point in every finest unit holding at least one asset, and how many assets lie in no unit."""
    signature = book_signature(session)
    rows = session.execute(select(Asset.lon, Asset.lat)).all()
    coords = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    # Many assets share a spot (a car park, a block of flats): ask once per spot, count them all.
    unique, counts = np.unique(coords, axis=0, return_counts=True) if len(coords) else (coords, np.zeros(0))
    inside, outside = gazetteer.units_of_points(unique[:, 0], unique[:, 1], weights=counts)
    points = []
    for code in sorted(inside):
        seat = gazetteer.seat(code)
        if seat is not None:
            points.append(WantedPoint(seat.lat, seat.lon, code, seat.name))
    return PointChoice(points, outside, signature)


def sync_points(session: Session, feed: Feed, choice: PointChoice, now: datetime) -> dict:
    """Make the feed's points the chosen ones; new points are spread over one interval."""
    existing = {(p.lat, p.lon): p for p in session.execute(
        select(FeedPoint).where(FeedPoint.feed_id == feed.id)).scalars()}
    wanted = {(p.lat, p.lon): p for p in choice.points}
    added = [key for key in wanted if key not in existing]
    removed = [point for key, point in existing.items() if key not in wanted]
    for point in removed:
        session.delete(point)
    spacing = feed.every_s / max(len(added), 1)
    source = FIXED if choice.signature.startswith("fixed|") else BOOK
    for position, key in enumerate(added):
        point = wanted[key]
        session.add(FeedPoint(feed_id=feed.id, lat=point.lat, lon=point.lon, admin_code=point.admin_code,
                              name=point.name, source=source, consecutive_failures=0, last_alert_ids=[],
                              next_poll_at=now + timedelta(seconds=position * spacing)))
    for key, point in existing.items():
        if key in wanted:
            point.admin_code, point.name, point.source = wanted[key].admin_code, wanted[key].name, source
    feed.points_book_signature = choice.signature[:100]
    feed.assets_outside_gazetteer = choice.assets_outside
    session.flush()
    if choice.assets_outside:
        log.warning("feed %s: %d book asset(s) lie outside the gazetteer in use: no QWeather point covers them, "
                    "so they are never warned; set HAVEN_GAZETTEER_PATH=cnmaps (all of China)",
                    feed.id, choice.assets_outside)
    if added or removed:
        record(session, "feed", feed.id, "points_changed",
               data={"points": len(wanted), "added": len(added), "removed": len(removed),
                     "assets_outside_gazetteer": choice.assets_outside})
    return {"points": len(wanted), "added": len(added), "removed": len(removed),
            "assets_outside_gazetteer": choice.assets_outside, "unplaced": choice.unplaced}


def choose_points(session: Session, gazetteer: Gazetteer, fixed: str | None) -> PointChoice:
    return parse_fixed_points(fixed, gazetteer) if fixed else points_from_book(session, gazetteer)


def refresh_points(session: Session, feed: Feed, gazetteer: Gazetteer, fixed: str | None, now: datetime,
                   force: bool = False) -> dict | None:
    """Recompute the points when the book (or the fixed list) changed since they were chosen."""
    signature = fixed_signature(fixed) if fixed else book_signature(session)
    stored = feed.points_book_signature or ""
    if not force and stored.split("@")[0] == signature[:60]:
        return None
    if not force and not fixed and stored.startswith("book|") and "@" in stored:
        # While a big import commits chunk after chunk, choose again at most once per interval.
        chosen_at = datetime.fromisoformat(stored.rsplit("@", 1)[1])
        if (now - chosen_at).total_seconds() < feed.every_s:
            return None
    choice = choose_points(session, gazetteer, fixed)
    choice.signature = f"{choice.signature[:60]}@{now.isoformat()}"
    return sync_points(session, feed, choice, now)


def round_size(points: int, every_s: float, concurrency: int) -> int:
    """At most this many points a round: three times the steady pace of a 5 s round, so a backlog (after a
    backoff, or a stopped poller) drains in a few rounds instead of one burst the provider would refuse."""
    return max(concurrency, math.ceil(points * 15.0 / max(every_s, 1.0)))


def due_points(session: Session, feed_id: int, now: datetime, force: bool = False,
               limit: int | None = None) -> list[PointSnapshot]:
    query = select(FeedPoint).where(FeedPoint.feed_id == feed_id).order_by(FeedPoint.next_poll_at, FeedPoint.id)
    if not force:
        query = query.where((FeedPoint.next_poll_at.is_(None)) | (FeedPoint.next_poll_at <= now))
        if limit is not None:
            query = query.limit(limit)
    return [PointSnapshot(p.id, p.lat, p.lon, p.admin_code, p.etag, p.last_tag)
            for p in session.execute(query).scalars()]


# --- answers -------------------------------------------------------------------------------------

@dataclass
class PointAnswer:
    """One point's answer as the poller saw it."""

    point: PointSnapshot
    url: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    tag: str | None = None  # metadata.tag
    unchanged: bool = False  # 304, or the same metadata.tag as last time


@dataclass
class RoundResult:
    ingest: IngestResult = field(default_factory=IngestResult)
    grown_alert_ids: list[int] = field(default_factory=list)


def _add_counties(alert: dict, codes: Iterable[str]) -> list[str]:
    """Add CN-ADCODE geocodes to the alert's first area; returns the codes that were new."""
    infos = alert.get("infos") or []
    if not infos or not infos[0].get("areas"):
        return []
    area = infos[0]["areas"][0]
    have = {g["value"] for g in area["geocodes"] if g.get("name") == ADMIN_CODE_SCHEME}
    new = [code for code in dict.fromkeys(codes) if code not in have]
    for info in infos:  # every info describes the same place
        for target in info.get("areas", [])[:1]:
            target["geocodes"] = target["geocodes"] + [{"name": ADMIN_CODE_SCHEME, "value": c} for c in new]
    return new


def grow_alert_area(session: Session, alert_id: int, codes: Iterable[str], now: datetime) -> list[str]:
    """A stored alert seen at more points: its area takes their counties too. Returns the counties added."""
    alert = session.get(Alert, alert_id)
    normalized = {**alert.normalized, "infos": [
        {**info, "areas": [dict(area) for area in info.get("areas", [])]} for info in alert.normalized["infos"]]}
    added = _add_counties(normalized, codes)
    if not added:
        return []
    alert.normalized = normalized
    alert.flags = list(alert.flags or []) + [{"code": "area-grown", "path": "/alerts",
                                              "detail": f"returned at more points: counties {', '.join(added)} "
                                                        f"added at {now.isoformat(timespec='seconds')}"}]
    alert.area_geojson = None  # matching computes it again from the grown area
    record(session, "alert", alert.id, "area_grown", data={"counties": added})
    return added


def ingest_round(session: Session, feed: Feed, answers: list[PointAnswer], lang: str | None, max_bytes: int,
                 lifetime_h: float, now: datetime) -> RoundResult:
    """Store what one polling round brought: each alert once with the counties of every point that returned
    it; already-stored alerts grow; unreadable answers are quarantined."""
    result = RoundResult()
    language = language_of(lang)
    seen: dict[tuple[str, str, str], tuple[ParsedAlert, PointAnswer, set[str]]] = {}
    for answer in answers:
        if answer.body is None or answer.unchanged:
            continue
        origin = Origin(source=answer.url, content_type="application/json", feed=feed, max_bytes=max_bytes,
                        lifetime_h=lifetime_h)
        try:
            message = parse_message(answer.body, "application/json", admin_codes=[answer.point.admin_code],
                                    language=language, max_bytes=max_bytes)
        except MessageInvalid as exc:
            answer.error = f"unreadable answer (quarantined): {exc}"
            result.ingest.quarantine_ids.append(quarantine(session, answer.body, exc, origin, now).id)
            result.ingest.problems.append(exc.summary())
            continue
        for rejected in message.rejected:
            result.ingest.quarantine_ids.append(quarantine(session, answer.body, rejected, origin, now).id)
            result.ingest.problems.append(rejected.summary())
        for parsed in message.alerts:
            key = (parsed.alert["sender"], parsed.alert["identifier"], parsed.alert["sent"])
            if key in seen:
                seen[key][2].add(answer.point.admin_code)
            else:
                seen[key] = (parsed, answer, {answer.point.admin_code})
    for parsed, answer, codes in seen.values():
        _add_counties(parsed.alert, sorted(codes))
        origin = Origin(source=answer.url, content_type="application/json", feed=feed, max_bytes=max_bytes,
                        lifetime_h=lifetime_h)
        stored = store_alert(session, parsed, answer.body, origin, now)
        result.ingest.merge(stored)
        for alert_id in stored.duplicate_alert_ids:
            if grow_alert_area(session, alert_id, sorted(codes), now):
                result.grown_alert_ids.append(alert_id)
    return result


def record_point(session: Session, answer: PointAnswer, now: datetime, every_s: float, max_backoff_s: float,
                 alert_ids: list[str] | None) -> None:
    point = session.get(FeedPoint, answer.point.id)
    if point is None:  # the book changed and the point went away while it was being asked
        return
    point.last_polled_at, point.last_status = now, answer.status
    if answer.error:
        point.last_error, point.last_error_at = answer.error[:2000], now
        point.consecutive_failures = (point.consecutive_failures or 0) + 1
        wait = feedstate.backoff_s(every_s, point.consecutive_failures, max_backoff_s)
        point.next_poll_at = now + timedelta(seconds=max(wait, answer.retry_after_s or 0))
        return
    point.last_success_at, point.consecutive_failures, point.last_error = now, 0, None
    point.next_poll_at = now + timedelta(seconds=every_s)
    if answer.etag:
        point.etag = answer.etag[:500]
    if answer.tag:
        point.last_tag = answer.tag[:200]
    if alert_ids is not None:
        point.last_alert_ids = alert_ids


def next_point_due(session: Session, feed_id: int) -> datetime | None:
    return session.execute(select(func.min(FeedPoint.next_poll_at)).where(FeedPoint.feed_id == feed_id)).scalar()


def points_json(session: Session, feed_ids: list[int]) -> dict[int, list[dict]]:
    """Each feed's points with their last answer and error (feed health)."""
    rows = session.execute(select(FeedPoint).where(FeedPoint.feed_id.in_(feed_ids))
                           .order_by(FeedPoint.feed_id, FeedPoint.admin_code, FeedPoint.id)).scalars()
    found: dict[int, list[dict]] = {}
    for p in rows:
        found.setdefault(p.feed_id, []).append({
            "lat": p.lat, "lon": p.lon, "admin_code": p.admin_code, "name": p.name, "source": p.source,
            "last_polled_at": p.last_polled_at, "last_success_at": p.last_success_at, "last_status": p.last_status,
            "alerts": list(p.last_alert_ids or []), "last_error": p.last_error, "last_error_at": p.last_error_at,
            "consecutive_failures": p.consecutive_failures, "next_poll_at": p.next_poll_at})
    return found
