"""Routes: per-alert reach and the outbox (docs/architecture.md)."""

from __future__ import annotations

import re

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from alerts import requests, responses
from alerts.dao.alerts_dao import chain_history, failure_reasons, held_release, warned_for_alert
from alerts.dao.outbox_dao import list_outbox
from alerts.notifying.failover import router_for
from alerts.notifying.reach import delivery_counts, reach_report, recent_handover
from config import get_settings
from store.db import session_scope
from web.common import in_thread, json_response, principal_of, requires, whole_number
from web.errors import bad_request, not_found
from web.typed import query, responds

routes = web.RouteTableDef()

STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
MAX_PAGE = 500


def _reach(alert_id: int) -> dict | None:
    with session_scope() as session:
        return reach_report(session, alert_id)


@routes.get("/v1/alerts/{alert_id}/notifications")
@requires(*STAFF)
@responds(responses.ReachReport)
async def alert_notifications(request: web.Request) -> web.Response:
    """Reach of one alert: counts by channel and state, share handed over within 10 s, median and p99 delay."""
    alert_id = whole_number(request.match_info["alert_id"], minimum=1)
    if alert_id is None:
        raise bad_request("alert id must be a whole number from 1 to 2147483647", field="alert_id")
    report = await in_thread(_reach, alert_id)
    if report is None:
        raise not_found(f"alert {alert_id}")
    return json_response(report)


OPERATORS = ("supervisor", "manager")


def _alert_id(request: web.Request) -> int:
    alert_id = whole_number(request.match_info["alert_id"], minimum=1)
    if alert_id is None:
        raise bad_request("alert id must be a whole number from 1 to 2147483647", field="alert_id")
    return alert_id


def _warned(alert_id: int, role: str, search: str | None, limit: int, offset: int) -> dict | None:
    with session_scope() as session:
        page = warned_for_alert(session, alert_id, viewer_role=role, search=search, limit=limit, offset=offset)
        if page is not None:
            page["failures"] = failure_reasons(session, alert_id)
            page["held"] = held_release(session, alert_id)
        return page


@routes.get("/v1/alerts/{alert_id}/warned")
@requires(*OPERATORS)
@query(requests.WarnedQuery)
@responds(responses.WarnedPage)
async def alert_warned(request: web.Request, query: requests.WarnedQuery) -> web.Response:
    """Who an alert warned, by name: state, failure code, quiet-hours release; search by part of a name or
    by phone digits. Phones masked except for admins; also the failures counted by reason and the held."""
    alert_id = _alert_id(request)
    search = query.q
    if search is not None and search.strip().replace("+", "").isdigit() and len(search.strip().lstrip("+")) < 3:
        raise bad_request("a phone search needs at least 3 digits", field="q")
    page = await in_thread(_warned, alert_id, principal_of(request).role, search, query.limit, query.offset)
    if page is None:
        raise not_found(f"alert {alert_id}")
    return json_response(page)


def _history(alert_id: int) -> dict | None:
    with session_scope() as session:
        return chain_history(session, alert_id)


@routes.get("/v1/alerts/{alert_id}/history")
@requires("dispatcher", *OPERATORS)
@responds(responses.ChainHistory)
async def alert_history(request: web.Request) -> web.Response:
    """The alert's chain in the order sent: each message's type, time and its own headline per language."""
    alert_id = _alert_id(request)
    history = await in_thread(_history, alert_id)
    if history is None:
        raise not_found(f"alert {alert_id}")
    return json_response(history)


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
@query(requests.OutboxQuery)
@responds(responses.OutboxPage)
async def outbox(request: web.Request, query: requests.OutboxQuery) -> web.Response:
    """Messages stored by the outbox channel (not sent), newest first; filter by channel, alert, customer or
    phone (digits the number contains).
    Admins only: every customer's phone number and message text is personal data (staff see reach counts)."""
    limit = min(query.limit, MAX_PAGE)
    messages = await in_thread(_outbox, channel=query.channel, alert_id=query.alert_id,
                               customer_id=query.customer_id, limit=limit, before_id=query.before_id,
                               phone_digits=_phone_digits(query.phone))
    next_before = messages[-1]["id"] if len(messages) == limit else None
    return json_response({"messages": messages, "next_before_id": next_before})


def collect_metrics():
    """Notifications by channel and state; hand-over figures of the most recent alerts."""
    with session_scope() as session:
        counts = delivery_counts(session)
        recent = recent_handover(session)
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
    yield from _sms_provider_metrics()


def _sms_provider_metrics():
    """Each SMS provider's share of new messages, and how often failover cut or restored it."""
    snapshot = router_for(get_settings()).snapshot()
    share = GaugeMetricFamily("haven_sms_provider_share", "Share of new SMS each provider takes now (failover)",
                              labels=["provider"])
    for provider, value in snapshot["shares"].items():
        share.add_metric([provider], value)
    yield share
    switches = CounterMetricFamily("haven_sms_provider_switches",
                                   "Times failover cut an SMS provider from new messages or restored it",
                                   labels=["provider", "kind"])
    for (provider, kind), count in sorted(snapshot["switches"].items()):
        switches.add_metric([provider, kind], count)
    yield switches
