"""Payments: per claim, the approver's inbox, payouts that stalled, and the counts /metrics reports."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from store.models import Claim, Payment, PaymentInstruction, User
from store.models.greenchannel import PaymentState


def payments_for(session: Session, claim_id: int) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.claim_id == claim_id).order_by(Payment.id)))


def with_key(session: Session, claim_id: int, key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.claim_id == claim_id, Payment.idempotency_key == key))


def approved_not_updated_since(session: Session, cutoff: datetime) -> list[int]:
    """Approved payments untouched since `cutoff`: a worker died between approval and payout."""
    return list(session.scalars(select(Payment.id).where(Payment.state == PaymentState.APPROVED,
                                                         Payment.updated_at < cutoff).order_by(Payment.id)))


def waiting_for(session: Session, roles: list[str], not_requested_by: int) -> list[tuple[Payment, Claim, str]]:
    """Payments pending approval at one of these levels, with their claim and requester's name."""
    return [tuple(row) for row in session.execute(
        select(Payment, Claim, User.name)
        .join(Claim, Claim.id == Payment.claim_id).join(User, User.id == Payment.requested_by)
        .where(Payment.state == PaymentState.PENDING_APPROVAL, Payment.required_role.in_(roles),
               Payment.requested_by != not_requested_by)
        .order_by(Payment.created_at, Payment.id)).all()]


def count_waiting_for(session: Session, roles: list[str], not_requested_by: int) -> int:
    return session.scalar(select(func.count()).select_from(Payment).where(
        Payment.state == PaymentState.PENDING_APPROVAL, Payment.required_role.in_(roles),
        Payment.requested_by != not_requested_by))


def totals_by_state_and_kind(session: Session) -> list[tuple[str, str, int, float]]:
    """(state, kind, count, sum as a float) per pair, counted and summed by the database: Prometheus
    samples are floats by definition, so the float sum is what gets reported."""
    rows = session.execute(select(Payment.state, Payment.kind, func.count(), func.sum(cast(Payment.amount, Float)))
                           .group_by(Payment.state, Payment.kind).order_by(Payment.state, Payment.kind)).all()
    return [(state, kind, count, float(amount or 0)) for state, kind, count, amount in rows]


def amounts_by_state(session: Session, claim_id: int, states) -> list[tuple[str, Decimal]]:
    return [tuple(row) for row in session.execute(select(Payment.state, Payment.amount).where(
        Payment.claim_id == claim_id, Payment.state.in_(states))).all()]


def ids_in_states(session: Session, claim_id: int, states) -> list[int]:
    return list(session.scalars(select(Payment.id).where(Payment.claim_id == claim_id, Payment.state.in_(states))))


def in_states(session: Session, claim_id: int, states) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.claim_id == claim_id, Payment.state.in_(states))))


def undecided_amounts(session: Session, claim_id: int, requester_id: int, states) -> list[Decimal]:
    """Amounts this requester asked for on this claim, in these states, that nobody else decided."""
    return list(session.scalars(select(Payment.amount).where(
        Payment.claim_id == claim_id, Payment.requested_by == requester_id, Payment.state.in_(states),
        Payment.decided_by.is_(None))))


def instruction_for(session: Session, payment_id: int) -> PaymentInstruction | None:
    return session.scalar(select(PaymentInstruction).where(PaymentInstruction.payment_id == payment_id))
