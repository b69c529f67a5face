"""Statements over many rows at once, shaped for PostgreSQL's planner and kept portable to SQLite.

The send path touches a hundred notifications per statement, a thousand times for one big warning, so
how those statements look matters:

- `one_of(session, column, values)`: on PostgreSQL `column = ANY(:array)`, on SQLite
  `column IN (SELECT value FROM json_each(:json))`: one parameter either way, so the SQL text is the same
  every time (the driver and server reuse it), and a Cancel that stops 100,000 pending messages stays
  within SQLite's 32,766 parameters. An IN list of 100 placeholders is rendered, converted and parsed
  anew for every batch.
- `unnest_rows(table, rows, names)`: on PostgreSQL one array per column, turned back into rows by
  unnest(), so thousands of rows travel as a few parameters of one small statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import ARRAY, ColumnElement, String, Table, any_, bindparam, func, select
from sqlalchemy.orm import Session

from store.db import is_postgresql


def one_of(session: Session, column, values: Sequence) -> ColumnElement[bool]:
    """`column` is one of `values`, however many, as one parameter."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    given = func.json_each(bindparam(None, json.dumps(list(values)), type_=String)).table_valued("value")
    return column.in_(select(given.c.value))


def unnest_rows(table: Table, rows: Sequence[dict], names: Sequence[str], alias: str = "given"):
    """PostgreSQL: `rows` (dicts with `names`) as a FROM item with one column per name, typed as in `table`."""
    arrays = [bindparam(None, [row[name] for row in rows], type_=ARRAY(table.c[name].type)) for name in names]
    return func.unnest(*arrays).table_valued(*names, name=alias).render_derived()
