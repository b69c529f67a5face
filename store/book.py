"""Bulk upserts for the insured book. An id seen before is updated, never duplicated."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Asset, Customer
from store.types import utcnow

CHUNK = 2000


def _upsert(session: Session, model, key: str, rows: Sequence[dict]) -> int:
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    columns = [c for c in rows[0] if c != key]
    for start in range(0, len(rows), CHUNK):
        chunk = [dict(row, updated_at=now) for row in rows[start:start + CHUNK]]
        statement = dialect.insert(model).values(chunk)
        update = {c: getattr(statement.excluded, c) for c in [*columns, "updated_at"]}
        session.execute(statement.on_conflict_do_update(index_elements=[key], set_=update))
    return len(rows)


def upsert_customers(session: Session, rows: Sequence[dict]) -> int:
    """rows: dicts with Customer column names; phone must already be E.164."""
    return _upsert(session, Customer, "customer_id", rows)


def upsert_assets(session: Session, rows: Sequence[dict]) -> int:
    """rows: dicts with Asset column names; lon/lat must already be WGS-84."""
    return _upsert(session, Asset, "asset_id", rows)


def count_assets(session: Session) -> int:
    return session.query(func.count(Asset.asset_id)).scalar() or 0


def existing_customer_ids(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        found.update(r[0] for r in session.query(Customer.customer_id).filter(Customer.customer_id.in_(chunk)))
    return found
