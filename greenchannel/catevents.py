"""Catastrophe (CAT) events: declared by a supervisor, or proposed by Haven and confirmed by one.

See docs/architecture.md, "A claim, from report to payment".
An event is `proposed` (waiting for a supervisor), `open` (claims inside its area and window are
tagged) or `closed` (no new tagging; claims already tagged keep their tag). Areas are stored as a
WGS-84 MultiPolygon; a point on the boundary is inside.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep
from shapely.validation import explain_validity
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from greenchannel.dao import catevents_dao
from greenchannel.errors import Conflict, Invalid, Malformed, NotFound
from greenchannel.locking import lock_row
from greenchannel.rules import CatEventRules
from store import audit
from store.models import Alert, AlertChain, CatEvent, CatEventChain
from store.models.greenchannel import CatEventStatus
from store.types import utcnow
from store.users import Principal

CODE = re.compile(r"^CAT-\d{4}-\d{4}-[A-Z0-9]+(-[A-Z0-9]+)*$")
PROPOSING_SEVERITIES = ("Severe", "Extreme")
# Losses keep coming after a warning lapses (water stays, cars sit in it): a proposed window
# runs this long past the last expiry in the chain. The confirming supervisor can change it.
PROPOSAL_WINDOW_TAIL = timedelta(hours=48)
HAZARD_WORDS = {"台风": "TYPHOON", "暴雨": "RAINSTORM", "洪": "FLOOD", "大风": "GALE", "冰雹": "HAIL",
                "雷": "THUNDERSTORM", "暴雪": "SNOWSTORM", "风暴潮": "STORMSURGE", "地震": "EARTHQUAKE"}


# --- areas ---------------------------------------------------------------------------------------

def _polygons_of(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    if hasattr(geometry, "geoms"):
        return [p for g in geometry.geoms for p in _polygons_of(g)]
    return []


def _geometries_of(geojson: dict) -> list[BaseGeometry]:
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        return [g for feature in geojson.get("features") or [] for g in _geometries_of(feature)]
    if kind == "Feature":
        return _geometries_of(geojson.get("geometry") or {})
    try:
        return [shape(geojson)]
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.ShapelyError) as exc:
        raise Malformed(f"area is not GeoJSON: {exc}", "area") from None


def as_multipolygon(geometry: BaseGeometry, field: str = "area") -> MultiPolygon:
    polygons = _polygons_of(geometry)
    if not polygons:
        raise Invalid("the area has no polygon in it (points and lines cover no ground)", field)
    merged = shapely.union_all(polygons)
    if not merged.is_valid:
        raise Invalid(f"the area is not a valid polygon: {explain_validity(merged)}", field)
    minx, miny, maxx, maxy = merged.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise Invalid("the area's coordinates are outside WGS-84 [lon, lat] ranges (is it [lat, lon]?)", field)
    return merged if isinstance(merged, MultiPolygon) else MultiPolygon(_polygons_of(merged))


def area_from_geojson(geojson) -> MultiPolygon:
    if not isinstance(geojson, dict):
        raise Malformed("area must be a GeoJSON object", "area")
    geometries = _geometries_of(geojson)
    invalid = [explain_validity(g) for g in geometries if not g.is_valid]
    if invalid:
        raise Invalid(f"the area is not a valid polygon: {invalid[0]}", "area")
    return as_multipolygon(shapely.union_all(geometries) if geometries else Polygon())


def area_from_chains(session: Session, chain_ids: list[int]) -> MultiPolygon:
    """The union of the areas of every alert in the chains (Cancel messages carry no area)."""
    known = catevents_dao.known_chain_ids(session, chain_ids)
    missing = sorted(set(chain_ids) - known)
    if missing:
        raise NotFound(f"alert chain {missing[0]}")
    areas = [shape(a.area_geojson) for a in catevents_dao.alerts_of_chains(session, chain_ids)
             if a.area_geojson and a.msg_type != "Cancel"]
    if not areas:
        raise Invalid("none of these alert chains has a matched area yet", "chain_ids")
    return as_multipolygon(shapely.union_all(areas), "chain_ids")


_PREPARED: dict[tuple, PreparedGeometry] = {}


def covers(event: CatEvent, lon: float, lat: float) -> bool:
    """Inside the event's area, boundary included. An open event's area never changes, so the
    prepared geometry is kept per (event, confirmation)."""
    key = (event.id, event.code, event.created_at, event.confirmed_at)
    area = _PREPARED.get(key)
    if area is None:
        if len(_PREPARED) > 256:
            _PREPARED.clear()
        area = _PREPARED[key] = prep(shape(event.area_geojson))
    return area.covers(Point(lon, lat))


def in_window(event: CatEvent, at: datetime) -> bool:
    return event.window_start <= at and (event.window_end is None or at <= event.window_end)


def open_event_for(session: Session, lon: float, lat: float, at: datetime) -> CatEvent | None:
    """The open CAT event whose area and window hold this loss (the most recently declared if several)."""
    return next((e for e in catevents_dao.open_events_at(session, at) if covers(e, lon, lat)), None)


# --- lifecycle -----------------------------------------------------------------------------------

def _check_code(code) -> str:
    if not isinstance(code, str) or not CODE.match(code.strip()):
        raise Malformed("code must look like CAT-2021-0725-INFA (CAT-year-monthday-NAME, capitals)", "code")
    return code.strip()


def _check_window(start: datetime, end: datetime | None) -> None:
    if end is not None and end <= start:
        raise Invalid("window_end must be after window_start", "window_end")


_code_taken = catevents_dao.code_taken


def declare(session: Session, actor: Principal, *, code: str, hazard: str, window_start: datetime,
            window_end: datetime | None = None, area_geojson: dict | None = None,
            chain_ids: list[int] | None = None, now: datetime | None = None) -> CatEvent:
    """A supervisor declares an open event; its area is the GeoJSON given, the chains' areas, or both."""
    now = now or utcnow()
    code = _check_code(code)
    if not hazard or not isinstance(hazard, str) or len(hazard) > 64:
        raise Malformed("hazard is required (at most 64 characters), e.g. typhoon", "hazard")
    _check_window(window_start, window_end)
    if area_geojson is None and not chain_ids:
        raise Malformed("give an area (GeoJSON) or chain_ids (alert chains whose areas to join)", "area")
    parts = []
    if area_geojson is not None:
        parts.append(area_from_geojson(area_geojson))
    if chain_ids:
        parts.append(area_from_chains(session, chain_ids))
    area = as_multipolygon(shapely.union_all(parts))
    if _code_taken(session, code):
        raise Conflict(f"a CAT event with code {code} already exists", "code", code="duplicate_code")
    event = CatEvent(code=code, hazard=hazard.strip(), area_geojson=mapping(area), window_start=window_start,
                     window_end=window_end, status=CatEventStatus.OPEN, source_chain_ids=list(chain_ids or []),
                     declared_by=actor.user_id, confirmed_by=actor.user_id, created_at=now, confirmed_at=now)
    session.add(event)
    session.flush()
    _claim_chains(session, event, list(chain_ids or []))
    audit.record(session, "cat_event", event.id, "declared", actor_id=actor.user_id, actor_role=actor.role,
                 to_state="open", note=code)
    return event


def _first_info(alert: Alert) -> dict:
    infos = (alert.normalized or {}).get("infos") or []
    return infos[0] if infos else {}


def _iso(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _hazard_of(alert: Alert) -> str:
    info = _first_info(alert)
    return str(info.get("event") or ",".join(info.get("categories") or []) or "unspecified")[:64]


def _slug(hazard: str) -> str:
    for word, slug in HAZARD_WORDS.items():
        if word in hazard:
            return slug
    return re.sub(r"[^A-Z0-9]", "", hazard.upper())[:16]


def _proposal_code(session: Session, alert: Alert, start: datetime, chain_id: int) -> str:
    local = start.astimezone(_iso(alert.sent).tzinfo) if _iso(alert.sent) else start
    base = f"CAT-{local:%Y-%m%d}-{_slug(_hazard_of(alert)) or f'CHAIN{chain_id}'}"
    code, suffix = base, 2
    while _code_taken(session, code):
        code, suffix = f"{base}-{suffix}", suffix + 1
    return code


def _proposed_window(alerts: list[Alert]) -> tuple[datetime, datetime | None]:
    starts, ends = [], []
    for alert in alerts:
        info = _first_info(alert)
        starts.append(_iso(info.get("onset")) or _iso(info.get("effective")) or alert.sent_at)
        if alert.expires_at:
            ends.append(alert.expires_at)
    return min(starts), (max(ends) + PROPOSAL_WINDOW_TAIL) if ends else None


def chain_severity(session: Session, alert: Alert) -> str | None:
    chain = session.get(AlertChain, alert.chain_id) if alert.chain_id else None
    return (chain.max_severity if chain is not None and chain.max_severity else None) or alert.max_severity


def should_propose(session: Session, alert_id: int, asset_count: int, rules: CatEventRules) -> bool:
    alert = session.get(Alert, alert_id)
    return (alert is not None and alert.chain_id is not None and alert.status == "Actual"
            and alert.msg_type != "Cancel" and asset_count > rules.propose_min_assets
            and chain_severity(session, alert) in PROPOSING_SEVERITIES)


def _claim_chains(session: Session, event: CatEvent, chain_ids: list[int]) -> None:
    """Attach the chains to a declared event. A chain of another live event is refused; one of a closed
    or dismissed event moves over (the storm came back and a supervisor declared it again)."""
    links = {link.chain_id: link for link in catevents_dao.links_of_chains(session, chain_ids)}
    for chain_id in dict.fromkeys(chain_ids):
        link = links.get(chain_id)
        if link is None:
            session.add(CatEventChain(chain_id=chain_id, cat_event_id=event.id))
            continue
        holder = session.get(CatEvent, link.cat_event_id)
        if holder is not None and holder.status != CatEventStatus.CLOSED:
            raise Conflict(f"alert chain {chain_id} already belongs to {holder.code} ({holder.status}); "
                           f"{'confirm or merge that proposal' if holder.status == CatEventStatus.PROPOSED else 'close it'}"
                           " first", "chain_ids", code="chain_taken")
        link.cat_event_id = event.id
    session.flush()


def propose_from_alert(session: Session, alert_id: int, asset_count: int, rules: CatEventRules,
                       now: datetime | None = None) -> CatEvent | None:
    """Propose an event when an Extreme or Severe chain reaches more than the threshold of assets.

    One event per chain, decided by the database: the proposal and its cat_event_chains row (keyed by
    the chain) are inserted together, so of two alerts of one chain racing, one inserts and the other
    finds its event. A chain that already has an event (open, proposed, merged or dismissed) gets no
    new one; while its proposal waits, a re-match refreshes the proposal's reach and area.
    """
    now = now or utcnow()
    if not should_propose(session, alert_id, asset_count, rules):
        return None
    alert = session.get(Alert, alert_id)
    existing = catevents_dao.event_of_chain(session, alert.chain_id)
    if existing is not None:
        return _refreshed(session, existing, alert.chain_id, asset_count)
    area = area_from_chains(session, [alert.chain_id])
    start, end = _proposed_window(catevents_dao.alerts_of_chains(session, [alert.chain_id]))
    for _attempt in range(3):
        event = CatEvent(code=_proposal_code(session, alert, start, alert.chain_id), hazard=_hazard_of(alert),
                         area_geojson=mapping(area), window_start=start, window_end=end,
                         status=CatEventStatus.PROPOSED, proposed_from_chain_id=alert.chain_id,
                         proposed_assets=asset_count, source_chain_ids=[alert.chain_id], created_at=now)
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
                session.add(CatEventChain(chain_id=alert.chain_id, cat_event_id=event.id))
                session.flush()
        except IntegrityError:
            existing = catevents_dao.event_of_chain(session, alert.chain_id)
            if existing is not None:  # another worker proposed for this chain a moment ago
                return _refreshed(session, existing, alert.chain_id, asset_count)
            continue  # only the code was taken (another chain's proposal of the same day): try the next
        audit.record(session, "cat_event", event.id, "proposed", to_state="proposed",
                     note=f"chain {alert.chain_id} ({chain_severity(session, alert)}) reached {asset_count} assets",
                     data={"alert_id": alert_id, "asset_count": asset_count})
        return event
    return None


def _refreshed(session: Session, event: CatEvent, chain_id: int, asset_count: int) -> CatEvent:
    if event.status == CatEventStatus.PROPOSED and event.proposed_from_chain_id == chain_id:
        event.proposed_assets = max(event.proposed_assets or 0, asset_count)
        event.area_geojson = mapping(area_from_chains(session, [chain_id]))
    return event


def _locked(session: Session, event_id: int) -> CatEvent:
    event = lock_row(session, CatEvent, event_id)
    if event is None:
        raise NotFound(f"CAT event {event_id}")
    return event


def confirm(session: Session, actor: Principal, event_id: int, *, code: str | None = None,
            hazard: str | None = None, window_start: datetime | None = None,
            window_end: datetime | None = None, now: datetime | None = None) -> CatEvent:
    """A supervisor confirms a proposal (optionally renaming it or adjusting its window): it opens."""
    now = now or utcnow()
    event = _locked(session, event_id)
    if event.status != CatEventStatus.PROPOSED:
        raise Conflict(f"CAT event {event.code} is {event.status}, not proposed", code="not_proposed")
    if code is not None and _check_code(code) != event.code:
        if _code_taken(session, code):
            raise Conflict(f"a CAT event with code {code} already exists", "code", code="duplicate_code")
        event.code = code
    if hazard:
        event.hazard = hazard[:64]
    event.window_start = window_start or event.window_start
    event.window_end = window_end or event.window_end
    _check_window(event.window_start, event.window_end)
    event.status, event.confirmed_by, event.confirmed_at = CatEventStatus.OPEN, actor.user_id, now
    audit.record(session, "cat_event", event.id, "confirmed", actor_id=actor.user_id, actor_role=actor.role,
                 from_state="proposed", to_state="open", note=event.code)
    return event


def close(session: Session, actor: Principal, event_id: int, note: str | None = None,
          now: datetime | None = None) -> CatEvent:
    """Stop tagging new claims (a proposal closed this way is dismissed). Tagged claims keep their tag."""
    now = now or utcnow()
    event = _locked(session, event_id)
    if event.status == CatEventStatus.CLOSED:
        raise Conflict(f"CAT event {event.code} is already closed", code="already_closed")
    previous = event.status
    event.status, event.closed_by, event.closed_at = CatEventStatus.CLOSED, actor.user_id, now
    audit.record(session, "cat_event", event.id, "closed" if previous == "open" else "dismissed",
                 actor_id=actor.user_id, actor_role=actor.role, from_state=previous, to_state="closed", note=note)
    return event


def dismiss(session: Session, actor: Principal, event_id: int, reason: str,
            now: datetime | None = None) -> CatEvent:
    """A supervisor turns a proposal down, saying why. Its chain keeps the dismissed event, so the
    chain's later messages propose nothing again."""
    now = now or utcnow()
    if not isinstance(reason, str) or not reason.strip():
        raise Malformed("say why the proposal is dismissed", "reason")
    event = _locked(session, event_id)
    if event.status != CatEventStatus.PROPOSED:
        raise Conflict(f"CAT event {event.code} is {event.status}, not proposed", code="not_proposed")
    event.status, event.closed_by, event.closed_at = CatEventStatus.CLOSED, actor.user_id, now
    audit.record(session, "cat_event", event.id, "dismissed", actor_id=actor.user_id, actor_role=actor.role,
                 from_state="proposed", to_state="closed", note=reason.strip())
    return event


def merge(session: Session, actor: Principal, proposal_id: int, into_id: int, note: str | None = None,
          now: datetime | None = None) -> CatEvent:
    """A duplicate proposal of a storm that already has an open event: the proposal's chains join the
    open event (whose area and window stay as confirmed), and the proposal closes pointing at it."""
    now = now or utcnow()
    if proposal_id == into_id:
        raise Invalid("a proposal cannot be merged into itself", "into_id")
    first, second = sorted((proposal_id, into_id))  # one lock order, so two merges never deadlock
    locked = {first: _locked(session, first), second: _locked(session, second)}
    proposal, target = locked[proposal_id], locked[into_id]
    if proposal.status != CatEventStatus.PROPOSED:
        raise Conflict(f"CAT event {proposal.code} is {proposal.status}, not proposed", code="not_proposed")
    if target.status != CatEventStatus.OPEN:
        raise Conflict(f"CAT event {target.code} is {target.status}; a proposal joins an open event",
                       "into_id", code="not_open")
    if not shape(proposal.area_geojson).intersects(shape(target.area_geojson)):
        raise Invalid(f"the proposal's area does not touch {target.code}'s: not the same storm", "into_id")
    moved = [link.chain_id for link in catevents_dao.chains_of_event(session, proposal.id)]
    for link in catevents_dao.chains_of_event(session, proposal.id):
        link.cat_event_id = target.id
    target.source_chain_ids = list(dict.fromkeys([*(target.source_chain_ids or []), *moved]))
    proposal.status, proposal.closed_by, proposal.closed_at = CatEventStatus.CLOSED, actor.user_id, now
    proposal.merged_into_id = target.id
    session.flush()
    audit.record(session, "cat_event", proposal.id, "merged", actor_id=actor.user_id, actor_role=actor.role,
                 from_state="proposed", to_state="closed", note=note or f"merged into {target.code}",
                 data={"into_id": target.id, "chain_ids": moved})
    audit.record(session, "cat_event", target.id, "chains_attached", actor_id=actor.user_id, actor_role=actor.role,
                 note=f"from {proposal.code}", data={"proposal_id": proposal.id, "chain_ids": moved})
    return target


def get(session: Session, event_id: int) -> CatEvent:
    event = session.get(CatEvent, event_id)
    if event is None:
        raise NotFound(f"CAT event {event_id}")
    return event


list_events = catevents_dao.list_events


def to_json(event: CatEvent, with_area: bool = True) -> dict:
    body = {
        "id": event.id, "code": event.code, "hazard": event.hazard, "status": event.status,
        "window_start": event.window_start, "window_end": event.window_end,
        "proposed_from_chain_id": event.proposed_from_chain_id, "proposed_assets": event.proposed_assets,
        "source_chain_ids": event.source_chain_ids or [], "declared_by": event.declared_by,
        "confirmed_by": event.confirmed_by, "created_at": event.created_at, "confirmed_at": event.confirmed_at,
        "closed_at": event.closed_at, "closed_by": event.closed_by, "merged_into_id": event.merged_into_id,
    }
    if with_area:
        body["area"] = event.area_geojson
    return body
