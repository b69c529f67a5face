"""Routes: the console (docs/architecture.md).

"/" serves the single-page console; /static/ its scripts and styles, and /static/vendor/leaflet/ the
map library as npm installed it (package.json at the repository root, `make install`), or as copied to
web/static/vendor/leaflet/ where there is no node_modules (a container image). The console
reads the domain APIs of the other route modules; this module adds only what a screen needs and the
API lacked: a login that keeps the key in an HttpOnly cookie, the offline base map, the operations
map in one payload with affected assets counted into grid cells, the dispatch board with nearest free
providers, the approver's inbox, and a Server-Sent Events stream of what changed.

The stream polls the database once a second (one poller per server, shared by every open page), so
it sees changes made by Celery workers in other processes as well as by in-process tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from pathlib import Path

from aiohttp import web

from alerts.dao import map_dao
from config import get_settings
from greenchannel.privacy import PROVIDER, phone_as_seen_by
from store.db import session_scope
from store.types import utcnow
from store.users import Principal, names_of, principal_for_key
from web import console_queries as queries
from web.common import (
    dumps,
    in_thread,
    json_body,
    json_response,
    principal_of,
    public,
    query_int,
    requires,
    whole_number,
)
from web.errors import ApiError, bad_request
from web.openapi import gives, query_parameter, takes

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LEAFLET_DIR = Path(__file__).resolve().parent.parent.parent / "node_modules" / "leaflet" / "dist"
COOKIE = "api_key"
COOKIE_MAX_AGE_S = 12 * 3600  # one long shift
POLL_S = 1.0
KEEPALIVE_S = 15.0

MAP_ROLES = ("dispatcher", "supervisor", "manager")
ALL_ROLES = ("customer", "dispatcher", "adjuster", "supervisor", "manager")
# Which console pages each role sees; the API enforces the same roles on every call behind them.
PAGES = {
    "customer": ["claims"],
    "dispatcher": ["map", "dispatch"],
    "adjuster": ["queue"],
    "supervisor": ["map", "queue", "approvals", "complaints", "catevents", "warnings", "feeds"],
    "manager": ["map", "queue", "approvals", "complaints", "catevents", "warnings", "feeds", "lossreport"],
    "admin": ["map", "dispatch", "queue", "catevents", "warnings", "feeds", "outbox", "lossreport"],
}


# --- pages and files -----------------------------------------------------------------------------

@routes.get("/")
@public
@gives("text/html", description="the console")
async def console_page(request: web.Request) -> web.FileResponse:
    """The console: sign in with an API key, then the pages of your role."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


if (STATIC_DIR / "vendor" / "leaflet").is_dir():
    log.debug("map library served from web/static/vendor/leaflet")  # copied there, e.g. in an image
elif LEAFLET_DIR.is_dir():
    routes.static("/static/vendor/leaflet", LEAFLET_DIR)
else:
    @routes.get("/static/vendor/leaflet/{name:.*}")
    @public
    async def leaflet_missing(request: web.Request) -> web.Response:
        """The map library is not installed."""
        raise ApiError(503, "map_library_missing",
                       "the map library is not installed: run `make install` (npm ci) in the repository root")

# The loss report's charts: Chart.js as npm installed it, under the same rule as the map library.
CHARTJS_DIR = Path(__file__).resolve().parent.parent.parent / "node_modules" / "chart.js" / "dist"
if not (STATIC_DIR / "vendor" / "chartjs").is_dir() and CHARTJS_DIR.is_dir():
    routes.static("/static/vendor/chartjs", CHARTJS_DIR)

routes.static("/static", STATIC_DIR)


# --- signing in ----------------------------------------------------------------------------------

def _principal(key: str) -> Principal | None:
    with session_scope() as session:
        return principal_for_key(session, key)


def _me(principal: Principal) -> dict:
    settings = get_settings()
    return {"id": principal.user_id, "name": principal.name, "role": principal.role,
            "customer_id": principal.customer_id, "pages": PAGES[principal.role],
            "hotline": settings.hotline, "advance_ratio": settings.advance_ratio}


@routes.post("/v1/console/session")
@public
@takes("application/json", schema={"type": "object", "required": ["api_key"],
                                   "properties": {"api_key": {"type": "string"}}})
@gives("application/json", schema={"type": "object", "additionalProperties": True}, description="who signed in and the pages of their role")
async def sign_in(request: web.Request) -> web.Response:
    """Sign in with an API key: it is kept in an HttpOnly, SameSite=Strict cookie for the console."""
    body = await json_body(request)
    key = body.get("api_key")
    if not isinstance(key, str) or not key.strip():
        raise bad_request("api_key is required", field="api_key")
    principal = await in_thread(_principal, key.strip())
    if principal is None:
        raise ApiError(401, "unauthenticated", "this API key is unknown or revoked", field="api_key")
    response = json_response(_me(principal))
    response.set_cookie(COOKIE, key.strip(), max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


@routes.delete("/v1/console/session")
@public
@gives("text/plain", status=204, description="the cookie is gone")
async def sign_out(request: web.Request) -> web.Response:
    """Sign out: forget the console's cookie."""
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/v1/console/me")
@requires(*ALL_ROLES)
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def console_me(request: web.Request) -> web.Response:
    """Who is signed in, which console pages their role sees, and the customer hotline."""
    return json_response(_me(principal_of(request)))


# --- the operations map --------------------------------------------------------------------------

@routes.get("/v1/console/basemap")
@requires(*ALL_ROLES)
@gives("application/geo+json", schema={"type": "object"})
async def basemap(request: web.Request) -> web.Response:
    """Administrative boundaries of the gazetteer, simplified: the offline base layer of the map."""
    layer = await in_thread(queries.base_layer, get_settings().gazetteer_path)
    response = web.Response(text=layer, content_type="application/json",
                            headers={"Cache-Control": "private, max-age=3600"})
    response.enable_compression()
    return response


def _overview() -> dict:
    with session_scope() as session:
        return queries.map_overview(session, utcnow())


@routes.get("/v1/console/map")
@requires(*MAP_ROLES)
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def operations_map(request: web.Request) -> web.Response:
    """Warning areas with chains and delivery counts, CAT event areas, rescue jobs, providers."""
    overview, role = await in_thread(_overview), principal_of(request).role
    for provider in overview["providers"]:
        provider["phone"] = phone_as_seen_by(role, provider["phone"], PROVIDER)
    return json_response(overview)


GRID = map_dao.AffectedAssetGrid()


def _cells(cell_deg: float, chain_id: int | None, bbox: tuple[float, float, float, float] | None) -> dict:
    with session_scope() as session:
        return GRID.cells(session, map_dao.active_area(session, utcnow(), chain_id), cell_deg, bbox)


def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        west, south, east, north = (float(part) for part in raw.split(","))
    except ValueError:
        raise bad_request("bbox must be west,south,east,north in degrees", field="bbox") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise bad_request("bbox must be west,south,east,north with west < east and south < north", field="bbox")
    return west, south, east, north


@routes.get("/v1/console/map/assets")
@requires(*MAP_ROLES)
@query_parameter("chain_id", {"type": "integer"})
@query_parameter("bbox", {"type": "string"}, description="west,south,east,north")
@query_parameter("cell", {"type": "number"}, description="grid cell size in degrees")
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def affected_assets(request: web.Request) -> web.Response:
    """Insured assets inside the warnings in force, counted into grid cells (?cell=degrees, ?chain_id=, ?bbox=)."""
    try:
        requested = float(request.query["cell"]) if "cell" in request.query else None
    except ValueError:
        raise bad_request("cell must be a size in degrees, e.g. 0.1", field="cell") from None
    if requested is not None and not 0 < requested <= 10:
        raise bad_request("cell must be more than 0 and at most 10 degrees", field="cell")
    chain_id = query_int(request, "chain_id", None)
    cells = await in_thread(_cells, map_dao.cell_size(requested), chain_id,
                            _bbox(request.query.get("bbox")))
    return json_response(cells)


# --- dispatch and approvals ----------------------------------------------------------------------

def _board() -> dict:
    with session_scope() as session:
        return queries.dispatch_board(session, utcnow())


@routes.get("/v1/console/dispatch")
@requires("dispatcher")
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def dispatch_board(request: web.Request) -> web.Response:
    """Pending, offered, accepted and en-route jobs with their nearest free providers; every provider."""
    return json_response(await in_thread(_board))


def _inbox(actor: Principal) -> dict:
    with session_scope() as session:
        return {"payments": queries.approvals_inbox(session, actor)}


@routes.get("/v1/console/approvals")
@requires("supervisor", "manager")
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def approvals(request: web.Request) -> web.Response:
    """Payments waiting for your decision: your level or below, never your own requests."""
    return json_response(await in_thread(_inbox, principal_of(request)))


def _names(user_ids: set[int]) -> dict:
    with session_scope() as session:
        return names_of(session, user_ids)


@routes.get("/v1/console/users")
@requires("dispatcher", "adjuster", "supervisor", "manager")
@query_parameter("ids", {"type": "string"}, description="user ids, comma-separated")
@gives("application/json", schema={"type": "object", "additionalProperties": True})
async def staff_names(request: web.Request) -> web.Response:
    """Names of the users whose ids a page shows (?ids=1,2,3): lease holders, requesters."""
    raw = [part for part in request.query.get("ids", "").split(",") if part]
    ids = {whole_number(part, minimum=1) for part in raw}
    if None in ids or len(raw) > 500:
        raise bad_request("ids must be up to 500 comma-separated user ids", field="ids")
    names = await in_thread(_names, ids)
    return json_response({"users": {str(k): v for k, v in names.items()}})


# --- live updates --------------------------------------------------------------------------------

class ChangeFeed:
    """One database poller per server; every open console page gets its changes through a queue."""

    def __init__(self):
        self.subscribers: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.watching = asyncio.Event()  # set once the poller holds a cursor: changes after it are seen
        self.closed = False

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=256)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.watching.clear()
            self.task = asyncio.get_running_loop().create_task(self._poll())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    async def _poll(self) -> None:
        cursor = None
        while self.subscribers and not self.closed:
            try:
                if cursor is None:
                    cursor = await in_thread(_cursor_now)
                    self.watching.set()
                else:
                    cursor, changes = await in_thread(_changes, cursor)
                    self._publish(changes)
            except Exception:  # a database hiccup must not end the stream for everyone
                log.exception("console change feed: poll failed; retrying")
            await asyncio.sleep(POLL_S)

    def _publish(self, changes: list[dict]) -> None:
        for change in changes:
            for queue in list(self.subscribers):
                if queue.full():
                    queue.get_nowait()  # a stalled page loses the oldest hint, never the newest
                queue.put_nowait(change)

    def close(self) -> None:
        self.closed = True
        for queue in list(self.subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
        if self.task is not None:
            self.task.cancel()


def _cursor_now() -> queries.Cursor:
    with session_scope() as session:
        return queries.current_cursor(session, utcnow())


def _changes(cursor: queries.Cursor) -> tuple[queries.Cursor, list[dict]]:
    with session_scope() as session:
        return queries.changes_since(session, cursor, utcnow())


_feeds: weakref.WeakKeyDictionary[web.Application, ChangeFeed] = weakref.WeakKeyDictionary()


def _feed(app: web.Application) -> ChangeFeed:
    return _feeds.setdefault(app, ChangeFeed())


def visible_change(principal: Principal, change: dict) -> dict | None:
    """What of a change this user may see: customers only hear about their own claims."""
    if principal.role != "customer":
        return change
    own = [c["claim_id"] for c in change.get("claims", ()) if c["customer_id"] == principal.customer_id]
    return {"topic": "claim", "claim_ids": own} if own else None


def _sse(topic: str, data: dict) -> bytes:
    return f"event: {topic}\ndata: {dumps(data)}\n\n".encode()


@routes.get("/v1/console/events")
@requires(*ALL_ROLES)
@gives("text/event-stream", description="Server-Sent Events: what changed")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: warnings, deliveries, rescue, queue, payments, cat_events, complaints (customers:
    claim)."""
    principal = principal_of(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    feed = _feed(request.app)
    queue = feed.subscribe()
    try:
        with contextlib.suppress(TimeoutError):  # a slow database: changes flow once it answers
            await asyncio.wait_for(feed.watching.wait(), timeout=10)
        await response.write(b"retry: 2000\n\n" + _sse("hello", {"role": principal.role}))
        while True:
            try:
                change = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if change is None:
                break
            shown = visible_change(principal, change)
            if shown is not None:
                await response.write(_sse(shown["topic"], shown))
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        feed.unsubscribe(queue)
    return response


async def on_shutdown(app: web.Application) -> None:
    """End every open event stream so the server stops at once instead of waiting for them."""
    feed = _feeds.get(app)
    if feed is not None:
        feed.close()
