"""Routes: per-alert reach and the outbox (DESIGN.md, Delivery pipeline: headline metric; Interfaces: HTTP)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily

from alerts.channels.outbox import list_outbox
from alerts.reach import delivery_counts, reach_report, recent_alert_handover
from store.db import session_scope
from web.common import in_thread, json_response, requires
from web.errors import bad_request, not_found

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
MAX_PAGE = 500


def _int_param(request: web.Request, name: str, default: int | None = None, minimum: int = 1) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}", field=name) from None
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}", field=name)
    return value


def _reach(alert_id: int) -> dict | None:
    with session_scope() as session:
        return reach_report(session, alert_id)


@routes.get("/v1/alerts/{alert_id}/notifications")
@requires(*STAFF)
async def alert_notifications(request: web.Request) -> web.Response:
    """Reach of one alert: counts by channel and state, share handed over within 10 s, median and p99 delay."""
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        raise bad_request("alert id must be an integer", field="alert_id") from None
    report = await in_thread(_reach, alert_id)
    if report is None:
        raise not_found(f"alert {alert_id}")
    return json_response(report)


def _outbox(**filters) -> list[dict]:
    with session_scope() as session:
        return list_outbox(session, **filters)


@routes.get("/v1/outbox")
@requires(*STAFF)
async def outbox(request: web.Request) -> web.Response:
    """Messages stored by the outbox channel (not sent), newest first; filter by channel, alert or customer."""
    channel = request.query.get("channel") or None
    if channel not in (None, "sms", "push"):
        raise bad_request("channel must be sms or push", field="channel")
    limit = min(_int_param(request, "limit", 50), MAX_PAGE)
    messages = await in_thread(_outbox, channel=channel, alert_id=_int_param(request, "alert_id"),
                               customer_id=request.query.get("customer_id") or None, limit=limit,
                               before_id=_int_param(request, "before_id"))
    next_before = messages[-1]["id"] if len(messages) == limit else None
    return json_response({"messages": messages, "next_before_id": next_before})


def collect_metrics():
    """Notifications by channel and state; hand-over figures of the most recent alerts."""
    with session_scope() as session:
        counts = delivery_counts(session)
        recent = recent_alert_handover(session)
    notifications = GaugeMetricFamily("haven_notifications", "Notifications by channel and state",
                                      labels=["channel", "state"])
    for (channel, state), count in sorted(counts.items()):
        notifications.add_metric([channel, state], count)
    yield notifications
    share = GaugeMetricFamily("haven_alert_handover_within_10s_ratio",
                              "Share of an alert's notifications handed to the provider within 10 s of its arrival",
                              labels=["alert_id"])
    delay = GaugeMetricFamily("haven_alert_handover_seconds",
                              "Delay from an alert's arrival to hand-over to the provider",
                              labels=["alert_id", "quantile"])
    for alert_id, figures in recent:
        if figures["share_within_goal"] is not None:
            share.add_metric([str(alert_id)], figures["share_within_goal"])
        for quantile, key in (("0.5", "median_s"), ("0.99", "p99_s")):
            if figures[key] is not None:
                delay.add_metric([str(alert_id), quantile], figures[key])
    yield share
    yield delay
