"""The audit trail: one call per state change, in the same transaction as the change."""

from __future__ import annotations

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
