"""Routes: feeds and their health (docs/architecture.md), plus feed gauges for /metrics."""

from __future__ import annotations

import re

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily

from alerts import requests, responses, service
from alerts.dao import alerts_dao
from alerts.reading import feedstate
from store.db import session_scope
from store.models.alerts import FeedHealth
from store.types import utcnow
from web.common import in_thread, json_response, path_id, principal_of, requires
from web.errors import not_found, unprocessable
from web.typed import body, responds

routes = web.RouteTableDef()



def _add(body: dict, actor_id: int) -> dict:
    with session_scope() as session:
        feed = feedstate.add_feed(session, body.get("url"), body.get("kind"), body.get("every", 60),
                                  enabled=bool(body.get("enabled", True)),
                                  require_signature=bool(body.get("require_signature", False)),
                                  admin_code=body.get("admin_code"), name=body.get("name"), actor_id=actor_id)
        feed_id, kind = feed.id, feed.kind
    if kind in feedstate.POINT_KINDS:
        _choose_points(feed_id)
    with session_scope() as session:
        return _feed_json(session, session.get(feedstate.Feed, feed_id), utcnow())


def _choose_points(feed_id: int) -> None:
    """Points chosen at registration, so the response already says how many assets no point covers."""
    import logging

    from alerts.reading.qweather_polling import prepare_points

    try:
        prepare_points(None, feed_id, force=False, refresh=True)
    except Exception:  # an unreadable gazetteer must not undo the registration; the first poll reports it
        logging.getLogger(__name__).exception("feed %s: points not chosen yet", feed_id)


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_ERROR_WORDS = (("CredentialsMissing", "no_credentials"), ("timed out", "timeout"), ("exceeds", "too_large"),
                ("unreadable content", "unreadable"), ("linked CAP message", "links_failed"),
                ("Client", "unreachable"), ("Cannot connect", "unreachable"), ("Disconnected", "unreachable"),
                ("Gazetteer", "gazetteer"))


def error_kind(error: str | None) -> str | None:
    """What went wrong, as one word the console puts into the reader's language. The texts are the feed
    pollers' own; the first HTTP status they name decides."""
    if not error:
        return None
    status = _HTTP_STATUS.search(error)
    if status:
        code = int(status.group(1))
        if code in (401, 403):
            return "refused_credentials"
        if code == 429:
            return "rate_limited"
        if code in (404, 410):
            return "not_found"
        return "provider_error" if code >= 500 else "bad_request"
    return next((kind for words, kind in _ERROR_WORDS if words in error), "other")


def _with_error_kinds(found: dict) -> dict:
    health = found["health"]
    health["last_error_kind"] = error_kind(health.get("last_error"))
    for point in health.get("points") or ():
        point["last_error_kind"] = error_kind(point.get("last_error"))
    return found


def _feed_json(session, feed, now) -> dict:
    from alerts.reading.qweather_points import points_json

    points = points_json(session, [feed.id]).get(feed.id) if feed.kind in feedstate.POINT_KINDS else None
    return _with_error_kinds(feedstate.feed_json(feed, now, points))


@routes.post("/v1/feeds")
@requires("supervisor", "manager")
@body(requests.FeedRegistration, arg="registration")
@responds(responses.FeedView, status=201)
async def add_feed(request: web.Request, registration: requests.FeedRegistration) -> web.Response:
    """Register a feed to poll: url, kind, every (e.g. "60s"), optional admin_code, require_signature."""
    body = registration.model_dump()
    try:
        created = await in_thread(_add, body, principal_of(request).user_id)
    except feedstate.FeedRejected as exc:
        raise unprocessable(str(exc), field=exc.field) from None
    return json_response(created, status=201)


def _list() -> list[dict]:
    now = utcnow()
    with session_scope() as session:
        feeds = feedstate.list_feeds(session)
        from alerts.reading.qweather_points import points_json

        points = points_json(session, [f.id for f in feeds if f.kind in feedstate.POINT_KINDS])
        return [_with_error_kinds(feedstate.feed_json(feed, now, points.get(feed.id))) for feed in feeds]


@routes.get("/v1/feeds")
@requires("dispatcher", "supervisor", "manager")
@responds(responses.FeedList)
async def list_feeds(request: web.Request) -> web.Response:
    """Every feed with its health: status, last success, last error, consecutive failures, alerts seen; index
    entries without a CAP link; for QWeather v1 feeds each point's last answer and error, and the book assets
    outside the gazetteer. last_error_kind names the trouble in one word (refused_credentials, rate_limited,
    provider_error, not_found, bad_request, timeout, unreachable, too_large, unreadable, links_failed,
    no_credentials, gazetteer, other)."""
    return json_response({"feeds": await in_thread(_list)})


def _poll(feed_id: int) -> list[dict]:
    return service.poll_feeds(feed_ids=[feed_id], force=True)


@routes.post("/v1/feeds/{id}/poll")
@requires("supervisor", "manager")
@responds(responses.PollResult)
async def poll_feed(request: web.Request) -> web.Response:
    """Poll one feed now (unless a poll of it is already running)."""
    feed_id = path_id(request, what="feed")
    results = await in_thread(_poll, feed_id)
    if not results:
        raise not_found(f"feed {feed_id} (or it is disabled, or being polled right now)")
    return json_response(results[0])


def collect_metrics():
    """Feed health gauges and the quarantine size, read at scrape time."""
    now = utcnow()
    up = GaugeMetricFamily("haven_feed_up", "1 when the feed's health is ok", labels=["feed_id", "kind"])
    state = GaugeMetricFamily("haven_feed_health", "1 for the feed's current health state",
                              labels=["feed_id", "state"])
    failures = GaugeMetricFamily("haven_feed_consecutive_failures", "Failed polls in a row", labels=["feed_id"])
    silent = GaugeMetricFamily("haven_feed_seconds_since_success", "Seconds since the last successful poll",
                               labels=["feed_id"])
    seen = GaugeMetricFamily("haven_feed_alerts_seen", "New alerts stored from the feed", labels=["feed_id"])
    with session_scope() as session:
        feeds = feedstate.list_feeds(session)
        quarantined = alerts_dao.quarantine_size(session)
        for feed in feeds:
            health = feedstate.health(feed, now)
            key = str(feed.id)
            up.add_metric([key, feed.kind], 1.0 if health["status"] == FeedHealth.OK else 0.0)
            for name in FeedHealth:
                state.add_metric([key, name], 1.0 if health["status"] == name else 0.0)
            failures.add_metric([key], float(feed.consecutive_failures or 0))
            silent.add_metric([key], float(health["silent_for_s"]))
            seen.add_metric([key], float(feed.alerts_seen or 0))
    yield from (up, state, failures, silent, seen)
    yield GaugeMetricFamily("haven_quarantined_messages", "Messages refused at ingest and kept", value=quarantined)
