"""Tasks for the periodic queue: the delivery sweep (docs/architecture.md).

Beat runs the sweep every HAVEN_SWEEP_EVERY_S (5 s). Each run is a few indexed statements on the open
rows (ix_notifications_open) and a handful of Redis commands, so it can run that often (about 50 ms
with 200,000 open rows on PostgreSQL). A sweep that waited a minute in the queue is dropped (expires):
after a long stop of the workers a pile of them would only repeat one another's work.
"""

from __future__ import annotations

import logging

from alerts.notifying import delivery, fanout
from config import get_settings
from store.db import session_scope
from store.types import utcnow
from workers.app import app
from workers.broker import BrokerProbe
from workers.match import match_alert
from workers.notify import apply_waiting_receipts, enqueue_batches, notify_customers

log = logging.getLogger(__name__)

SEND_QUEUES = {"sms": "notify-sms", "push": "notify-push"}
FAN_OUT_QUEUE = "match"


@app.task(name="haven.periodic.sweep_notifications")
def sweep_notifications(fan_out_s: float = 300.0, **timeouts: float) -> dict:
    """Take back batches whose lease ran out, queue again what the broker lost, release those past quiet
    hours, expire the rest; apply late receipts; resume any fan-out whose worker died, and match again
    any alert whose match task was lost.

    Keyword arguments override delivery.SweepTimeouts (seconds).
    """
    settings = get_settings()
    timeouts = {"lost_task_s": settings.lost_task_s, **timeouts}
    probe = BrokerProbe.from_url(settings.redis_url, settings.redis_key_prefix) if not settings.embedded else None
    lost, run_id, idle = False, "", set(SEND_QUEUES.values()) | {FAN_OUT_QUEUE}
    if probe is not None:
        lost, run_id = probe.lost_its_queues()
        idle = probe.empty_queues([*SEND_QUEUES.values(), FAN_OUT_QUEUE])
    broker = delivery.BrokerView(lost_its_queues=lost,
                                 idle_channels=frozenset(c for c, q in SEND_QUEUES.items() if q in idle))
    now = utcnow()
    with session_scope() as session:
        result = delivery.sweep(session, now, delivery.SweepTimeouts(**timeouts), broker)
        match_queue_idle_s = timeouts["lost_task_s"] if FAN_OUT_QUEUE in idle else None
        unfinished = fanout.alerts_awaiting_fan_out(session, now, after_s=fan_out_s, broker_lost=lost,
                                                    queue_idle_s=match_queue_idle_s)
        unmatched = fanout.alerts_awaiting_match(session, now, after_s=fan_out_s, broker_lost=lost,
                                                 queue_idle_s=match_queue_idle_s)
    enqueued = enqueue_batches(result.to_enqueue)
    for alert_id in unfinished:
        notify_customers.apply_async(args=(alert_id,))
    for alert_id in unmatched:  # matching queues the fan-out when it is done
        match_alert.apply_async(args=(alert_id,))
    if probe is not None and lost:
        probe.remember(run_id)  # only now: a sweep that failed half-way leaves the marker for the next one
    applied = apply_waiting_receipts()
    figures = {"broker_lost_its_queues": lost, "expired": result.expired, "released": len(result.released),
               "requeued": len(result.requeued), "recovered": len(result.recovered),
               "receipts_overdue": result.receipts_overdue, "enqueued": enqueued, "receipts_applied": applied,
               "fan_outs_resumed": len(unfinished), "matches_queued_again": len(unmatched)}
    if result.recovered or result.requeued or unfinished or unmatched:
        log.warning("notification sweep: %s", figures)
    return figures


_every = get_settings().sweep_every_s
# Not expiring after one period: threads busy with sends can hold a sweep back for seconds, and it must
# still run then.
app.conf.beat_schedule["notify-sweep"] = {"task": "haven.periodic.sweep_notifications", "schedule": _every,
                                          "options": {"expires": max(60.0, 3 * _every)}}
