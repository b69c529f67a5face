"""The insured book's imports: validate a file's rows, then write the good ones (docs/architecture.md).

Rows are written in chunks, each chunk its own transaction, so a long import shows up in matching
while it runs and a failure keeps what was committed before it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from book.dao import existing_customer_ids, upsert_customers, write_assets
from book.rules import ImportReport, validate_assets, validate_customers

WRITE_CHUNK = 50_000


def import_customers(session_factory, frame: pd.DataFrame, problems: dict[int, str] | None = None,
                     default_region: str = "CN", on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validate and upsert customers; session_factory() yields a committing session (store.db.session_scope)."""
    rows, rejected = validate_customers(frame, problems, default_region)
    report = ImportReport("customers", received=len(frame), rejected=rejected)
    for start in range(0, len(rows), WRITE_CHUNK):
        with session_factory() as session:
            report.loaded += upsert_customers(session, rows[start:start + WRITE_CHUNK])
        if on_progress:
            on_progress(min(WRITE_CHUNK, len(rows) - start))
    return report


def import_assets(session_factory, frame: pd.DataFrame, problems: dict[int, str] | None = None,
                  to_wgs84=None, on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validate and upsert assets chunk by chunk (each chunk committed), reporting refused rows."""
    with session_factory() as session:
        valid = validate_assets(frame, partial(existing_customer_ids, session), problems, to_wgs84)
    report = ImportReport("assets", received=len(frame), rejected=valid.rejected)
    if on_progress and valid.rejected:
        on_progress(len(valid.rejected))
    for start in range(0, len(valid), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(valid))
        with session_factory() as session:
            report.loaded += write_assets(session, valid.columns, start, stop)
        if on_progress:
            on_progress(stop - start)
    return report
