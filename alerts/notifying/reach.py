"""Per-alert reach: who was told, by which channel, how fast (docs/architecture.md).

The headline figure is the share of an alert's notifications handed to the provider within 10 s of
the alert's arrival (Alert.received_at -> Notification.sent_at). Its denominator is every notification
the alert meant to send at once: those held for quiet hours (not_before set) wait by design, and those
cancelled (by a Cancel, or an opt-out) were never meant to go; both are reported but not counted.
`replies` counts the alert's warnings answered 1 damaged, 2 safe and 9 rescue (alerts/notifying/replies.py).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from alerts.notifying.replies import reply_counts
from store.db import is_postgresql
from store.models import Alert, Notification
from store.models.notifications import NotificationState

HANDOVER_GOAL_S = 10.0


def _handover(received_at: datetime, rows) -> dict:
    """rows: (sent_at, state, not_before) of one alert's notifications."""
    immediate = [(sent_at, state) for sent_at, state, not_before in rows if not_before is None and state != NotificationState.CANCELLED]
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
        "replies": reply_counts(session, alert_id),
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


def _handover_delay_s(session):
    """Seconds from an alert's arrival to a notification's hand-over, as a database expression."""
    if is_postgresql(session):
        return func.extract("epoch", Notification.sent_at - Alert.received_at)
    return (func.julianday(Notification.sent_at) - func.julianday(Alert.received_at)) * 86400.0


def recent_handover(session, recent: int = 20) -> list[tuple[int, dict]]:
    """Hand-over figures of the most recent alerts that sent anything, aggregated by the database:
    only ids, times and counts cross the wire, never an alert's geometry or raw message."""
    alert_ids = session.execute(
        select(Alert.id).where(select(Notification.id).where(Notification.alert_id == Alert.id).exists())
        .order_by(Alert.id.desc()).limit(recent)).scalars().all()
    if not alert_ids:
        return []
    delay = _handover_delay_s(session)
    immediate = and_(Notification.not_before.is_(None), Notification.state != NotificationState.CANCELLED)
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
