"""Routes: per-alert reach and the outbox (DESIGN.md, Delivery pipeline: headline metric; Interfaces: HTTP)."""

from __future__ import annotations

import re

import numpy as np
from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, case, func, select

from alerts.channels.outbox import list_outbox
from alerts.reach import HANDOVER_GOAL_S, delivery_counts, reach_report
from store.db import is_postgresql, session_scope
from store.models import Alert, Notification
from web.common import in_thread, json_response, query_int, requires, whole_number
from web.errors import bad_request, not_found

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
MAX_PAGE = 500


def _int_param(request: web.Request, name: str, default: int | None = None, minimum: int = 1) -> int | None:
    return query_int(request, name, default, minimum=minimum)


def _reach(alert_id: int) -> dict | None:
    with session_scope() as session:
        return reach_report(session, alert_id)


@routes.get("/v1/alerts/{alert_id}/notifications")
@requires(*STAFF)
async def alert_notifications(request: web.Request) -> web.Response:
    """Reach of one alert: counts by channel and state, share handed over within 10 s, median and p99 delay."""
    alert_id = whole_number(request.match_info["alert_id"], minimum=1)
    if alert_id is None:
        raise bad_request("alert id must be a whole number from 1 to 2147483647", field="alert_id")
    report = await in_thread(_reach, alert_id)
    if report is None:
        raise not_found(f"alert {alert_id}")
    return json_response(report)


PHONE_SEARCH = re.compile(r"^\+?[\d\s().-]{1,40}$")


def _phone_digits(text: str | None) -> str | None:
    """'+86 138-1234 5678' -> '8613812345678'; people type numbers with spaces, dashes and brackets."""
    if text is None or not text.strip():
        return None
    digits = re.sub(r"\D", "", text)
    if not PHONE_SEARCH.match(text.strip()) or not 3 <= len(digits) <= 20:
        raise bad_request("phone must be 3 to 20 digits, optionally with +, spaces, dashes or brackets",
                          field="phone")
    return digits


def _outbox(**filters) -> list[dict]:
    with session_scope() as session:
        return list_outbox(session, **filters)


@routes.get("/v1/outbox")
@requires("admin")
async def outbox(request: web.Request) -> web.Response:
    """Messages stored by the outbox channel (not sent), newest first; filter by channel, alert, customer or
    phone (digits the number contains).
    Admins only: every customer's phone number and message text is personal data (staff see reach counts)."""
    channel = request.query.get("channel") or None
    if channel not in (None, "sms", "push"):
        raise bad_request("channel must be sms or push", field="channel")
    limit = min(_int_param(request, "limit", 50), MAX_PAGE)
    messages = await in_thread(_outbox, channel=channel, alert_id=_int_param(request, "alert_id"),
                               customer_id=request.query.get("customer_id") or None, limit=limit,
                               before_id=_int_param(request, "before_id"),
                               phone_digits=_phone_digits(request.query.get("phone")))
    next_before = messages[-1]["id"] if len(messages) == limit else None
    return json_response({"messages": messages, "next_before_id": next_before})


def _handover_delay_s(session):
    """Seconds from an alert's arrival to a notification's hand-over, as a database expression."""
    if is_postgresql(session):
        return func.extract("epoch", Notification.sent_at - Alert.received_at)
    return (func.julianday(Notification.sent_at) - func.julianday(Alert.received_at)) * 86400.0


def _recent_handover(session, recent: int = 20) -> list[tuple[int, dict]]:
    """Hand-over figures of the most recent alerts that sent anything, aggregated by the database:
    only ids, times and counts cross the wire, never an alert's geometry or raw message."""
    alert_ids = session.execute(
        select(Alert.id).where(select(Notification.id).where(Notification.alert_id == Alert.id).exists())
        .order_by(Alert.id.desc()).limit(recent)).scalars().all()
    if not alert_ids:
        return []
    delay = _handover_delay_s(session)
    immediate = and_(Notification.not_before.is_(None), Notification.state != "cancelled")
    handed = and_(immediate, Notification.sent_at.is_not(None))
    columns = [Notification.alert_id, func.sum(case((immediate, 1), else_=0)),
               func.sum(case((and_(handed, delay <= HANDOVER_GOAL_S), 1), else_=0))]
    if is_postgresql(session):
        columns += [func.percentile_cont(0.5).within_group(delay).filter(handed),
                    func.percentile_cont(0.99).within_group(delay).filter(handed)]
    rows = session.execute(select(*columns).join(Alert, Alert.id == Notification.alert_id)
                           .where(Notification.alert_id.in_(alert_ids)).group_by(Notification.alert_id)).all()
    figures = []
    for row in sorted(rows, key=lambda r: r[0], reverse=True):
        alert_id, immediate_n, within = row[0], int(row[1] or 0), int(row[2] or 0)
        median, p99 = row[3:5] if len(row) > 3 else _quantiles(session, delay, handed, alert_id)
        figures.append((alert_id, {
            "share_within_goal": round(within / immediate_n, 6) if immediate_n else None,
            "median_s": None if median is None else round(float(median), 3),
            "p99_s": None if p99 is None else round(float(p99), 3)}))
    return figures


def _quantiles(session, delay, handed, alert_id: int) -> tuple[float | None, float | None]:
    # SQLite (the embedded default, one laptop's worth of data) has no percentile aggregate
    delays = np.array(session.execute(select(delay).join(Alert, Alert.id == Notification.alert_id)
                                      .where(Notification.alert_id == alert_id, handed)).scalars().all(),
                      dtype=float)
    if not delays.size:
        return None, None
    return float(np.percentile(delays, 50)), float(np.percentile(delays, 99))


def collect_metrics():
    """Notifications by channel and state; hand-over figures of the most recent alerts."""
    with session_scope() as session:
        counts = delivery_counts(session)
        recent = _recent_handover(session)
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
