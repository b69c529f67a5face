"""The loss-prevention report's queries: the event, the book inside its box, warnings handed over, claims.

The area test itself (point in multipolygon) is done on the rows returned for the area's bounding box,
by greenchannel.loss_report.inside_area.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from store.audit import record
from store.models import Asset, AuditEvent, CatEvent, Claim, Customer, Notification, Payment
from store.models.greenchannel import ClaimStage, PaymentState
from store.models.notifications import NotificationState

# The first warning of a chain and a rise in severity; all-clears and rescue messages warn of nothing.
WARNING_KINDS = ("warning", "escalation")
HANDED_OVER = (NotificationState.SENT, NotificationState.DELIVERED)
# An event declared over a drawn area has no chains: warnings saved this long before its window count.
LOOKBACK = timedelta(hours=72)
SYNTHETIC = "synthetic_data"
# Claims opened by a reply "1" to a warning SMS carry this intake channel once intake records one.
SMS_REPLY = "sms_reply"


def cat_event(session: Session, event_id: int) -> CatEvent | None:
    return session.get(CatEvent, event_id)


def is_synthetic(session: Session, event_id: int) -> bool:
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.entity == "cat_event", AuditEvent.entity_id == str(event_id),
        AuditEvent.action == SYNTHETIC).limit(1)) is not None


def mark_synthetic(session: Session, event_id: int, note: str) -> None:
    if not is_synthetic(session, event_id):
        record(session, "cat_event", event_id, SYNTHETIC, note=note)


def assets_in_box(session: Session, west: float, south: float, east: float, north: float) -> list:
    """(asset_id, customer_id, kind, lon, lat, phone, sms_opt_out) of every asset in the box."""
    return list(session.execute(
        select(Asset.asset_id, Asset.customer_id, Asset.kind, Asset.lon, Asset.lat, Customer.phone,
               Customer.sms_opt_out)
        .join(Customer, Customer.customer_id == Asset.customer_id)
        .where(Asset.lon.between(west, east), Asset.lat.between(south, north))))


def chains_of(event: CatEvent) -> list[int]:
    chains = set(event.source_chain_ids or [])
    if event.proposed_from_chain_id is not None:
        chains.add(event.proposed_from_chain_id)
    return sorted(chains)


def warnings_sent(session: Session, event: CatEvent) -> list:
    """(customer_id, handed over at or None) of every warning or escalation for the event's chains; for an
    event without chains, of every warning saved from LOOKBACK before its window until its end."""
    statement = select(Notification.customer_id, Notification.state, Notification.sent_at,
                       Notification.final_at).where(
        Notification.kind.in_(WARNING_KINDS))
    chains = chains_of(event)
    if chains:
        statement = statement.where(Notification.chain_id.in_(chains))
    else:
        statement = statement.where(Notification.created_at >= event.window_start - LOOKBACK)
        if event.window_end is not None:
            statement = statement.where(Notification.created_at <= event.window_end)
    return [(customer_id, (sent_at or final_at) if state in HANDED_OVER else None)
            for customer_id, state, sent_at, final_at in session.execute(statement)]


def _claims_of(event: CatEvent):
    in_window = Claim.loss_at >= event.window_start
    if event.window_end is not None:
        in_window = and_(in_window, Claim.loss_at <= event.window_end)
    return and_(Claim.asset_id.is_not(None), Claim.stage != ClaimStage.WITHDRAWN,
                or_(Claim.cat_event_id == event.id, in_window))


def claims(session: Session, event: CatEvent) -> list:
    """(id, asset_id, loss_at, estimate, opened by an SMS reply) of the claims tagged with the event or whose
    loss falls in its window; withdrawn claims are left out."""
    channel = getattr(Claim, "intake_channel", None)  # until intake records a channel, no claim came by reply
    by_reply = (channel == SMS_REPLY) if channel is not None else false()
    return [(claim_id, asset_id, loss_at, estimate, bool(reply)) for claim_id, asset_id, loss_at, estimate, reply
            in session.execute(select(Claim.id, Claim.asset_id, Claim.loss_at, Claim.estimate, by_reply)
                               .where(_claims_of(event)))]


def paid_by_claim(session: Session, event: CatEvent) -> dict[int, Decimal]:
    """What has been paid out on each of those claims (advances and settlements), summed exactly."""
    paid: dict[int, Decimal] = defaultdict(Decimal)
    for claim_id, amount in session.execute(
            select(Payment.claim_id, Payment.amount).join(Claim, Claim.id == Payment.claim_id)
            .where(_claims_of(event), Payment.state == PaymentState.PAID)):
        paid[claim_id] += amount
    return dict(paid)
