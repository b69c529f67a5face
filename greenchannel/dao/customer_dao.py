"""What a signed-in customer reads and files about themselves: their assets and their complaints."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Asset, Complaint


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
    """Oldest answer clock first: the complaint that must be answered soonest leads."""
    statement = select(Complaint).order_by(Complaint.answer_due_at, Complaint.id).limit(limit)
    if open_only:
        statement = statement.where(Complaint.answered_at.is_(None))
    if customer_id is not None:
        statement = statement.where(Complaint.customer_id == customer_id)
    return list(session.scalars(statement))
