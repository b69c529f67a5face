"""Health, metrics, OpenAPI, and who-am-I."""

from __future__ import annotations

import hmac

from aiohttp import web

from config import get_settings
from store.db import ping, session_scope
from store.users import all_users
from web import metrics
from web.common import in_pool, in_thread, json_body, json_response, principal_of, public, requires
from web.errors import ApiError, bad_request, unprocessable
from web.openapi import build_openapi, gives, takes
from web.routes.auth import ACTIVE_SESSION, SignedInView
from web.typed import responds

routes = web.RouteTableDef()


def _queue_status() -> dict:
    settings = get_settings()
    if settings.embedded:
        return {"ok": True, "mode": "in-process"}
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return {"ok": True, "mode": "redis"}
    except redis.RedisError as exc:
        return {"ok": False, "mode": "redis", "error": str(exc)}
    finally:
        client.close()


def _database_status() -> dict:
    try:
        ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": str(exc).splitlines()[0]}


@routes.get("/healthz")
@public
@gives("application/json", schema={"type": "object", "required": ["ok", "database", "queue"],
                                   "properties": {"ok": {"type": "boolean"}, "database": {"type": "object"},
                                                  "queue": {"type": "object"}}})
@gives("application/json", status=503, schema={"type": "object"}, description="the database or the queue is down")
async def healthz(request: web.Request) -> web.Response:
    """Database and task-queue status; 503 when either is down."""
    database = await in_thread(_database_status)
    queue = await in_thread(_queue_status)
    ok = database["ok"] and queue["ok"]
    return json_response({"ok": ok, "database": database, "queue": queue}, status=200 if ok else 503)


async def _render_metrics() -> bytes:
    return await in_pool("metrics", metrics.render)


SCRAPE = web.AppKey("metrics_scrape", metrics.SingleFlight)


async def on_startup(app: web.Application) -> None:
    app[SCRAPE] = metrics.SingleFlight(_render_metrics)


def _check_metrics_token(request: web.Request) -> None:
    token = get_settings().metrics_token
    if not token:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthenticated", "/metrics needs Authorization: Bearer <HAVEN_METRICS_TOKEN>")


@routes.get("/metrics")
@public
@gives("text/plain", description="Prometheus text exposition 0.0.4")
async def prometheus_metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (Authorization: Bearer <token> when HAVEN_METRICS_TOKEN is set)."""
    _check_metrics_token(request)
    body = await request.app[SCRAPE]()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@routes.get("/openapi.json")
@public
@gives("application/json", schema={"type": "object", "additionalProperties": True}, description="an OpenAPI 3.1 document")
async def openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 description, generated from the live routes."""
    return json_response(build_openapi(request.app))


@routes.get("/v1/me")
@requires("customer", "dispatcher", "adjuster", "supervisor", "manager")
@responds(SignedInView)
async def whoami(request: web.Request) -> web.Response:
    """The calling user: id, name, role and customer id.

    For a signed-in browser also the X-CSRF-Token its writes carry (null for API keys), and whether a
    one-time password must be replaced first."""
    p = principal_of(request)
    session = request.get(ACTIVE_SESSION)
    return json_response({"id": p.user_id, "name": p.name, "role": p.role, "customer_id": p.customer_id,
                          "csrf_token": session.csrf_token if session else None,
                          "password_change_required": p.must_change_password})


def _list_users() -> list[dict]:
    with session_scope() as session:
        return [{"id": u.id, "name": u.name, "role": u.role, "customer_id": u.customer_id,
                 "created_at": u.created_at} for u in all_users(session)]


@routes.get("/v1/users")
@requires("admin")
@gives("application/json", schema={"type": "object", "properties": {"users": {"type": "array", "items": {
    "type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                     "role": {"type": "string"}, "customer_id": {"type": ["string", "null"]}}}}}})
async def list_users(request: web.Request) -> web.Response:
    """All users and their roles (admin only)."""
    return json_response({"users": await in_thread(_list_users)})


def _create_user(role: str, name: str, customer_id: str | None) -> dict:
    from store.users import create_user

    with session_scope() as session:
        user, key = create_user(session, role, name, customer_id)
        return {"id": user.id, "name": user.name, "role": user.role, "customer_id": user.customer_id,
                "api_key": key}


@routes.post("/v1/users")
@requires("admin")
@takes("application/json", schema={"type": "object", "required": ["role", "name"], "properties": {
    "role": {"type": "string"}, "name": {"type": "string"}, "customer_id": {"type": ["string", "null"]}}})
@gives("application/json", status=201, schema={"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string"},
    "customer_id": {"type": ["string", "null"]}, "api_key": {"type": "string"}}},
       description="the user, with its API key shown only this once")
async def create_user(request: web.Request) -> web.Response:
    """Create a user with one role; the response carries its API key, shown only this once."""
    body = await json_body(request)
    role, name = body.get("role"), body.get("name")
    if not isinstance(role, str) or not role:
        raise bad_request("role is required", field="role")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required", field="name")
    try:
        created = await in_thread(_create_user, role, name.strip(), body.get("customer_id"))
    except ValueError as exc:
        raise unprocessable(str(exc), field="role" if "role" in str(exc) else "customer_id") from None
    return json_response(created, status=201)
