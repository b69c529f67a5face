"""Tasks for the greenchannel queue, and the wiring of the green channel's service at start-up.

Thin adapters over greenchannel.service, which owns the transaction, its retries and the after-commit
effects. `wire_green_channel()` is the composition root's half of that: it hands the service its rules
(built from the settings) and the runner that queues the effects as tasks. The app factory, the CLI
and this module (for a worker process) call it.
"""

from __future__ import annotations

import logging

from config import get_settings
from greenchannel import demo_gps, effects, payments, service
from greenchannel.rules import GreenChannelRules
from store.db import session_scope
from workers.app import app, enqueue

log = logging.getLogger(__name__)

PAYOUT_STUCK_S = 300.0


def current_rules() -> GreenChannelRules:
    """Rebuilt from the settings on every call: cheap, and a settings reload takes effect at once."""
    return GreenChannelRules.from_settings(get_settings())


def run_effects(pending: dict[str, list[int]]) -> None:
    if pending.get(effects.NOTIFICATIONS):
        queue_notifications(pending[effects.NOTIFICATIONS])
    for payment_id in pending.get(effects.PAYOUTS, []):
        enqueue(pay, payment_id)


def wire_green_channel() -> None:
    service.configure(current_rules, run_effects)


def queue_notifications(ids: list[int]) -> None:
    """Hand saved rescue SMS to the warnings pipeline; if it cannot take them now, its periodic sweep
    of notifications still in `created` sends them."""
    from workers.notify import enqueue_notifications

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
    return service.propose_cat_event(alert_id, asset_count)


def maybe_propose_cat_event(alert_id: int, asset_count: int) -> None:
    """The match step's hook: cheap threshold test here, the severity check in the task."""
    if asset_count > get_settings().cat_propose_min_assets:
        enqueue(propose_cat_event, alert_id, asset_count)


@app.task(name="haven.greenchannel.expire_offers")
def expire_offers() -> dict:
    """Expire rescue offers nobody answered in time and cascade them to the next provider."""
    return {"expired": service.expire_offers()}


@app.task(name="haven.greenchannel.dispatch_pending")
def dispatch_pending() -> dict:
    """Offer all pending rescue jobs in one batch (minimum total distance)."""
    result = service.dispatch_pending()
    return {"pending": result.pending, "offered": result.offered, "surge": result.surge,
            "total_km": round(result.total_km, 1)}


@app.task(name="haven.greenchannel.expire_leases")
def expire_leases() -> dict:
    """Return claims whose adjuster lease ran out to the queue."""
    return {"returned": service.expire_leases()}


@app.task(name="haven.greenchannel.flag_sla_breaches")
def flag_sla_breaches() -> dict:
    """Flag open claims past their SLA clock."""
    return {"flagged": service.flag_sla_breaches()}


@app.task(name="haven.greenchannel.resend_stuck_payouts")
def resend_stuck_payouts() -> dict:
    """Approved payments that never reached the gateway (a worker died) are sent again; the gateway
    reference keeps it to one payout."""
    stuck = service.stuck_payouts(PAYOUT_STUCK_S)
    for payment_id in stuck:
        enqueue(pay, payment_id)
    return {"resent": len(stuck)}


@app.task(name="haven.greenchannel.demo_gps_feed")
def demo_gps_feed() -> dict:
    """The embedded default's stand-in for the trucks' GPS: the demo's trucks report their positions
    (greenchannel/demo_gps.py). With Redis (production) real trucks report through the API; nothing to do."""
    if not get_settings().embedded:
        return {"skipped": "not the embedded default"}
    return demo_gps.report_positions()


wire_green_channel()  # a worker process imports this module at start-up

app.conf.beat_schedule.update({
    "greenchannel-expire-offers": {"task": "haven.greenchannel.expire_offers", "schedule": 15.0},
    "greenchannel-dispatch-pending": {"task": "haven.greenchannel.dispatch_pending", "schedule": 10.0},
    "greenchannel-expire-leases": {"task": "haven.greenchannel.expire_leases", "schedule": 30.0},
    "greenchannel-flag-sla-breaches": {"task": "haven.greenchannel.flag_sla_breaches", "schedule": 60.0},
    "greenchannel-resend-stuck-payouts": {"task": "haven.greenchannel.resend_stuck_payouts", "schedule": 120.0},
    "greenchannel-demo-gps-feed": {"task": "haven.greenchannel.demo_gps_feed", "schedule": demo_gps.REPORT_EVERY_S},
})
