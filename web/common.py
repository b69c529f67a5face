"""Helpers every route module uses: role checks, JSON bodies, whole numbers, running blocking work off the loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from store.users import Principal
from web.errors import ApiError, bad_request, not_found

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
    refuse_unstorable_text(body)
    return body


# JSON may spell a NUL ("\u0000") or half a surrogate pair ("\ud800"); PostgreSQL keeps neither in text.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refuse_unstorable_text(data: Any) -> None:
    """400 naming the field of the first string in a JSON value that no database column can keep."""
    waiting: list[tuple[str, Any]] = [("", data)]
    while waiting:
        path, value = waiting.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                raise bad_request(f"{path or 'body'} holds a NUL character or half a surrogate pair",
                                  field=path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if UNSTORABLE.search(str(key)):
                    raise bad_request(f"a field name in {path or 'the body'} holds a NUL character or half a "
                                      "surrogate pair", field=path or "body")
                waiting.append((name, item))
        elif isinstance(value, list):
            waiting.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


# str.isdigit() and int() also take digits such as "¹" or "٣"; an id is plain ASCII digits, and never so long
# that int() has to work hard for it.
WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")
LARGEST_ID = 2**31 - 1  # ids are 32-bit integer columns


def whole_number(raw: str | None, *, minimum: int = 0, maximum: int = LARGEST_ID) -> int | None:
    """The value of an ASCII decimal string within [minimum, maximum]; None for anything else."""
    if raw is None or not WHOLE_NUMBER.fullmatch(raw):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def path_id(request: web.Request, name: str = "id", what: str | None = None) -> int:
    """The positive integer id in the path; 404 naming it when it is not one (no such thing can exist)."""
    raw = request.match_info[name]
    value = whole_number(raw, minimum=1)
    if value is None:
        raise not_found(f"{what or name} {raw!r}")
    return value


def query_int(request: web.Request, name: str, default: int | None, *, minimum: int = 1,
              maximum: int = LARGEST_ID) -> int | None:
    """An integer query parameter, or the default when absent; 400 naming it when it is anything else."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw, minimum=minimum, maximum=maximum)
    if value is None:
        raise bad_request(f"{name} must be a whole number from {minimum} to {maximum}, got {raw[:40]!r}",
                          field=name)
    return value


class WorkPools:
    """Dedicated, bounded thread pools: one for request work, a small one for /metrics scrapes.

    The event loop's default executor is shared with everything (to_thread, DNS lookups); a burst of
    slow work there held a customer's claim read for seconds. Here request work waits only for request
    work, and scrapes only for scrapes.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._sizes: dict[str, int] = {}

    def configure(self, **sizes: int) -> None:
        with self._lock:
            for name, size in sizes.items():
                if self._sizes.get(name) == size and name in self._pools:
                    continue
                old = self._pools.pop(name, None)
                self._pools[name] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"haven-{name}")
                self._sizes[name] = size
                if old is not None:
                    old.shutdown(wait=False)

    def get(self, name: str) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            from config import get_settings

            settings = get_settings()
            self.configure(request=settings.api_threads, metrics=settings.metrics_threads)
            with self._lock:
                pool = self._pools[name]
        return pool

    def size(self, name: str) -> int:
        self.get(name)
        return self._sizes[name]


POOLS = WorkPools()


async def in_thread(func: Callable, *args, **kwargs):
    """Run blocking work (database, Celery in the embedded default) on the request pool, off the event loop."""
    return await in_pool("request", func, *args, **kwargs)


async def in_pool(pool: str, func: Callable, *args, **kwargs):
    context = contextvars.copy_context()  # as asyncio.to_thread does, so context variables reach the thread
    call = functools.partial(context.run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(POOLS.get(pool), call)
