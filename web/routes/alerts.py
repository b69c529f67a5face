"""Routes: alerts and the quarantine (DESIGN.md, Interfaces: HTTP). Thin: parse, call alerts/, answer."""

from __future__ import annotations

import base64
from datetime import datetime

from aiohttp import web
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import defer

from alerts import queries
from alerts.ingest import Origin
from store.db import session_scope
from store.models.alerts import Alert, AlertChain
from store.types import utcnow
from web.common import in_thread, json_response, path_id, principal_of, query_int, requires, whole_number
from web.errors import ApiError, bad_request, not_found
from workers.ingest import ingest_payload

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
OPERATORS = ("supervisor", "manager")


def _ingest(raw: bytes, content_type: str | None, principal_id: int) -> dict:
    result = ingest_payload(raw, Origin(source=f"api:user/{principal_id}", content_type=content_type))
    with session_scope() as session:
        alerts = [queries.alert_json(session.get(Alert, i)) for i in result.new_alert_ids + result.duplicate_alert_ids]
    return {**result.as_dict(), "alerts": alerts}


@routes.post("/v1/alerts")
@requires("dispatcher", "supervisor", "manager")
async def post_alert(request: web.Request) -> web.Response:
    """Ingest one message (CAP XML, NWS GeoJSON, QWeather or typhoon-track JSON); invalid ones are quarantined."""
    raw = await request.read()
    if not raw.strip():
        raise bad_request("the body is empty; send CAP XML or NWS GeoJSON", field="body")
    outcome = await in_thread(_ingest, raw, request.content_type, principal_of(request).user_id)
    if not outcome["stored"] and not outcome["duplicates"] and outcome["problems"]:
        path, _, reason = outcome["problems"][0].partition(": ")
        raise ApiError(422, "invalid_alert", f"{reason} (quarantined as {outcome['quarantined']})", field=path)
    return json_response(outcome, status=201 if outcome["stored"] else 200)


PAGE_DEFAULT, PAGE_MAX = 50, 200
PAGE_MAX_WITH_GEOMETRY = 25  # polygons of a big warning run to megabytes; pages of them stay small


def _without_geometry(alert: dict) -> dict:
    """The alert as published, minus its polygons and circles (areas keep their description and geocodes)."""
    infos = [{**info, "areas": [{key: value for key, value in area.items() if key not in ("polygons", "circles")}
                                for area in info.get("areas") or []]}
             for info in alert.get("infos") or []]
    return {**alert, "infos": infos}


def _encode_cursor(sent_at, alert_id: int) -> str:
    return base64.urlsafe_b64encode(f"{sent_at.isoformat()}|{alert_id}".encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[datetime, int]:
    try:
        sent, _, alert_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
        position = (datetime.fromisoformat(sent), whole_number(alert_id, minimum=1))
    except (ValueError, UnicodeDecodeError):
        position = (None, None)
    if len(raw) > 100 or position[1] is None or position[0].tzinfo is None:
        raise bad_request("cursor is not one this API gave out; use next_cursor from the previous page",
                          field="cursor")
    return position


def _list(active: bool, limit: int, status: str | None, after: tuple[datetime, int] | None,
          with_geometry: bool) -> tuple[list[dict], str | None]:
    # The raw message and the stored area are as big as the polygons: never read them for a list.
    query = (select(Alert).options(defer(Alert.raw), defer(Alert.area_geojson))
             .order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(limit + 1))
    if active:
        query = query.join(AlertChain, AlertChain.current_alert_id == Alert.id).where(
            AlertChain.state == "active", Alert.expires_at > utcnow())
    if status:
        query = query.where(Alert.status == status)
    if after is not None:
        sent_at, alert_id = after
        query = query.where(or_(Alert.sent_at < sent_at, and_(Alert.sent_at == sent_at, Alert.id < alert_id)))
    with session_scope() as session:
        rows = session.execute(query).scalars().all()
        page = rows[:limit]
        alerts = [queries.alert_json(a) for a in page]
        more = len(rows) > limit
        cursor = _encode_cursor(page[-1].sent_at, page[-1].id) if more else None
    return (alerts if with_geometry else [_without_geometry(a) for a in alerts]), cursor


@routes.get("/v1/alerts")
@requires(*STAFF)
async def list_alerts(request: web.Request) -> web.Response:
    """Alerts, newest first, a page at a time; ?active=true keeps each active chain's current, unexpired message.

    Areas come without polygons and circles unless ?include=geometry (then at most 25 a page). ?limit= (at
    most 200), and ?cursor= from the previous page's next_cursor for the next page.
    """
    active = request.query.get("active", "false").lower()
    if active not in ("true", "false", "1", "0"):
        raise bad_request("active must be true or false", field="active")
    include = {part.strip() for part in request.query.get("include", "").split(",") if part.strip()}
    if include - {"geometry"}:
        raise bad_request("include may only name geometry", field="include")
    with_geometry = "geometry" in include
    limit = query_int(request, "limit", PAGE_DEFAULT, maximum=PAGE_MAX_WITH_GEOMETRY if with_geometry else PAGE_MAX)
    raw_cursor = request.query.get("cursor")
    after = _decode_cursor(raw_cursor) if raw_cursor else None
    status = request.query.get("status")
    if status is not None and len(status) > 16:
        raise bad_request("status is a CAP status such as Actual or Test", field="status")
    alerts, cursor = await in_thread(_list, active in ("true", "1"), limit, status, after, with_geometry)
    next_link = None
    if cursor:
        next_link = str(request.rel_url.update_query({"cursor": cursor}))
    return json_response({"alerts": alerts, "next_cursor": cursor, "next": next_link})


def _detail(alert_id: int) -> dict | None:
    with session_scope() as session:
        return queries.alert_detail(session, alert_id)


@routes.get("/v1/alerts/{id}")
@requires(*STAFF)
async def get_alert(request: web.Request) -> web.Response:
    """One alert with its chain (state, messages in order) and its area as GeoJSON."""
    alert_id = path_id(request, what="alert")
    detail = await in_thread(_detail, alert_id)
    if detail is None:
        raise not_found(f"alert {alert_id}")
    return json_response(detail)


def _quarantine(limit: int) -> dict:
    with session_scope() as session:
        return queries.list_quarantine(session, limit=limit)


@routes.get("/v1/quarantine")
@requires(*OPERATORS)
async def list_quarantine(request: web.Request) -> web.Response:
    """Messages refused at ingest, newest first, each with the element and the reason."""
    return json_response(await in_thread(_quarantine, query_int(request, "limit", 100, maximum=1000)))
