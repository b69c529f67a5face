"""Tasks for the periodic queue: the delivery sweep (DESIGN.md, Delivery pipeline: self-healing)."""

from __future__ import annotations

import logging

from alerts import delivery, fanout
from store.db import session_scope
from store.types import utcnow
from workers.app import app
from workers.notify import apply_waiting_receipts, enqueue_batches, notify_customers

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 15.0


@app.task(name="haven.periodic.sweep_notifications")
def sweep_notifications(fan_out_s: float = 300.0, **timeouts: float) -> dict:
    """Re-queue stuck notifications, release those past quiet hours, expire the rest; apply late receipts;
    run again any fan-out whose worker died half-way.

    Keyword arguments override delivery.SweepTimeouts (seconds), e.g. sending_s=5 in a recovery drill.
    """
    now = utcnow()
    with session_scope() as session:
        result = delivery.sweep(session, now, delivery.SweepTimeouts(**timeouts))
        unfinished = fanout.alerts_awaiting_fan_out(session, now, after_s=fan_out_s)
    enqueued = enqueue_batches(result.to_enqueue)
    for alert_id in unfinished:
        notify_customers.apply_async(args=(alert_id,))
    applied = apply_waiting_receipts()
    figures = {"expired": result.expired, "released": len(result.released), "requeued": len(result.requeued),
               "recovered": len(result.recovered), "receipts_overdue": result.receipts_overdue,
               "enqueued": enqueued, "receipts_applied": applied, "fan_outs_restarted": len(unfinished)}
    if result.recovered or result.requeued or unfinished:
        log.warning("notification sweep: %s", figures)
    return figures


app.conf.beat_schedule["notify-sweep"] = {"task": "haven.periodic.sweep_notifications", "schedule": SWEEP_EVERY_S}
