"""Manual warnings in the database: the book's owners and channels for the reach (alerts/reach_book.py),
and the state transitions decided by conditional UPDATEs so that of two approvals, or an approval racing
a rejection or the expiry, exactly one wins (docs/architecture.md, "Manual warnings")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from store.models import Asset, Customer
from store.models.alerts import MANUAL_WAITING, ManualWarning, ManualWarningState
from store.users import names_of

READ_BATCH = 200_000
_CUSTOMER_COLUMNS = (Customer.customer_id, Customer.phone, Customer.sms_opt_out, Customer.push_token,
                     Customer.push_opt_out)
_ASSET_COLUMNS = (Asset.asset_id, Asset.customer_id, Asset.kind)


def _batches(session: Session, query) -> Iterator[list[tuple]]:
    for batch in session.execute(query.execution_options(yield_per=READ_BATCH)).partitions():
        yield [tuple(row) for row in batch]


def customer_batches(session: Session, since: datetime | None = None) -> Iterator[list[tuple]]:
    """(customer_id, phone, sms_opt_out, push_token, push_opt_out), all or changed since, in batches."""
    query = select(*_CUSTOMER_COLUMNS)
    return _batches(session, query if since is None else query.where(Customer.updated_at >= since))


def asset_batches(session: Session, since: datetime | None = None) -> Iterator[list[tuple]]:
    """(asset_id, customer_id, kind), all or changed since, in batches."""
    query = select(*_ASSET_COLUMNS)
    return _batches(session, query if since is None else query.where(Asset.updated_at >= since))


def add(session: Session, **columns) -> ManualWarning:
    warning = ManualWarning(**columns)
    session.add(warning)
    session.flush()
    return warning


def get(session: Session, warning_id: int) -> ManualWarning | None:
    return session.get(ManualWarning, warning_id)


def expire_due(session: Session, now: datetime) -> list[tuple[int, str, datetime]]:
    """Waiting warnings past their deadline become expired: (id, state before, deadline) of each."""
    due = list(session.execute(select(ManualWarning.id, ManualWarning.state, ManualWarning.wait_until).where(
        ManualWarning.state.in_(MANUAL_WAITING), ManualWarning.wait_until <= now)).all())
    expired = []
    for warning_id, before, deadline in due:
        changed = session.execute(
            update(ManualWarning).where(ManualWarning.id == warning_id, ManualWarning.state == before)
            .values(state=ManualWarningState.EXPIRED, decided_at=now)).rowcount
        if changed:
            expired.append((warning_id, before, deadline))
    return expired


def decide(session: Session, warning_id: int, from_state: str, to_state: ManualWarningState, now: datetime, *,
           actor_id: int, reason: str | None = None) -> bool:
    """Move one waiting warning on, only if it is still in `from_state` and not past its deadline: True
    for the one caller whose UPDATE changed the row."""
    return bool(session.execute(
        update(ManualWarning)
        .where(ManualWarning.id == warning_id, ManualWarning.state == from_state, ManualWarning.wait_until > now)
        .values(state=to_state, decided_by=actor_id, decided_at=now, reason=reason)).rowcount)


def listing(session: Session, *, state: str | None, submitted_by: int | None, limit: int) -> list[ManualWarning]:
    query = (select(ManualWarning).options(defer(ManualWarning.raw), defer(ManualWarning.area_geojson))
             .order_by(ManualWarning.id.desc()).limit(limit))
    if state:
        query = query.where(ManualWarning.state == state)
    if submitted_by is not None:
        query = query.where(ManualWarning.submitted_by == submitted_by)
    return list(session.execute(query).scalars())


def waiting_for_approval(session: Session, exclude_submitter: int) -> int:
    return session.scalar(select(func.count()).where(ManualWarning.state == ManualWarningState.AWAITING_APPROVAL,
                                                     ManualWarning.submitted_by != exclude_submitter)) or 0


def warning_json(warning: ManualWarning, names: dict[int, str], viewer_id: int, may_approve: bool,
                 with_area: bool = False) -> dict:
    mine = warning.submitted_by == viewer_id
    waiting = warning.state in MANUAL_WAITING
    data = {
        "id": warning.id, "state": warning.state, "format": warning.format, "summary": warning.summary,
        "reach": warning.reach, "customers": warning.customers,
        "submitted_by": names.get(warning.submitted_by), "submitted_at": warning.submitted_at, "mine": mine,
        "wait_until": warning.wait_until, "decided_by": names.get(warning.decided_by) if warning.decided_by else None,
        "decided_at": warning.decided_at, "reason": warning.reason, "alert_ids": warning.alert_ids or [],
        "may_confirm": mine and warning.state == ManualWarningState.AWAITING_CONFIRMATION,
        "may_approve": may_approve and not mine and warning.state == ManualWarningState.AWAITING_APPROVAL,
        "may_reject": waiting and (mine or may_approve),
    }
    if with_area:
        data["area"] = warning.area_geojson
    return data


def people(session: Session, warnings: Sequence[ManualWarning]) -> dict[int, str]:
    ids = {w.submitted_by for w in warnings} | {w.decided_by for w in warnings if w.decided_by}
    return names_of(session, ids)
