"""Notifications out and provider receipts in, and the notification states as one StrEnum
(docs/architecture.md, "Delivery states")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import UTCDateTime, utcnow


class NotificationState(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


NOTIFICATION_STATES = tuple(NotificationState)
# Saved or queued but not claimed by a sender yet: a Cancel, an opt-out or the expiry can still stop it.
NOT_YET_SENDING = (NotificationState.CREATED, NotificationState.QUEUED)
# Claimed or handed over, and no final word yet.
IN_FLIGHT = (NotificationState.SENDING, NotificationState.SENT)
# No final word yet, in any way: the map counts these as "pending".
UNFINISHED = (*NOT_YET_SENDING, *IN_FLIGHT)
# The customer was (or is being) told: once per chain, an update only goes to them.
REACHED = (NotificationState.SENDING, NotificationState.SENT, NotificationState.DELIVERED)
NOT_DELIVERED = (NotificationState.FAILED, NotificationState.UNDELIVERED, NotificationState.EXPIRED)
FINAL_STATES = (NotificationState.DELIVERED, *NOT_DELIVERED, NotificationState.CANCELLED)


def _sql_list(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Notification(Base):
    """One message to one customer. Saved before any task is queued; only its id travels."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # (customer, chain, channel, kind) for warnings; (customer, job, channel, kind) for rescue updates.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("alert_chains.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms, push
    kind: Mapped[str] = mapped_column(String(32))  # warning, update, all_clear, rescue_assigned, ...
    recipient: Mapped[str] = mapped_column(String(255))  # E.164 number or push token
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(16))
    segments: Mapped[int | None] = mapped_column(Integer)
    asset_count: Mapped[int | None] = mapped_column(Integer)
    vehicle_count: Mapped[int | None] = mapped_column(Integer)  # the rest of asset_count are properties
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.CREATED)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quiet hours: held until then
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # backoff: next attempt not before
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the alert's: never sent after this
    provider: Mapped[str | None] = mapped_column(String(16))  # outbox, twilio, push
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Times it was handed over again after a send whose outcome was lost (a worker died mid-batch):
    # each one may have reached the customer twice, and is counted in the reach report.
    possible_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A claimed row belongs to its worker until then; the worker renews it while it is alive and sending,
    # and the sweep takes back a row whose lease ran out (its worker died).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # handed to the provider
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The customer's latest answer to a warning SMS (damaged, safe, rescue) and when it came.
    reply: Mapped[str | None] = mapped_column(String(16))
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The customer's place in its fan-out's send order, most exposed first (alerts/notifying/priority.py);
    # a sweep or retry queues again by it. None for messages outside a fan-out (rescue updates, all-clears).
    send_rank: Mapped[int | None] = mapped_column(Integer)

    # The sweep's index: rows not final yet (final_at is set exactly when a row reaches a final state).
    # Claims and receipts find their rows by primary key or provider id, never through this index.
    __table_args__ = (Index("ix_notifications_open", "state", postgresql_where=text("final_at IS NULL"),
                            sqlite_where=text("final_at IS NULL")),
                      # A reply to a warning is matched to the latest warning handed to its number.
                      Index("ix_notifications_recipient_sent_at", "recipient", "sent_at"),
                      CheckConstraint(f"state IN ({_sql_list(NotificationState)})", name="state_known"))


class FanOutLease(Base):
    """Who is fanning out an alert, and until when: renewed while its worker is alive, so the sweep
    resumes a fan-out whose worker died within about one lease, and never runs two at once."""

    __tablename__ = "fan_out_leases"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=1)  # more than 1: resumed after a worker died
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Receipt(Base):
    """A provider status callback, stored as received and applied later."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))  # applied, stale, orphan
    notification_id: Mapped[int | None] = mapped_column(Integer)


class InboundMessage(Base):
    """A message a customer sent us (STOP/START keywords change their SMS opt-out)."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(64), unique=True)  # a retried webhook adds nothing
    from_number: Mapped[str] = mapped_column(String(32), index=True)
    to_number: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))  # opt_out, opt_in, none
    customers_changed: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict] = mapped_column(JSON)
    # A reply to a warning SMS: what it said, the warning it answered and what it opened.
    reply: Mapped[str | None] = mapped_column(String(16))  # damaged, safe, rescue, help, not_warned
    notification_id: Mapped[int | None] = mapped_column(Integer, index=True)
    claim_id: Mapped[int | None] = mapped_column(Integer)
    rescue_job_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
