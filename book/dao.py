"""The insured book's queries and bulk writes (docs/architecture.md).

An id seen before is updated, never duplicated. Each chunk written is stamped with its own `updated_at`,
so the matching index (alerts/matching/spatial.py) picks changes up incrementally while a long import
is still running.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from book.rules import ASSET_COLUMNS
from store.bulk import unnest_rows
from store.db import is_postgresql
from store.models import Asset, Customer
from store.types import utcnow

CHUNK = 2000


def _upsert(session: Session, model, key: str, rows: Sequence[dict]) -> int:
    """Insert or update rows (all with the same keys) by `key`, CHUNK at a time, each chunk with its own stamp."""
    if not rows:
        return 0
    table = model.__table__
    names = [*rows[0], "updated_at"]
    for start in range(0, len(rows), CHUNK):
        now = utcnow()
        chunk = [dict(row, updated_at=now) for row in rows[start:start + CHUNK]]
        if is_postgresql(session):
            statement = postgresql.insert(table).from_select(names, select(*unnest_rows(table, chunk, names).c))
        else:
            statement = sqlite.insert(table).values(chunk)
        update = {c: statement.excluded[c] for c in names if c != key}
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
    if len(wanted) > 50_000:  # cheaper to read every id once than to ask in thousands of chunks
        everything = {row[0] for row in session.execute(select(Customer.customer_id))}
        return everything.intersection(wanted)
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        found.update(r[0] for r in session.execute(select(Customer.customer_id).where(Customer.customer_id.in_(chunk))))
    return found


def _bound(session: Session, column, values: Sequence) -> list:
    """Values as the driver wants them for this column type (e.g. Money as text on SQLite)."""
    dialect = session.get_bind().dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return [processor(v) for v in values] if processor else list(values)


def write_assets(session: Session, columns: dict[str, np.ndarray], start: int, stop: int) -> int:
    """Upsert rows [start, stop) of validated asset columns in one statement batch (fast path per database)."""
    table = Asset.__table__
    names = list(ASSET_COLUMNS) + ["updated_at"]
    count = stop - start
    now = _bound(session, table.c.updated_at, [utcnow()])[0]
    data = [columns[name][start:stop].tolist() for name in ASSET_COLUMNS]
    data[ASSET_COLUMNS.index("insured_value")] = _bound(session, table.c.insured_value, data[ASSET_COLUMNS.index("insured_value")])
    rows = list(zip(*data, [now] * count, strict=True))
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "asset_id")
    raw = session.connection().connection.driver_connection
    if is_postgresql(session):
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS asset_import (LIKE assets INCLUDING DEFAULTS) "
                             "ON COMMIT DELETE ROWS"))
        with raw.cursor().copy(f"COPY asset_import ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        session.execute(text(f"INSERT INTO assets ({', '.join(names)}) SELECT {', '.join(names)} FROM asset_import "
                             f"ON CONFLICT (asset_id) DO UPDATE SET {updates}"))
        session.execute(text("DELETE FROM asset_import"))
    else:
        # SQLite: a plain INSERT is twice as fast as an upsert, so new ids and known ids go separately.
        known = _existing_asset_ids(session, columns["asset_id"][start:stop])
        fresh = [row for row in rows if row[0] not in known]
        cursor = raw.cursor()
        cursor.executemany(f"INSERT INTO assets ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", fresh)
        if known:
            cursor.executemany(f"UPDATE assets SET {', '.join(f'{n} = ?' for n in names[1:])} WHERE asset_id = ?",
                               [(*row[1:], row[0]) for row in rows if row[0] in known])
    return count


def _existing_asset_ids(session: Session, ids: np.ndarray) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000].tolist()
        found.update(r[0] for r in session.execute(select(Asset.asset_id).where(Asset.asset_id.in_(chunk))))
    return found
