"""Routes: alerts and the quarantine (docs/architecture.md). Thin: parse, call alerts/, answer."""

from __future__ import annotations

import base64
from datetime import datetime

from aiohttp import web

from alerts import requests, responses, service
from alerts.dao import alerts_dao
from alerts.reading.ingest import Origin
from store.db import session_scope
from store.types import utcnow
from web.common import in_thread, json_response, path_id, principal_of, requires, whole_number
from web.errors import ApiError, bad_request, not_found
from web.openapi import takes
from web.typed import query, responds

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
OPERATORS = ("supervisor", "manager")


def _ingest(raw: bytes, content_type: str | None, principal_id: int) -> dict:
    return service.ingest_and_show(raw, Origin(source=f"api:user/{principal_id}", content_type=content_type))


@routes.post("/v1/alerts")
@requires("dispatcher", "supervisor", "manager")
@responds(responses.IngestOutcome, status=201, description="stored")
@responds(responses.IngestOutcome, description="already stored: duplicates only")
@takes("application/cap+xml", description="CAP 1.1/1.2 XML, NWS GeoJSON, QWeather or typhoon-track JSON")
@takes("application/geo+json")
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
    with session_scope() as session:
        rows = alerts_dao.alerts_page(session, active=active, limit=limit + 1, status=status, after=after,
                                      now=utcnow())
        page = rows[:limit]
        alerts = [alerts_dao.alert_json(a) for a in page]
        more = len(rows) > limit
        cursor = _encode_cursor(page[-1].sent_at, page[-1].id) if more else None
    return (alerts if with_geometry else [_without_geometry(a) for a in alerts]), cursor


@routes.get("/v1/alerts")
@requires(*STAFF)
@query(requests.AlertListQuery)
@responds(responses.AlertPage)
async def list_alerts(request: web.Request, query: requests.AlertListQuery) -> web.Response:
    """Alerts, newest first, a page at a time; ?active=true keeps each active chain's current, unexpired message.

    Areas come without polygons and circles unless ?include=geometry (then at most 25 a page). ?limit= (at
    most 200), and ?cursor= from the previous page's next_cursor for the next page.
    """
    include = {part.strip() for part in (query.include or "").split(",") if part.strip()}
    if include - {"geometry"}:
        raise bad_request("include may only name geometry", field="include")
    with_geometry = "geometry" in include
    if with_geometry and query.limit is not None and query.limit > PAGE_MAX_WITH_GEOMETRY:
        raise bad_request(f"limit must be a whole number from 1 to {PAGE_MAX_WITH_GEOMETRY} with geometry",
                          field="limit")
    after = _decode_cursor(query.cursor) if query.cursor else None
    alerts, cursor = await in_thread(_list, query.active, query.limit or PAGE_DEFAULT, query.status, after,
                                     with_geometry)
    next_link = None
    if cursor:
        next_link = str(request.rel_url.update_query({"cursor": cursor}))
    return json_response({"alerts": alerts, "next_cursor": cursor, "next": next_link})


def _detail(alert_id: int) -> dict | None:
    with session_scope() as session:
        return alerts_dao.alert_detail(session, alert_id)


@routes.get("/v1/alerts/{id}")
@requires(*STAFF)
@responds(responses.AlertDetail)
async def get_alert(request: web.Request) -> web.Response:
    """One alert with its chain (state, messages in order) and its area as GeoJSON."""
    alert_id = path_id(request, what="alert")
    detail = await in_thread(_detail, alert_id)
    if detail is None:
        raise not_found(f"alert {alert_id}")
    return json_response(detail)


def _quarantine(limit: int) -> dict:
    with session_scope() as session:
        return alerts_dao.list_quarantine(session, limit=limit)


@routes.get("/v1/quarantine")
@requires(*OPERATORS)
@query(requests.QuarantineQuery)
@responds(responses.QuarantineList)
async def list_quarantine(request: web.Request, query: requests.QuarantineQuery) -> web.Response:
    """Messages refused at ingest, newest first, each with the element and the reason."""
    return json_response(await in_thread(_quarantine, query.limit))
