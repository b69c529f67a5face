"""Application factory: middlewares (errors, auth, metrics), route modules, embedded periodic tasks."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time

from aiohttp import web

from config import Settings, get_settings
from web import metrics, security_headers
from web.common import POOLS, PRINCIPAL, in_thread, refuse_unstorable_text
from web.errors import ApiError, error_response
from web.routes import auth

log = logging.getLogger(__name__)

# Each module owns one part of the API and exposes `routes`; optionally `collect_metrics()`, `on_startup(app)`
# and `on_shutdown(app)`.
ROUTE_MODULES = [
    "web.routes.system",
    "web.routes.auth",
    "web.routes.alerts",
    "web.routes.feeds",
    "web.routes.book",
    "web.routes.notifications",
    "web.routes.webhooks",
    "web.routes.greenchannel",
    "web.routes.rescue",
    "web.routes.payments",
    "web.routes.customer",
    "web.routes.vocabulary",
    "web.routes.reports",
    "web.routes.docs",
    "web.routes.console",
]

SETTINGS = web.AppKey("settings", Settings)


@web.middleware
async def error_middleware(request: web.Request, handler):
    started = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except web.HTTPRequestEntityTooLarge:
        status = 413
        return error_response(413, "body_too_large", f"request body exceeds the limit of {request.app[SETTINGS].max_body_bytes} bytes")
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; it has been logged")
    finally:
        method = metrics.method_label(request.method)
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


@web.middleware
async def query_middleware(request: web.Request, handler):
    """A query parameter no database can compare (a NUL, half a surrogate pair) is a 400 naming it."""
    refuse_unstorable_text(dict(request.query))
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler):
    # Who is calling, and whether a signed-in browser's write carries its CSRF token (web/routes/auth.py).
    request[PRINCIPAL] = await auth.authenticate(request)
    auth.guard(request)
    return await handler(request)


async def _run_periodic_tasks_in_process(app: web.Application) -> None:
    """The embedded default has no beat process: run the beat schedule from the server's loop."""
    from workers import app as celery_app

    celery_app.loader.import_default_modules()  # task modules add their beat entries when imported
    last_run: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for name, entry in celery_app.conf.beat_schedule.items():
            every = float(entry["schedule"])
            if now - last_run.get(name, 0.0) >= every:
                last_run[name] = now
                task = celery_app.tasks[entry["task"]]
                try:
                    await in_thread(task.apply, args=entry.get("args", ()))
                except Exception:
                    log.exception("periodic task %s failed", name)
        await asyncio.sleep(1.0)


async def _start_periodic(app: web.Application):
    task = asyncio.create_task(_run_periodic_tasks_in_process(app))
    yield
    task.cancel()


def create_app(settings: Settings | None = None, *, run_periodic: bool | None = None) -> web.Application:
    settings = settings or get_settings()
    app = web.Application(middlewares=[error_middleware, query_middleware, auth_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    security_headers.install(app)
    POOLS.configure(request=settings.api_threads, metrics=settings.metrics_threads)
    from workers.wiring import wire

    wire()  # every domain part's rules, and their after-commit effects queued as tasks
    metric_sources = []
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        app.router.add_routes(module.routes)
        if hasattr(module, "collect_metrics"):
            metric_sources.append(module.collect_metrics)
        if hasattr(module, "on_startup"):
            app.on_startup.append(module.on_startup)
        if hasattr(module, "on_shutdown"):  # e.g. ending open event streams, so a stop is not held up
            app.on_shutdown.append(module.on_shutdown)
    metrics.install_domain_sources(metric_sources)
    if run_periodic if run_periodic is not None else settings.embedded:
        app.cleanup_ctx.append(_start_periodic)
    return app
