"""Row locks that mean the same on PostgreSQL and SQLite.

PostgreSQL: SELECT ... FOR UPDATE (wait) or FOR UPDATE SKIP LOCKED (queue-style, never wait).
SQLite has no row locks; the whole database has one writer. pysqlite opens its transaction at
the first write, so a no-op UPDATE on the row takes the writer lock before anything is read,
and what is read after it cannot change under us until commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.db import is_postgresql


def _no_op(model) -> dict:
    """SET values that change nothing; naming updated_at keeps its on-update default from firing."""
    table = model.__table__
    values = {table.primary_key.columns.values()[0].name: table.primary_key.columns.values()[0]}
    if "updated_at" in table.c:
        values["updated_at"] = table.c.updated_at
    return values


def lock_row(session: Session, model, row_id):
    """The row, locked for the rest of the transaction and freshly read; None if it does not exist."""
    key = model.__mapper__.primary_key[0]
    if not is_postgresql(session):
        session.execute(update(model).where(key == row_id).values(_no_op(model))
                        .execution_options(synchronize_session=False))
    statement = select(model).where(key == row_id).execution_options(populate_existing=True)
    if is_postgresql(session):
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def lock_rows_skip_locked(session: Session, model, where: Sequence, order_by: Sequence = (), limit=None):
    """The matching rows nobody else holds, locked; on SQLite all of them (the writer lock covers it)."""
    key = model.__mapper__.primary_key[0]
    statement = select(model).where(*where).order_by(*order_by).execution_options(populate_existing=True)
    if limit is not None:
        statement = statement.limit(limit)
    if is_postgresql(session):
        return list(session.scalars(statement.with_for_update(skip_locked=True)))
    session.execute(update(model).where(key.in_(select(key).where(*where))).values(_no_op(model))
                    .execution_options(synchronize_session=False))
    return list(session.scalars(statement))
