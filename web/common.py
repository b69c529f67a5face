"""Helpers every route module uses: role checks, JSON bodies, running blocking work off the loop."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from store.users import Principal
from web.errors import ApiError, bad_request

PRINCIPAL = web.RequestKey("principal", Principal | None)  # set by the auth middleware on every request


def requires(*roles: str):
    """Allow only these roles (admin is always allowed). Recorded on the handler for /openapi.json."""

    def decorate(handler):
        @functools.wraps(handler)
        async def wrapper(request: web.Request):
            principal = request.get(PRINCIPAL)
            if principal is None:
                raise ApiError(401, "unauthenticated", "missing or invalid API key (Authorization: Bearer <key>)")
            if principal.role != "admin" and principal.role not in roles:
                raise ApiError(403, "forbidden", f"role {principal.role!r} may not do this; needs {', '.join(roles)}")
            return await handler(request)

        wrapper.haven_roles = roles
        return wrapper

    return decorate


def public(handler):
    """Mark a handler that needs no API key (health, metrics, webhooks with their own signature)."""
    handler.haven_public = True
    return handler


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _default(value: Any):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False)


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json", headers=headers)


async def json_body(request: web.Request) -> dict:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


async def in_thread(func: Callable, *args, **kwargs):
    """Run blocking work (database, Celery in the embedded default) without stalling the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)
