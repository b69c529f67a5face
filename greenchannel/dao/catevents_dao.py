"""CAT events and the alert chains their areas come from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from store.models import Alert, AlertChain, CatEvent
from store.models.greenchannel import CatEventStatus


def alerts_of_chains(session: Session, chain_ids: list[int]) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.chain_id.in_(chain_ids)).order_by(Alert.sent_at)))


def known_chain_ids(session: Session, chain_ids: list[int]) -> set[int]:
    return set(session.scalars(select(AlertChain.id).where(AlertChain.id.in_(chain_ids))))


def open_events_at(session: Session, at: datetime) -> list[CatEvent]:
    """Open events whose window holds `at`, the most recently started first."""
    return list(session.scalars(
        select(CatEvent)
        .where(CatEvent.status == CatEventStatus.OPEN, CatEvent.window_start <= at,
               or_(CatEvent.window_end.is_(None), CatEvent.window_end >= at))
        .order_by(CatEvent.window_start.desc(), CatEvent.id.desc())))


def code_taken(session: Session, code: str) -> bool:
    return session.scalar(select(CatEvent.id).where(CatEvent.code == code)) is not None


def proposed_from_chain(session: Session, chain_id: int) -> CatEvent | None:
    return session.scalar(select(CatEvent).where(CatEvent.proposed_from_chain_id == chain_id))


def list_events(session: Session, status: str | None = None) -> list[CatEvent]:
    """Newest first, optionally of one status."""
    statement = select(CatEvent).order_by(CatEvent.created_at.desc(), CatEvent.id.desc())
    if status:
        statement = statement.where(CatEvent.status == status)
    return list(session.scalars(statement))
