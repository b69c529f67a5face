"""The receipts half of an SMS provider's health: how long its delivered messages took (alerts/notifying/providers.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from store.db import is_postgresql
from store.models import Notification, Receipt
from store.models.notifications import NotificationState


def delivery_latency(session: Session, since: datetime, slow_s: float) -> dict[str, tuple[int, int]]:
    """provider -> (messages whose delivered receipt was applied since `since`, those of them that took
    longer than `slow_s` from hand-over to receipt). Reads the receipts by their processed_at index."""
    if is_postgresql(session):
        took_s = func.extract("epoch", Receipt.received_at - Notification.sent_at)
    else:
        took_s = (func.julianday(Receipt.received_at) - func.julianday(Notification.sent_at)) * 86400.0
    rows = session.execute(
        select(Notification.provider, func.count(), func.sum(case((took_s > slow_s, 1), else_=0)))
        .join(Notification, Notification.id == Receipt.notification_id)
        .where(Receipt.processed_at >= since, Receipt.outcome == "applied",
               Notification.state == NotificationState.DELIVERED)
        .group_by(Notification.provider)).all()
    return {provider: (count, int(slow or 0)) for provider, count, slow in rows if provider}
