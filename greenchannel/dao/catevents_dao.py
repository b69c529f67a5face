"""CAT events and the alert chains their areas come from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from store.models import Alert, AlertChain, CatEvent, CatEventChain, Claim
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


def event_of_chain(session: Session, chain_id: int) -> CatEvent | None:
    """The event the chain belongs to (proposed, open, merged or dismissed), if any."""
    return session.scalar(select(CatEvent).join(CatEventChain, CatEventChain.cat_event_id == CatEvent.id)
                          .where(CatEventChain.chain_id == chain_id))


def links_of_chains(session: Session, chain_ids: list[int]) -> list[CatEventChain]:
    return list(session.scalars(select(CatEventChain).where(CatEventChain.chain_id.in_(chain_ids))
                                .order_by(CatEventChain.chain_id)))


def chains_of_event(session: Session, event_id: int) -> list[CatEventChain]:
    return list(session.scalars(select(CatEventChain).where(CatEventChain.cat_event_id == event_id)
                                .order_by(CatEventChain.chain_id)))


def claims_tagged(session: Session, event_ids: list[int]) -> dict[int, int]:
    """How many claims each event tagged."""
    if not event_ids:
        return {}
    return dict(session.execute(select(Claim.cat_event_id, func.count()).where(Claim.cat_event_id.in_(event_ids))
                                .group_by(Claim.cat_event_id)).all())
