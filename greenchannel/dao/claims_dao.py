"""Claims: listings and the counts /metrics reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from store.models import AuditEvent, CatEvent, Claim, ClaimDocument
from store.models.greenchannel import OPEN_STAGES
from store.users import Principal


def lease_free(now: datetime):
    """Open, not waiting for the customer's documents, and nobody holds a live lease."""
    return and_(Claim.stage.in_(OPEN_STAGES), Claim.awaiting_documents.is_(False),
                or_(Claim.lease_holder_id.is_(None), Claim.lease_expires_at <= now))


def list_claims(session: Session, actor: Principal, *, cat_code: str | None = None, stage: str | None = None,
                limit: int = 100) -> list[Claim]:
    """Newest first; a customer's own only."""
    statement = select(Claim).order_by(Claim.created_at.desc(), Claim.id.desc()).limit(limit)
    if actor.role == "customer":
        statement = statement.where(Claim.customer_id == actor.customer_id)
    if cat_code:
        statement = statement.where(Claim.cat_code == cat_code)
    if stage:
        statement = statement.where(Claim.stage == stage)
    return list(session.scalars(statement))


def filed_with_key(session: Session, customer_id: str, client_ref: str) -> Claim | None:
    """The claim this customer filed with this Idempotency-Key, if any."""
    return session.scalar(select(Claim).where(Claim.customer_id == customer_id, Claim.client_ref == client_ref))


def open_claims_by_track(session: Session) -> dict[bool, int]:
    rows = session.execute(select(Claim.fast_track, func.count()).where(Claim.stage.in_(OPEN_STAGES))
                           .group_by(Claim.fast_track)).all()
    return {bool(track): n for track, n in rows}


def waiting_claims_by_track(session: Session, now: datetime) -> dict[bool, int]:
    rows = session.execute(select(Claim.fast_track, func.count()).where(lease_free(now))
                           .group_by(Claim.fast_track)).all()
    return {bool(track): n for track, n in rows}


def late_claims_by_clock(session: Session, now: datetime) -> dict[str, int]:
    """Open claims past their SLA clock, by clock kind (stage clocks counted together)."""
    rows = session.execute(select(Claim.sla_clock, func.count())
                           .where(Claim.stage.in_(OPEN_STAGES), Claim.sla_due_at < now)
                           .group_by(Claim.sla_clock)).all()
    counts: dict[str, int] = {}
    for clock, n in rows:
        kind = (clock or "none").split(":")[0]
        counts[kind] = counts.get(kind, 0) + n
    return counts


def cat_events_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(CatEvent.status, func.count()).group_by(CatEvent.status)).all())


def owners_of(session: Session, claim_ids: set[int]) -> dict[int, str]:
    if not claim_ids:
        return {}
    return dict(session.execute(select(Claim.id, Claim.customer_id).where(Claim.id.in_(claim_ids))).all())


def history(session: Session, claim_id: int) -> list[AuditEvent]:
    """The claim's audit trail, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.entity == "claim",
                                                         AuditEvent.entity_id == str(claim_id))
                                .order_by(AuditEvent.at, AuditEvent.id)))


def documents_of(session: Session, claim_id: int) -> list[ClaimDocument]:
    return list(session.scalars(select(ClaimDocument).where(ClaimDocument.claim_id == claim_id)
                                .order_by(ClaimDocument.id)))


# The queue's order: priority, then the SLA clock due first, then the oldest.
QUEUE_ORDER = (Claim.priority.desc(), Claim.sla_due_at.asc().nulls_last(), Claim.created_at.asc(), Claim.id.asc())


def queue_listing(session: Session, now: datetime, *, fast_track: bool | None = None, include_leased: bool = True,
                  limit: int = 100) -> list[Claim]:
    conditions = [Claim.stage.in_(OPEN_STAGES)]
    if not include_leased:
        conditions.append(lease_free(now))
    if fast_track is not None:
        conditions.append(Claim.fast_track.is_(fast_track))
    return list(session.scalars(select(Claim).where(*conditions).order_by(*QUEUE_ORDER).limit(limit)))
