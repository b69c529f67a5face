"""The trucks `haven demo` registered: found by the audit row the demo writes beside each registration."""

from __future__ import annotations

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from store.models import AuditEvent, RescueProvider


def demo_trucks(session: Session, marked_as: str) -> list[tuple[RescueProvider, int]]:
    """Each provider the demo created, with the user who registered it (oldest first)."""
    return list(session.execute(
        select(RescueProvider, AuditEvent.actor_id)
        .join(AuditEvent, AuditEvent.entity_id == cast(RescueProvider.id, String))
        .where(AuditEvent.entity == "rescue_provider", AuditEvent.action == marked_as)
        .order_by(RescueProvider.id)).all())
