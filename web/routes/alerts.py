"""Routes: alerts and the quarantine (docs/architecture.md). Thin: parse, call alerts/, answer."""

from __future__ import annotations

import base64
from datetime import datetime

from aiohttp import web

from alerts import manual_service, requests, responses
from alerts.dao import alerts_dao
from alerts.manual import ManualRules, Refused
from alerts.notifying.targeting import Rules
from config import get_settings
from store.db import session_scope
from store.types import utcnow
from web.common import in_thread, json_response, path_id, principal_of, requires, whole_number
from web.errors import ApiError, bad_request, not_found
from web.openapi import takes
from web.routes.auth import ACTIVE_SESSION
from web.typed import body, query, responds

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
OPERATORS = ("supervisor", "manager")


def _policy() -> manual_service.Policy:
    settings = get_settings()
    return manual_service.Policy(ManualRules.from_settings(settings), Rules.from_settings(settings))


async def _manual(operation, *args):
    """Run a manual-warning operation off the event loop; its refusals are 4xx naming the problem."""
    try:
        return await in_thread(operation, *args)
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=exc.field) from None


@routes.post("/v1/alerts")
@requires("dispatcher", "supervisor", "manager")
@query(requests.AlertSubmitQuery)
@responds(responses.ManualWarningView, status=202, description="held with its reach: the submitter confirms "
                                                              "it, or (above the setting) a second staff member "
                                                              "approves it")
@responds(responses.ManualIngestOutcome, status=201, description="stored and sent (?confirm=true with an API key)")
@responds(responses.IngestOutcome, description="already stored: duplicates only")
@takes("application/cap+xml", description="CAP 1.1/1.2 XML, NWS GeoJSON, QWeather or typhoon-track JSON")
@takes("application/geo+json")
async def post_alert(request: web.Request, query: requests.AlertSubmitQuery) -> web.Response:
    """A warning entered by a person (docs/architecture.md, "Manual warnings"): held with its reach
    (customers, assets, channels, area) and answered 202 with the held warning. Nothing is sent until its
    submitter confirms it (POST /v1/manual-warnings/{id}/confirm) or, above HAVEN_MANUAL_APPROVAL_ABOVE
    customers, another supervisor or manager approves it. An API-key client may add ?confirm=true: a
    warning that needs no approver is then stored and sent at once (201, the ingest answer). Invalid
    messages are quarantined (422); one already stored answers 200 with its id."""
    raw = await request.read()
    if not raw.strip():
        raise bad_request("the body is empty; send CAP XML or NWS GeoJSON", field="body")
    if query.confirm and request.get(ACTIVE_SESSION) is not None:
        raise bad_request("a signed-in person confirms the preview: POST /v1/manual-warnings/{id}/confirm",
                          field="confirm")
    held = await _manual(manual_service.submit, raw, request.content_type, principal_of(request), _policy(),
                         query.confirm)
    outcome = held.get("ingest")
    if outcome is None:
        return json_response(held["warning"], status=202)
    if "warning" in held:
        return json_response({**outcome, "manual_warning": held["warning"]}, status=201)
    if not outcome["stored"] and not outcome["duplicates"] and outcome["problems"]:
        path, _, reason = outcome["problems"][0].partition(": ")
        raise ApiError(422, "invalid_alert", f"{reason} (quarantined as {outcome['quarantined']})", field=path)
    return json_response(outcome, status=201 if outcome["stored"] else 200)


@routes.get("/v1/manual-warnings")
@requires("dispatcher", "supervisor", "manager")
@query(requests.ManualWarningQuery)
@responds(responses.ManualWarningList)
async def list_manual_warnings(request: web.Request, query: requests.ManualWarningQuery) -> web.Response:
    """Manual warnings, newest first (?state=awaiting_approval ...): supervisors and managers see all, a
    dispatcher their own. Those past their deadline are expired first."""
    return json_response(await _manual(manual_service.listing, principal_of(request), query.state, query.limit))


@routes.get("/v1/manual-warnings/{id}")
@requires("dispatcher", "supervisor", "manager")
@responds(responses.ManualWarningView)
async def get_manual_warning(request: web.Request) -> web.Response:
    """One manual warning with its area (GeoJSON) and, while it waits, its reach recomputed now (reach_now)."""
    return json_response(await _manual(manual_service.show_fresh, path_id(request, what="manual warning"),
                                       principal_of(request)))


@routes.post("/v1/manual-warnings/{id}/confirm")
@requires("dispatcher", "supervisor", "manager")
@responds(responses.ManualWarningView)
async def confirm_manual_warning(request: web.Request) -> web.Response:
    """The submitter sends their warning after the preview (only one needing no approver: 409
    approval_required otherwise). If its reach grew past the setting meanwhile it waits for approval."""
    return json_response(await _manual(manual_service.confirm, path_id(request, what="manual warning"),
                                       principal_of(request), _policy()))


@routes.post("/v1/manual-warnings/{id}/approve")
@requires("supervisor", "manager")
@responds(responses.ManualWarningView)
async def approve_manual_warning(request: web.Request) -> web.Response:
    """A second staff member sends a warning waiting for approval; never your own (409 own_warning). Of
    two decisions, or a decision and the deadline, exactly one wins (409 already_<state> for the other)."""
    return json_response(await _manual(manual_service.approve, path_id(request, what="manual warning"),
                                       principal_of(request)))


@routes.post("/v1/manual-warnings/{id}/reject")
@requires("dispatcher", "supervisor", "manager")
@body(requests.ManualRejection)
@responds(responses.ManualWarningView)
async def reject_manual_warning(request: web.Request, body: requests.ManualRejection) -> web.Response:
    """Stop a waiting warning, with a reason (audited): an approver for anyone's, a dispatcher for their own."""
    return json_response(await _manual(manual_service.reject, path_id(request, what="manual warning"),
                                       principal_of(request), body.reason))


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
