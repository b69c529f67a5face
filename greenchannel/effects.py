"""Work to run after a transaction commits: queue the notifications and payouts it created.

Business functions call `after_commit(session, kind, ids)`; whoever committed the session reads
`take(session)` and runs each effect (greenchannel.service.run_unit does). Nothing here imports
Celery, so the rules stay plain functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

_KEY = "greenchannel_after_commit"

NOTIFICATIONS = "notifications"  # Notification ids to hand to the notify pipeline
PAYOUTS = "payouts"  # approved Payment ids to send through the payment gateway


def after_commit(session: Session, kind: str, ids: Iterable[int]) -> None:
    ids = [int(i) for i in ids]
    if ids:
        session.info.setdefault(_KEY, []).append((kind, ids))


def take(session: Session) -> dict[str, list[int]]:
    """The effects a session collected, merged by kind; empties the list."""
    merged: dict[str, list[int]] = {}
    for kind, ids in session.info.pop(_KEY, []):
        merged.setdefault(kind, []).extend(ids)
    return merged


def discard(session: Session) -> None:
    session.info.pop(_KEY, None)
