"""Per-alert reach: who was told, by which channel, how fast (DESIGN.md, Delivery pipeline: headline metric).

The headline figure is the share of an alert's notifications handed to the provider within 10 s of
the alert's arrival (Alert.received_at -> Notification.sent_at). Its denominator is every notification
the alert meant to send at once: those held for quiet hours (not_before set) wait by design, and those
cancelled (by a Cancel, or an opt-out) were never meant to go; both are reported but not counted.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Alert, Notification

HANDOVER_GOAL_S = 10.0


def _handover(received_at: datetime, rows) -> dict:
    """rows: (sent_at, state, not_before) of one alert's notifications."""
    immediate = [(sent_at, state) for sent_at, state, not_before in rows if not_before is None and state != "cancelled"]
    delays = np.array([(sent_at - received_at).total_seconds() for sent_at, _ in immediate if sent_at is not None])
    within = int((delays <= HANDOVER_GOAL_S).sum()) if delays.size else 0
    return {
        "goal_s": HANDOVER_GOAL_S,
        "immediate": len(immediate),
        "handed_over": int(delays.size),
        "within_goal": within,
        "share_within_goal": round(within / len(immediate), 6) if immediate else None,
        "first_s": round(float(delays.min()), 3) if delays.size else None,
        "median_s": round(float(np.percentile(delays, 50)), 3) if delays.size else None,
        "p99_s": round(float(np.percentile(delays, 99)), 3) if delays.size else None,
        "last_s": round(float(delays.max()), 3) if delays.size else None,
    }


def reach_report(session: Session, alert_id: int) -> dict | None:
    """Counts by channel and state, and the hand-over figures, for one alert; None when it doesn't exist."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    by_channel: dict[str, dict[str, int]] = {}
    by_kind: dict[str, int] = {}
    for channel, kind, state, count in session.execute(
        select(Notification.channel, Notification.kind, Notification.state, func.count())
        .where(Notification.alert_id == alert_id)
        .group_by(Notification.channel, Notification.kind, Notification.state)
    ):
        states = by_channel.setdefault(channel, {})
        states[state] = states.get(state, 0) + count
        by_kind[kind] = by_kind.get(kind, 0) + count
    rows = session.execute(
        select(Notification.sent_at, Notification.state, Notification.not_before)
        .where(Notification.alert_id == alert_id)
    ).all()
    duplicates = session.execute(
        select(func.coalesce(func.sum(Notification.possible_duplicates), 0)).where(Notification.alert_id == alert_id)
    ).scalar_one()
    return {
        "alert_id": alert_id,
        "chain_id": alert.chain_id,
        "msg_type": alert.msg_type,
        "received_at": alert.received_at,
        "notifications": len(rows),
        "customers": session.execute(
            select(func.count(func.distinct(Notification.customer_id))).where(Notification.alert_id == alert_id)
        ).scalar_one(),
        "by_channel": by_channel,
        "by_kind": by_kind,
        "held_for_quiet_hours": sum(1 for _, state, not_before in rows if not_before is not None),
        "possible_duplicates": int(duplicates),
        "handover": _handover(alert.received_at, rows),
    }


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """(channel, state) -> notifications, over the whole table."""
    return {(channel, state): count for channel, state, count in session.execute(
        select(Notification.channel, Notification.state, func.count())
        .group_by(Notification.channel, Notification.state))}


def recent_alert_handover(session: Session, limit: int = 20) -> list[tuple[int, dict]]:
    """The hand-over figures of the most recent alerts that sent anything (for /metrics)."""
    alert_ids = session.execute(
        select(Notification.alert_id).where(Notification.alert_id.is_not(None))
        .group_by(Notification.alert_id).order_by(Notification.alert_id.desc()).limit(limit)
    ).scalars().all()
    figures = []
    for alert_id in alert_ids:
        alert = session.get(Alert, alert_id)
        rows = session.execute(
            select(Notification.sent_at, Notification.state, Notification.not_before)
            .where(Notification.alert_id == alert_id)
        ).all()
        figures.append((alert_id, _handover(alert.received_at, rows)))
    return figures
