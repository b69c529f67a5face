"""Tasks for the receipts queue: apply stored provider receipts (thin wrappers over alerts/receipts.py)."""

from __future__ import annotations

from alerts import receipts
from store.db import session_scope
from workers.app import app


@app.task(name="haven.receipts.apply")
def apply_receipt(receipt_id: int) -> str:
    """Move the notification a stored receipt is about (idempotent; out of order is fine)."""
    with session_scope() as session:
        return receipts.apply_receipt(session, receipt_id).outcome
