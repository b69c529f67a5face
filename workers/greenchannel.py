"""Tasks for the greenchannel queue, and the unit-of-work runner the API shares with them.

Thin wrappers: the rules live in greenchannel/. `run_unit(fn, ...)` runs one business function in
one transaction, retries it on a deadlock or serialisation failure, and after the commit runs the
effects it asked for (queue its notifications, send its approved payments).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from contextlib import nullcontext

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from config import get_settings
from greenchannel import catevents, effects, payments, queue, rescue
from greenchannel.errors import Conflict, GreenChannelError, Invalid
from store.db import session_scope
from store.models import Payment
from store.types import utcnow
from workers.app import app, enqueue

log = logging.getLogger(__name__)

RETRIES = 4
RETRYABLE_PG_CODES = ("40P01", "40001")  # deadlock detected, serialization failure
PAYOUT_STUCK_S = 300.0
# Celery's eager apply_async sets and restores a process-global flag (denied_join_result) without a
# lock: two threads running eager tasks at once can leave it set for good, and every later
# AsyncResult.get() in the process then fails. The embedded default runs tasks eagerly from the web
# server's threads, so green-channel effects run one at a time there.
_EAGER = threading.Lock()


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RETRYABLE_PG_CODES or "database is locked" in str(exc.orig)


def _as_domain_error(exc: Exception) -> GreenChannelError:
    text = str(getattr(exc, "orig", exc)).lower()
    if isinstance(exc, IntegrityError) and "foreign key" in text:
        return Invalid("the request refers to something that does not exist", code="unknown_reference")
    return Conflict("someone else changed this at the same moment; reload and retry", code="concurrent_change")


def run_unit(fn, *args, **kwargs):
    """fn(session, *args, **kwargs) in one transaction; after the commit, its effects are run."""
    for attempt in range(1, RETRIES + 1):
        kept_error = None
        try:
            with session_scope() as session:
                try:
                    result = fn(session, *args, **kwargs)
                except GreenChannelError as exc:
                    if not exc.keep_changes:
                        effects.discard(session)
                        raise
                    kept_error, result = exc, None
                pending = effects.take(session)
        except (IntegrityError, StaleDataError) as exc:
            raise _as_domain_error(exc) from exc
        except OperationalError as exc:
            if attempt < RETRIES and _retryable(exc):
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            raise
        run_effects(pending)
        if kept_error is not None:
            raise kept_error
        return result
    raise AssertionError("unreachable")


def run_effects(pending: dict[str, list[int]]) -> None:
    if not pending:
        return
    with _EAGER if app.conf.task_always_eager else nullcontext():
        if pending.get(effects.NOTIFICATIONS):
            queue_notifications(pending[effects.NOTIFICATIONS])
        for payment_id in pending.get(effects.PAYOUTS, []):
            enqueue(pay, payment_id)


def queue_notifications(ids: list[int]) -> None:
    """Hand saved rescue SMS to the warnings pipeline; if it cannot take them now, its periodic sweep
    of notifications still in `created` sends them."""
    from workers import notify

    enqueue_notifications = getattr(notify, "enqueue_notifications", None)
    if enqueue_notifications is None:
        log.info("notify pipeline has no enqueue_notifications yet; %d rescue SMS wait for its sweep", len(ids))
        return
    try:
        enqueue_notifications(ids)
    except Exception:  # the rows are committed; the sweep picks them up
        log.exception("could not queue rescue notifications %s; the sweep will", ids)


def payment_gateway() -> payments.PaymentGateway:
    return payments.OutboxGateway(session_scope)


@app.task(name="haven.greenchannel.pay", bind=True, autoretry_for=(payments.GatewayUnavailable,),
          retry_backoff=True, retry_jitter=True, max_retries=10)
def pay(self, payment_id: int) -> dict:
    """Send one approved payment through the payment gateway, exactly once."""
    reference = payments.pay_out(payment_id, payment_gateway(), session_scope)
    return {"payment_id": payment_id, "gateway_ref": reference}


@app.task(name="haven.greenchannel.propose_cat_event")
def propose_cat_event(alert_id: int, asset_count: int) -> dict:
    """Propose a CAT event when an Extreme or Severe chain reached more than the threshold of assets."""
    event = run_unit(catevents.propose_from_alert, alert_id, asset_count)
    return {"alert_id": alert_id, "cat_event_id": event.id if event else None,
            "status": event.status if event else None}


def maybe_propose_cat_event(alert_id: int, asset_count: int) -> None:
    """The match step's hook: cheap threshold test here, the severity check in the task."""
    if asset_count > get_settings().cat_propose_min_assets:
        enqueue(propose_cat_event, alert_id, asset_count)


@app.task(name="haven.greenchannel.expire_offers")
def expire_offers() -> dict:
    """Expire rescue offers nobody answered in time and cascade them to the next provider."""
    return {"expired": run_unit(rescue.expire_offers)}


@app.task(name="haven.greenchannel.dispatch_pending")
def dispatch_pending() -> dict:
    """Offer all pending rescue jobs in one batch (minimum total distance)."""
    result = run_unit(rescue.dispatch_pending)
    return {"pending": result.pending, "offered": result.offered, "surge": result.surge,
            "total_km": round(result.total_km, 1)}


@app.task(name="haven.greenchannel.expire_leases")
def expire_leases() -> dict:
    """Return claims whose adjuster lease ran out to the queue."""
    return {"returned": run_unit(queue.expire_leases)}


@app.task(name="haven.greenchannel.flag_sla_breaches")
def flag_sla_breaches() -> dict:
    """Flag open claims past their SLA clock."""
    return {"flagged": run_unit(queue.flag_breaches)}


@app.task(name="haven.greenchannel.resend_stuck_payouts")
def resend_stuck_payouts() -> dict:
    """Approved payments that never reached the gateway (a worker died) are sent again; the gateway
    reference keeps it to one payout."""
    cutoff = utcnow().timestamp() - PAYOUT_STUCK_S
    with session_scope() as session:
        stuck = [p.id for p in session.scalars(select(Payment).where(Payment.state == "approved"))
                 if p.updated_at.timestamp() < cutoff]
    for payment_id in stuck:
        enqueue(pay, payment_id)
    return {"resent": len(stuck)}


app.conf.beat_schedule.update({
    "greenchannel-expire-offers": {"task": "haven.greenchannel.expire_offers", "schedule": 15.0},
    "greenchannel-dispatch-pending": {"task": "haven.greenchannel.dispatch_pending", "schedule": 10.0},
    "greenchannel-expire-leases": {"task": "haven.greenchannel.expire_leases", "schedule": 30.0},
    "greenchannel-flag-sla-breaches": {"task": "haven.greenchannel.flag_sla_breaches", "schedule": 60.0},
    "greenchannel-resend-stuck-payouts": {"task": "haven.greenchannel.resend_stuck_payouts", "schedule": 120.0},
})
