"""What the outbox channel kept instead of sending: the console's list of messages that would have gone out."""

from __future__ import annotations

from sqlalchemy import or_, select

from alerts.notifying.channels.outbox import Outbox
from store.models import Customer, Notification


def list_outbox(session, channel: str | None = None, alert_id: int | None = None, customer_id: str | None = None,
                limit: int = 50, before_id: int | None = None, phone_digits: str | None = None) -> list[dict]:
    """What the outbox holds, newest first (the console's list of messages that would have gone out).
    phone_digits finds messages whose number, or whose customer's number (for push), contains those digits."""
    query = (select(Notification, Customer.phone, Customer.name)
             .outerjoin(Customer, Customer.customer_id == Notification.customer_id)
             .where(Notification.provider == Outbox.provider).order_by(Notification.id.desc()).limit(limit))
    for column, value in ((Notification.channel, channel), (Notification.alert_id, alert_id),
                          (Notification.customer_id, customer_id)):
        if value is not None:
            query = query.where(column == value)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    if phone_digits:
        query = query.where(or_(Notification.recipient.contains(phone_digits, autoescape=True),
                                Customer.phone.contains(phone_digits, autoescape=True)))
    return [{
        "id": n.id, "channel": n.channel, "kind": n.kind, "customer_id": n.customer_id, "recipient": n.recipient,
        "customer_phone": phone, "customer_name": name,
        "body": n.body, "language": n.language, "severity": n.severity, "segments": n.segments,
        "asset_count": n.asset_count, "alert_id": n.alert_id, "chain_id": n.chain_id, "state": n.state,
        "created_at": n.created_at, "sent_at": n.sent_at,
    } for n, phone, name in session.execute(query)]
