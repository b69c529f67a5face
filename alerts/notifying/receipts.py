"""Provider receipts and inbound keywords (docs/architecture.md).

The webhook stores a status callback as it came and answers at once; `apply_receipt` moves the
notification later. Statuses only ever move a notification forward (sent -> delivered, never back),
and a final state is final, so a receipt that arrives twice or out of order changes nothing. A receipt
may also arrive before the send task has recorded the provider's message id: it then waits, and is
applied as soon as the id is known (or by the sweep); one that never finds its message is set aside
as an orphan after a while.
Inbound STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt the number out of SMS; START, YES, UNSTOP
opt it back in (Twilio's standard keywords; the provider enforces them too). Any other inbound SMS may be
a reply to a warning (alerts/notifying/replies.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.notifying.channels.aliyun_sms import PROVIDER as ALIYUN
from alerts.notifying.channels.aliyun_sms import SmsReport
from alerts.notifying.delivery import UNSUBSCRIBED, opt_out_recipients_of
from store.audit import record
from store.bulk import one_of
from store.db import is_postgresql
from store.models import Customer, InboundMessage, Notification, Receipt
from store.models.notifications import FINAL_STATES, NOT_DELIVERED, NotificationState
from store.types import utcnow

# Twilio MessageStatus -> our state. The provider-side steps before "sent" say nothing new to us.
TWILIO_STATUS = {
    "accepted": NotificationState.SENT, "scheduled": NotificationState.SENT, "queued": NotificationState.SENT,
    "sending": NotificationState.SENT, "sent": NotificationState.SENT,
    "delivered": NotificationState.DELIVERED, "read": NotificationState.DELIVERED,
    "undelivered": NotificationState.UNDELIVERED, "failed": NotificationState.FAILED,
    "canceled": NotificationState.FAILED,
}
RANK = {NotificationState.SENDING: 0, NotificationState.SENT: 1,
        **{final: 2 for final in (NotificationState.DELIVERED, *NOT_DELIVERED)}}
FINAL = set(FINAL_STATES)
ORPHAN_AFTER = timedelta(hours=1)

OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN_WORDS = {"START", "YES", "UNSTOP"}
INBOUND_BODY_MAX = 1600  # Twilio's longest message


class ReceiptError(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _optional(params: Mapping[str, str], name: str, longest: int) -> str | None:
    value = (params.get(name) or "").strip() or None
    if value is not None and len(value) > longest:
        raise ReceiptError(f"{name} is longer than {longest} characters", field=name)
    return value


def _required(params: Mapping[str, str], name: str, longest: int) -> str:
    value = _optional(params, name, longest)
    if value is None:
        raise ReceiptError(f"{name} is required", field=name)
    return value


def receipt_from_callback(params: Mapping[str, str]) -> Receipt:
    """A Twilio status callback as a Receipt to keep exactly as received (the webhook has checked its signature).

    Everything that could make the row fail to store is checked here, so a bad callback is refused on its own
    and never spoils the batch it would have been written with.
    """
    message_id = _required(params, "MessageSid", 64)
    status = _required(params, "MessageStatus", 32).lower()
    if status not in TWILIO_STATUS:
        raise ReceiptError(f"unknown MessageStatus {status!r}", field="MessageStatus")
    return Receipt(provider="twilio", provider_message_id=message_id, status=status,
                   error_code=_optional(params, "ErrorCode", 32), payload=dict(params))


def receipt_from_report(report: SmsReport) -> Receipt:
    """An Alibaba Cloud SmsReport item (checked by its model) as a Receipt, keyed by the BizId SendSms gave:
    from here on it is applied exactly like a Twilio callback (late, early and duplicate ones alike)."""
    return Receipt(provider=ALIYUN, provider_message_id=report.biz_id, status=report.status,
                   error_code=report.error_code, payload=report.model_dump(mode="json"))


@dataclass(frozen=True)
class Applied:
    receipt_id: int
    outcome: str  # applied, stale, orphan, waiting, done (already processed)
    notification_id: int | None = None
    state: str | None = None


def apply_receipt(session: Session, receipt_id: int, now: datetime | None = None) -> Applied:
    now = now or utcnow()
    receipt = session.get(Receipt, receipt_id)
    if receipt is None or receipt.processed_at is not None:
        return Applied(receipt_id, "done")
    notification = session.execute(
        select(Notification).where(Notification.provider == receipt.provider,
                                   Notification.provider_message_id == receipt.provider_message_id)
    ).scalar_one_or_none()
    if notification is None:
        if receipt.received_at > now - ORPHAN_AFTER:
            return Applied(receipt_id, "waiting")
        return _close(session, receipt, "orphan", None, now)
    target = TWILIO_STATUS[receipt.status]
    current = notification.state
    if current in FINAL or RANK[target] <= RANK.get(current, 0):
        return _close(session, receipt, "stale", notification, now)
    final = target in FINAL
    moved = session.execute(
        update(Notification).where(Notification.id == notification.id, Notification.state == current)
        .values(state=target, final_at=now if final else None, updated_at=now,
                error_code=receipt.error_code or notification.error_code,
                last_error=f"provider reported {receipt.status}" + (f" ({receipt.error_code})" if receipt.error_code else "")
                if target in (NotificationState.UNDELIVERED, NotificationState.FAILED) else notification.last_error)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:  # another receipt moved it first; this one is now judged against the new state
        session.expire(notification)
        return apply_receipt(session, receipt_id, now)
    if receipt.error_code == UNSUBSCRIBED:
        opt_out_recipients_of(session, [notification.id], "provider reported the number unsubscribed (21610)")
    return _close(session, receipt, "applied", notification, now, target)


def _close(session: Session, receipt: Receipt, outcome: str, notification: Notification | None,
           now: datetime, state: str | None = None) -> Applied:
    receipt.processed_at = now
    receipt.outcome = outcome
    receipt.notification_id = notification.id if notification else None
    return Applied(receipt.id, outcome, receipt.notification_id, state or (notification.state if notification else None))


def pending_receipt_ids(session: Session, provider_message_ids: Sequence[str] | None = None,
                        limit: int = 5000) -> list[int]:
    """Receipts not applied yet, oldest first (optionally only those for these provider message ids)."""
    query = select(Receipt.id).where(Receipt.processed_at.is_(None)).order_by(Receipt.id).limit(limit)
    if provider_message_ids is not None:
        if not provider_message_ids:
            return []
        query = query.where(one_of(session, Receipt.provider_message_id, provider_message_ids))
    return list(session.execute(query).scalars())


# --- inbound keywords ----------------------------------------------------------------------------

def keyword_action(body: str) -> str:
    word = (body or "").strip().upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    return "none"


def _storable(params: Mapping[str, str]) -> None:
    """Every field is kept as sent, so each must be text the database can hold: no NUL, no half surrogate pair."""
    for name, value in params.items():
        if not _text(name):
            raise ReceiptError("a form field's name holds a NUL character or half a surrogate pair", field="body")
        if not _text(value):
            raise ReceiptError(f"{name[:64]} holds a NUL character or half a surrogate pair", field=name[:64])


def _text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def handle_inbound(session: Session, params: Mapping[str, str]) -> InboundMessage:
    """Record an inbound SMS once (a retried webhook changes nothing) and apply its STOP/START keyword."""
    return record_inbound(session, params)[0]


def record_inbound(session: Session, params: Mapping[str, str]) -> tuple[InboundMessage, bool]:
    """handle_inbound, also saying whether this post is the first of its MessageSid: the unique key decides,
    so a provider posting twice (even at once) gets True once, and only that post may act on a reply."""
    _storable(params)
    message_id = _required(params, "MessageSid", 64)
    sender = _required(params, "From", 32)
    recipient = _optional(params, "To", 32)
    body = params.get("Body") or ""
    if len(body) > INBOUND_BODY_MAX:
        raise ReceiptError(f"Body is longer than {INBOUND_BODY_MAX} characters, the most an SMS carries", field="Body")
    action = keyword_action(body)
    dialect = postgresql if is_postgresql(session) else sqlite
    inserted = session.execute(
        dialect.insert(InboundMessage).values(
            provider="twilio", provider_message_id=message_id, from_number=sender, to_number=recipient,
            body=body, action=action, customers_changed=0, payload=dict(params), received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["provider_message_id"])
        .returning(InboundMessage.id)
    ).scalar_one_or_none()
    inbound = session.execute(
        select(InboundMessage).where(InboundMessage.provider_message_id == message_id)).scalar_one()
    if inserted is None or action == "none":
        return inbound, inserted is not None
    opted_out = action == "opt_out"
    customers = session.execute(
        select(Customer).where(Customer.phone == sender, Customer.sms_opt_out.is_(not opted_out))
    ).scalars().all()
    for customer in customers:
        customer.sms_opt_out = opted_out
        record(session, "customer", customer.customer_id, "sms_opt_out" if opted_out else "sms_opt_in",
               from_state="in" if opted_out else "out", to_state="out" if opted_out else "in",
               note=f"replied {body.strip().upper()}", data={"inbound_message_id": inbound.id})
    inbound.customers_changed = len(customers)
    return inbound, True
