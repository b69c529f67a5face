"""The audit trail: one call per state change, in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import AuditEvent


def record(
    session: Session,
    entity: str,
    entity_id: object,
    action: str,
    *,
    actor_id: int | None = None,
    actor_role: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    note: str | None = None,
    data: dict | None = None,
) -> AuditEvent:
    event = AuditEvent(
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        actor_id=actor_id,
        actor_role=actor_role,
        from_state=from_state,
        to_state=to_state,
        note=note,
        data=data,
    )
    session.add(event)
    return event


def latest_event_id(session: Session) -> int:
    """The newest audit row's id (0 when there is none): where a reader of the trail stands."""
    return session.scalar(select(func.max(AuditEvent.id))) or 0


def events_after(session: Session, after_id: int, limit: int) -> list[AuditEvent]:
    """Audit rows newer than `after_id`, oldest first, at most `limit`."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.id > after_id)
                                .order_by(AuditEvent.id).limit(limit)))
