"""Tasks for the notify queues: the fan-out after matching and the batch sends (docs/architecture.md).

Thin wrappers: the rules are in alerts/notifying/targeting.py, alerts/notifying/fanout.py and alerts/notifying/delivery.py.
A send task carries about 100 notification ids, never one task per SMS, and never a message body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from functools import partial

from celery.signals import worker_init, worker_process_init

from alerts.notifying import delivery, fanout, receipts
from alerts.notifying.targeting import Rules
from config import get_settings
from store.db import session_scope
from store.types import utcnow
from workers.app import app

log = logging.getLogger(__name__)


@worker_process_init.connect
@worker_init.connect
def _load_the_providers_sdk(**_):
    """Import the SMS provider's SDK now, so the first warning after a restart doesn't wait for it."""
    from alerts.notifying.channels.configured import warm_up

    warm_up(get_settings())


# Runs on the match queue: it is the tail of matching, and must never wait behind provider-bound sends.
@app.task(name="haven.match.notify_customers")
def notify_customers(alert_id: int) -> dict:
    """Plan and save one message per affected customer and channel, then queue them in batches."""
    settings = get_settings()
    return asdict(fanout.notify_customers_in_area(alert_id, partial(enqueue_batches, in_send_order=True),
                                                  Rules.from_settings(settings), settings.delivery_lease_s))


@app.task(name="haven.notify.sms.send_batch")
def send_sms_batch(notification_ids: list[int]) -> dict:
    """Hand a batch of SMS notifications to the provider (each only if still queued)."""
    return _send("sms", notification_ids)


@app.task(name="haven.notify.push.send_batch")
def send_push_batch(notification_ids: list[int]) -> dict:
    """Hand a batch of push notifications to the push gateway (each only if still queued)."""
    return _send("push", notification_ids)


SEND_TASKS = {"sms": send_sms_batch, "push": send_push_batch}


def enqueue_batches(pairs: Iterable[tuple[int, str]], countdown: float | None = None, *,
                    in_send_order: bool = False) -> int:
    """Queue send tasks for (notification id, channel) pairs already in state `queued`, in send order
    (most exposed first): the fan-out gives its pairs in that order; others (a sweep's, a retry's) are
    put in it here, by their send_rank."""
    settings = get_settings()
    by_channel: dict[str, list[int]] = {}
    for notification_id, channel in pairs if in_send_order else fanout.in_send_order(pairs):
        by_channel.setdefault(channel, []).append(notification_id)
    count = 0
    for channel, ids in by_channel.items():
        for batch in delivery.chunks(ids, delivery.batch_size(channel, settings)):
            SEND_TASKS[channel].apply_async(args=(batch,), countdown=countdown)
            count += len(batch)
    return count


def enqueue_notifications(notification_ids: Sequence[int]) -> int:
    """Send notifications another module saved in state `created` (e.g. rescue updates): save first, then this.

    Rows held by `not_before` stay `created` until the sweep releases them. Returns how many were queued.
    """
    with session_scope() as session:
        due = delivery.mark_queued(session, notification_ids, utcnow())
    return enqueue_batches(due)


def _send(channel: str, notification_ids: list[int]) -> dict:
    result = delivery.deliver_batch(notification_ids, channel, get_settings())
    # In-process (embedded) a countdown would run at once and find the row not yet due; the sweep
    # re-queues due retries there instead.
    if result.retry_ids and not app.conf.task_always_eager:
        try:
            enqueue_batches([(i, channel) for i in result.retry_ids], countdown=result.retry_in_s)
        except Exception:  # the broker is down: the rows stay queued and the sweep re-queues them
            log.warning("could not queue %d retries; the sweep will", len(result.retry_ids), exc_info=True)
    if result.accepted_message_ids:
        apply_waiting_receipts(result.accepted_message_ids)
    return {"channel": channel, "claimed": result.claimed, "accepted": result.accepted,
            "delivered": result.delivered, "failed": result.failed, "retrying": len(result.retry_ids),
            "retry_in_s": round(result.retry_in_s, 3)}


def apply_waiting_receipts(provider_message_ids: Sequence[str] | None = None) -> int:
    """Apply the receipts not applied yet (only those for these message ids, if given); returns how many."""
    with session_scope() as session:
        pending = receipts.pending_receipt_ids(session, provider_message_ids)
        outcomes = [receipts.apply_receipt(session, receipt_id).outcome for receipt_id in pending]
    return sum(1 for outcome in outcomes if outcome != "waiting")
