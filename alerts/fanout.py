"""From a matched alert to saved notifications: read the inputs, apply alerts/targeting.py, save first.

`notify_customers_in_area(alert_id, enqueue)` is the step after matching (DESIGN.md, Delivery pipeline):
it groups the affected assets by customer, plans one message per customer and channel, and saves the
rows in chunks. Each chunk is committed before its ids are handed to `enqueue`, so the first SMS can
leave while later chunks are still being planned, and a crash between the two leaves rows the sweep
re-queues. The unique idempotency key (customer, chain, channel, kind) makes a second run of the same
alert, or two alerts of one chain racing, save nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, cast, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts import matching
from alerts.delivery import cancel_pending
from alerts.targeting import (
    AlertFacts,
    AssetInArea,
    CustomerInArea,
    EarlierMessage,
    Plan,
    Rules,
    plan_all_clear,
    plan_warnings,
    why_not_warned,
)
from config import get_settings
from store.audit import record
from store.db import session_scope
from store.models import Alert, AlertChain, Asset, AuditEvent, Customer, Notification
from store.types import utcnow

log = logging.getLogger(__name__)

CUSTOMERS_PER_CHUNK = 1000
FAN_OUT_DONE = "customers_notified"  # the audit action that marks an alert's fan-out finished
IDS_PER_QUERY = 5000  # keeps IN (...) lists within SQLite's variable limit

Enqueue = Callable[[list[tuple[int, str]]], None]  # [(notification id, channel)] -> queued for sending


@dataclass
class FanOutSummary:
    alert_id: int
    msg_type: str | None = None
    customers: int = 0
    saved: int = 0
    already_saved: int = 0
    held_for_quiet_hours: int = 0
    enqueued: int = 0
    stopped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, plan: Plan) -> None:
        for reason, count in plan.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def notify_customers_in_area(alert_id: int, enqueue: Enqueue, now: datetime | None = None) -> FanOutSummary:
    """Warn every customer with an asset inside the alert's area (or send the all-clear for a Cancel).

    Ends with an audit event "customers_notified", whatever the outcome: the sweep runs again the
    fan-out of any matched alert that lacks one (its worker died half-way).
    """
    now = now or utcnow()
    summary = _fan_out(alert_id, enqueue, now, Rules.from_settings(get_settings()))
    with session_scope() as session:
        record(session, "alert", alert_id, FAN_OUT_DONE, data=_audit_data(summary))
    return summary


def _fan_out(alert_id: int, enqueue: Enqueue, now: datetime, rules: Rules) -> FanOutSummary:
    with session_scope() as session:
        facts = _alert_facts(session, alert_id)
        if facts is None:
            return FanOutSummary(alert_id, skipped={"no_such_alert_or_chain": 1})
        summary = FanOutSummary(alert_id, facts.msg_type)
        if _superseded(session, alert_id):
            summary.skipped["superseded_by_a_newer_message"] = 1
            return summary
        earlier = _earlier_messages(session, facts.chain_id)
        if facts.ends_chain:
            customers = _customers(session, {m.customer_id for m in earlier})
            plans = [plan_all_clear(facts.alert, customers, earlier, now, rules)]
        elif reason := why_not_warned(facts.alert, now, rules):
            summary.skipped[reason] = 1
            return summary
        else:
            customers_inside = _customers_inside(session, facts.alert)
            summary.customers = len(customers_inside)
            plans = (plan_warnings(facts.alert, chunk, earlier, now, rules)
                     for chunk in _chunked(customers_inside, CUSTOMERS_PER_CHUNK))
    for plan in plans:
        summary.add(plan)
        _save_and_enqueue(facts, plan, now, enqueue, summary)
    return summary


def alerts_awaiting_fan_out(session: Session, now: datetime, after_s: float = 300.0,
                            within_s: float = 86_400.0) -> list[int]:
    """Alerts matched more than `after_s` ago (and within the last day) whose fan-out never finished."""
    finished = select(AuditEvent.entity_id).where(AuditEvent.entity == "alert", AuditEvent.action == FAN_OUT_DONE)
    return list(session.execute(
        select(Alert.id).where(Alert.matched_at < now - timedelta(seconds=after_s),
                               Alert.matched_at > now - timedelta(seconds=within_s),
                               cast(Alert.id, String).not_in(finished))
        .order_by(Alert.id)
    ).scalars())


@dataclass(frozen=True)
class _Facts:
    alert: AlertFacts
    expires_at: datetime | None
    ends_chain: bool

    @property
    def chain_id(self) -> int:
        return self.alert.chain_id

    @property
    def msg_type(self) -> str:
        return self.alert.msg_type


def _alert_facts(session: Session, alert_id: int) -> _Facts | None:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.chain_id is None:
        return None
    chain = session.get(AlertChain, alert.chain_id)
    normalized = alert.normalized or {}
    earlier_infos = ()
    ends_chain = bool(getattr(alert, "ends_chain", False)) or alert.msg_type == "Cancel"
    if ends_chain and not normalized.get("infos"):
        for other in session.execute(select(Alert).where(Alert.chain_id == alert.chain_id, Alert.id != alert.id)
                                     .order_by(Alert.sent_at.desc())).scalars():
            if (other.normalized or {}).get("infos"):
                earlier_infos = tuple(other.normalized["infos"])
                break
    facts = AlertFacts(alert_id=alert.id, chain_id=alert.chain_id, status=alert.status, msg_type=alert.msg_type,
                       expires_at=alert.expires_at, infos=tuple(normalized.get("infos") or ()),
                       chain_state=chain.state if chain else "active", earlier_infos=earlier_infos)
    return _Facts(facts, alert.expires_at, ends_chain)


def _superseded(session: Session, alert_id: int) -> bool:
    """A newer message of the chain already arrived: its targeting, not this one's, applies."""
    alert = session.get(Alert, alert_id)
    chain = session.get(AlertChain, alert.chain_id)
    if chain is None or chain.current_alert_id in (None, alert_id):
        return False
    current = session.get(Alert, chain.current_alert_id)
    return current is not None and current.sent_at > alert.sent_at


def _earlier_messages(session: Session, chain_id: int) -> list[EarlierMessage]:
    rows = session.execute(
        select(Notification.id, Notification.customer_id, Notification.channel, Notification.kind,
               Notification.severity, Notification.state, Notification.asset_count, Notification.vehicle_count)
        .where(Notification.chain_id == chain_id).order_by(Notification.id)
    ).all()
    return [EarlierMessage(*row) for row in rows]


def _chunked(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _customer_rows(session: Session, customer_ids: Sequence[str]) -> dict[str, Customer]:
    found = {}
    ids = list(customer_ids)
    for chunk in _chunked(ids, IDS_PER_QUERY):
        for customer in session.execute(select(Customer).where(Customer.customer_id.in_(chunk))).scalars():
            found[customer.customer_id] = customer
    return found


def _customer_in_area(customer: Customer, assets: tuple[AssetInArea, ...] = ()) -> CustomerInArea:
    return CustomerInArea(customer.customer_id, customer.phone, customer.locale, customer.time_zone,
                          customer.sms_opt_out, customer.push_opt_out, customer.push_token, assets)


def _customers(session: Session, customer_ids: set[str]) -> dict[str, CustomerInArea]:
    return {cid: _customer_in_area(c) for cid, c in _customer_rows(session, sorted(customer_ids)).items()}


def _customers_inside(session: Session, alert: AlertFacts) -> list[CustomerInArea]:
    """The customers with at least one asset in the area (the margin is the matcher's), with those assets."""
    stored = session.get(Alert, alert.alert_id)
    asset_ids = [str(a) for a in matching.affected_assets(session, stored)]
    assets_of: dict[str, list[AssetInArea]] = {}
    for chunk in _chunked(asset_ids, IDS_PER_QUERY):
        for asset_id, customer_id, kind, address in session.execute(
            select(Asset.asset_id, Asset.customer_id, Asset.kind, Asset.address).where(Asset.asset_id.in_(chunk))
        ):
            assets_of.setdefault(customer_id, []).append(AssetInArea(asset_id, kind, address))
    customers = _customer_rows(session, sorted(assets_of))
    return [_customer_in_area(customers[cid], tuple(sorted(assets_of[cid], key=lambda a: a.asset_id)))
            for cid in sorted(assets_of) if cid in customers]


def _save_and_enqueue(facts: _Facts, plan: Plan, now: datetime, enqueue: Enqueue, summary: FanOutSummary) -> None:
    with session_scope() as session:
        why = "the warning was cancelled" if facts.ends_chain else "superseded by a newer message of the chain"
        summary.stopped += cancel_pending(session, plan.cancel_ids, now, why)
        saved = _insert(session, facts, plan, now)
    summary.saved += len(saved)
    summary.already_saved += len(plan.messages) - len(saved)
    due = [(nid, channel) for nid, channel, state in saved if state == "queued"]
    summary.held_for_quiet_hours += len(saved) - len(due)
    if due:
        enqueue(due)
        summary.enqueued += len(due)


def _insert(session: Session, facts: _Facts, plan: Plan, now: datetime) -> list[tuple[int, str, str]]:
    """Save the planned rows; a key that already exists is left alone. Returns (id, channel, state) saved."""
    if not plan.messages:
        return []
    rows = [{
        "idempotency_key": m.idempotency_key, "customer_id": m.customer_id, "chain_id": facts.chain_id,
        "alert_id": facts.alert.alert_id, "channel": m.channel, "kind": m.kind, "recipient": m.recipient,
        "body": m.body, "language": m.language, "severity": m.severity, "segments": m.segments,
        "asset_count": m.asset_count, "vehicle_count": m.vehicle_count, "not_before": m.not_before,
        "expires_at": facts.expires_at, "state": "created" if m.not_before else "queued",
        "queued_at": None if m.not_before else now, "attempts": 0, "possible_duplicates": 0,
        "created_at": now, "updated_at": now,
    } for m in plan.messages]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(Notification).on_conflict_do_nothing(index_elements=["idempotency_key"])
                 .returning(Notification.id, Notification.channel, Notification.state))
    return [tuple(row) for row in session.execute(statement, rows).all()]


def _audit_data(summary: FanOutSummary) -> dict:
    return {"msg_type": summary.msg_type, "customers": summary.customers, "saved": summary.saved,
            "already_saved": summary.already_saved, "held_for_quiet_hours": summary.held_for_quiet_hours,
            "enqueued": summary.enqueued, "stopped": summary.stopped, "skipped": summary.skipped}
