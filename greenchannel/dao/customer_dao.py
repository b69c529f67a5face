"""What a signed-in customer reads and files about themselves: their assets and their complaints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from store.models import Asset, Claim, Complaint, ComplaintState


def assets_of(session: Session, customer_id: str, limit: int = 200) -> list[Asset]:
    return list(session.scalars(select(Asset).where(Asset.customer_id == customer_id)
                                .order_by(Asset.kind, Asset.asset_id).limit(limit)))


def asset_of(session: Session, customer_id: str, asset_id: str) -> Asset | None:
    asset = session.get(Asset, asset_id)
    return asset if asset is not None and asset.customer_id == customer_id else None


def add_complaint(session: Session, complaint: Complaint) -> Complaint:
    session.add(complaint)
    session.flush()
    return complaint


def complaints(session: Session, *, open_only: bool, customer_id: str | None = None,
               limit: int = 200) -> list[Complaint]:
    """Open ones first, oldest answer clock first: the complaint that must be answered soonest leads."""
    answered_last = case((Complaint.state == ComplaintState.OPEN, 0), else_=1)
    statement = select(Complaint).order_by(answered_last, Complaint.answer_due_at, Complaint.id).limit(limit)
    if open_only:
        statement = statement.where(Complaint.state == ComplaintState.OPEN)
    if customer_id is not None:
        statement = statement.where(Complaint.customer_id == customer_id)
    return list(session.scalars(statement))


def complaint(session: Session, complaint_id: int) -> Complaint | None:
    return session.get(Complaint, complaint_id)


def mark_answered(session: Session, complaint_id: int, answer: str, answered_by: int | None,
                  at: datetime) -> bool:
    """Open -> answered, decided by the database: of two answers racing, exactly one changes the row."""
    changed = session.execute(
        update(Complaint).where(Complaint.id == complaint_id, Complaint.state == ComplaintState.OPEN)
        .values(state=ComplaintState.ANSWERED, answer=answer, answered_by=answered_by, answered_at=at)
        .execution_options(synchronize_session=False))
    return changed.rowcount == 1


def claims_with_assets(session: Session, claim_ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """Claim id -> (stage, kind of the insured asset), to name a claim by what was insured."""
    if not claim_ids:
        return {}
    rows = session.execute(select(Claim.id, Claim.stage, Asset.kind).outerjoin(Asset, Asset.asset_id == Claim.asset_id)
                           .where(Claim.id.in_(claim_ids))).all()
    return {claim_id: (stage, kind) for claim_id, stage, kind in rows}
