"""Routes: alerts and the quarantine (DESIGN.md, Interfaces: HTTP). Thin: parse, call alerts/, answer."""

from __future__ import annotations

from aiohttp import web

from alerts import queries
from alerts.ingest import Origin
from store.db import session_scope
from store.models.alerts import Alert
from store.types import utcnow
from web.common import in_thread, json_response, principal_of, requires
from web.errors import ApiError, bad_request, not_found
from workers.ingest import ingest_payload

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
OPERATORS = ("supervisor", "manager")


def _int_param(request: web.Request, name: str, default: int, maximum: int = 1000) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 0 < int(value) <= maximum:
        raise bad_request(f"{name} must be a whole number from 1 to {maximum}", field=name)
    return int(value)


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


def _list(active: bool, limit: int, status: str | None) -> list[dict]:
    with session_scope() as session:
        return queries.list_alerts(session, active=active, now=utcnow(), limit=limit, status=status)


@routes.get("/v1/alerts")
@requires(*STAFF)
async def list_alerts(request: web.Request) -> web.Response:
    """Alerts, newest first; ?active=true keeps each active chain's current, unexpired message."""
    active = request.query.get("active", "false").lower()
    if active not in ("true", "false", "1", "0"):
        raise bad_request("active must be true or false", field="active")
    alerts = await in_thread(_list, active in ("true", "1"), _int_param(request, "limit", 100),
                             request.query.get("status"))
    return json_response({"alerts": alerts})


def _detail(alert_id: int) -> dict | None:
    with session_scope() as session:
        return queries.alert_detail(session, alert_id)


@routes.get("/v1/alerts/{id}")
@requires(*STAFF)
async def get_alert(request: web.Request) -> web.Response:
    """One alert with its chain (state, messages in order) and its area as GeoJSON."""
    raw_id = request.match_info["id"]
    if not raw_id.isdigit():
        raise not_found(f"alert {raw_id}")
    detail = await in_thread(_detail, int(raw_id))
    if detail is None:
        raise not_found(f"alert {raw_id}")
    return json_response(detail)


def _quarantine(limit: int) -> dict:
    with session_scope() as session:
        return queries.list_quarantine(session, limit=limit)


@routes.get("/v1/quarantine")
@requires(*OPERATORS)
async def list_quarantine(request: web.Request) -> web.Response:
    """Messages refused at ingest, newest first, each with the element and the reason."""
    return json_response(await in_thread(_quarantine, _int_param(request, "limit", 100)))
