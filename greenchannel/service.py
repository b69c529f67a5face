"""The green channel's service layer: one unit of work per call, and the operations the API and tasks use.

`run_unit(fn, ...)` runs one business function in one transaction, retries it on a deadlock or a
serialisation failure, and after the commit hands the effects it collected (greenchannel.effects) to
the runner the composition root installed with `configure` (the Celery side queues them). Nothing
here imports aiohttp or Celery; nothing here reads settings: `configure` is given the rules.

The operations below take typed requests (greenchannel/requests.py) and return what the caller
shows, so a route or a task only parses, calls one of them, and serializes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from greenchannel import (
    catevents,
    claims,
    effects,
    payments,
    privacy,
    queue,
    read_models,
    reminders,
    rescue,
    sms_replies,
)
from greenchannel import requests as asks
from greenchannel.dao import catevents_dao, claims_dao, payments_dao, rescue_dao
from greenchannel.errors import Conflict, GreenChannelError, Invalid, Malformed
from greenchannel.rules import GreenChannelRules
from store.db import session_scope
from store.retry import Backoff
from store.types import utcnow
from store.users import Principal

log = logging.getLogger(__name__)

RETRIES = 4
RETRYABLE_PG_CODES = ("40P01", "40001")  # deadlock detected, serialization failure

EffectRunner = Callable[[dict[str, list[int]]], None]


RulesSource = Callable[[], GreenChannelRules]


@dataclass
class _Configuration:
    rules: RulesSource | None = None
    run_effects: EffectRunner | None = None


_CONFIGURED = _Configuration()


def configure(rules: GreenChannelRules | RulesSource, run_effects: EffectRunner | None = None) -> None:
    """Called by each composition root (app factory, worker start-up, CLI) before any operation: the rules
    (or a function giving the current ones) and what to do with the effects a committed unit collected."""
    _CONFIGURED.rules = rules if callable(rules) else (lambda: rules)
    if run_effects is not None:
        _CONFIGURED.run_effects = run_effects


def rules() -> GreenChannelRules:
    if _CONFIGURED.rules is None:
        raise RuntimeError("greenchannel.service.configure(rules) was not called at start-up")
    return _CONFIGURED.rules()


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RETRYABLE_PG_CODES or "database is locked" in str(exc.orig)


def _as_domain_error(exc: Exception) -> GreenChannelError:
    text = str(getattr(exc, "orig", exc)).lower()
    if isinstance(exc, IntegrityError) and "foreign key" in text:
        return Invalid("the request refers to something that does not exist", code="unknown_reference")
    return Conflict("someone else changed this at the same moment; reload and retry", code="concurrent_change")


CONFLICT_BACKOFF = Backoff(base_s=0.03, cap_s=0.25, jitter=0.7)


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
                time.sleep(CONFLICT_BACKOFF.wait_s(attempt))
                continue
            raise
        _run_effects(pending)
        if kept_error is not None:
            raise kept_error
        return result
    raise AssertionError("unreachable")


def _run_effects(pending: dict[str, list[int]]) -> None:
    if not pending:
        return
    if _CONFIGURED.run_effects is None:
        # The rows are committed: the notifications sweep and the stuck-payout resend pick them up.
        log.warning("no after-commit runner configured; %s wait for the periodic sweeps", pending)
        return
    _CONFIGURED.run_effects(pending)


# --- CAT events ----------------------------------------------------------------------------------

def declare_cat_event(actor: Principal, ask: asks.DeclareCatEvent) -> dict:
    def unit(session):
        event = catevents.declare(session, actor, code=ask.code, hazard=ask.hazard, window_start=ask.window_start,
                                  window_end=ask.window_end, area_geojson=ask.area, chain_ids=ask.chain_ids)
        return catevents.to_json(event)

    return run_unit(unit)


def list_cat_events(ask: asks.CatEventQuery) -> dict:
    def unit(session):
        events = catevents.list_events(session, ask.status)
        tagged = catevents_dao.claims_tagged(session, [e.id for e in events])
        return {"cat_events": [catevents.to_json(e, ask.area is not False) | {"claims_tagged": tagged.get(e.id, 0)}
                               for e in events]}

    return run_unit(unit)


def get_cat_event(event_id: int) -> dict:
    return run_unit(lambda s: catevents.to_json(catevents.get(s, event_id)))


def confirm_cat_event(actor: Principal, event_id: int, ask: asks.ConfirmCatEvent) -> dict:
    return run_unit(lambda s: catevents.to_json(catevents.confirm(
        s, actor, event_id, code=ask.code, hazard=ask.hazard, window_start=ask.window_start,
        window_end=ask.window_end)))


def close_cat_event(actor: Principal, event_id: int, ask: asks.CloseCatEvent) -> dict:
    return run_unit(lambda s: catevents.to_json(catevents.close(s, actor, event_id, ask.note), with_area=False))


def dismiss_cat_event(actor: Principal, event_id: int, ask: asks.DismissCatEvent) -> dict:
    return run_unit(lambda s: catevents.to_json(catevents.dismiss(s, actor, event_id, ask.reason), with_area=False))


def merge_cat_event(actor: Principal, event_id: int, ask: asks.MergeCatEvent) -> dict:
    return run_unit(lambda s: catevents.to_json(catevents.merge(s, actor, event_id, ask.into_id, ask.note)))


def propose_cat_event(alert_id: int, asset_count: int) -> dict:
    event = run_unit(catevents.propose_from_alert, alert_id, asset_count, rules=rules().cat_events)
    return {"alert_id": alert_id, "cat_event_id": event.id if event else None,
            "status": event.status if event else None}


# --- claims --------------------------------------------------------------------------------------

def file_claim(actor: Principal, notice: asks.FirstNotice, client_ref: str | None) -> tuple[dict, bool]:
    def unit(session):
        claim, created = claims.file_claim(session, actor, notice, client_ref)
        return claims.view(session, actor, claim), created

    return run_unit(unit)


def list_claims(actor: Principal, ask: asks.ClaimListQuery) -> dict:
    return run_unit(lambda s: {"claims": [claims.summary_json(c) for c in claims_dao.list_claims(
        s, actor, cat_code=ask.cat_code, stage=ask.stage, limit=ask.limit)]})


def view_claim(actor: Principal, claim_id: int) -> dict:
    return run_unit(lambda s: claims.view(s, actor, claims.visible_claim(s, actor, claim_id)))


def update_claim(actor: Principal, claim_id: int, changes: asks.ClaimChanges) -> dict:
    return run_unit(lambda s: claims.view(s, actor, claims.update_details(s, actor, claim_id, changes)))


def transition_claim(actor: Principal, claim_id: int, ask: asks.Transition) -> dict:
    return run_unit(lambda s: claims.view(s, actor, claims.transition(
        s, actor, claim_id, ask.to, ask.note, estimate=ask.estimate, return_documents=ask.return_documents)))


def withdraw_claim(actor: Principal, claim_id: int, ask: asks.Withdrawal) -> dict:
    return run_unit(lambda s: claims.view(s, actor, claims.withdraw(s, actor, claim_id, ask.reason)))


def check_may_upload(actor: Principal, claim_id: int) -> None:
    run_unit(claims.check_may_upload, actor, claim_id)


def add_document(actor: Principal, claim_id: int, kind: str, stored) -> dict:
    return claims.document_json(run_unit(claims.add_document, actor, claim_id, kind, stored))


def answer_sms(params: dict[str, str], hotline: str) -> dict:
    """An inbound SMS: STOP/START, or a reply to a warning that may open a claim or a rescue job, in one unit
    (greenchannel/sms_replies.py); the follow-up SMS are queued after the commit."""
    return run_unit(sms_replies.answer_inbound, params, rules().rescue, hotline)


# --- queue ---------------------------------------------------------------------------------------

def list_queue(actor: Principal, ask: asks.QueueQuery) -> dict:
    return run_unit(lambda s: queue.page_view(s, actor, utcnow(), tab=ask.tab, search=ask.q,
                                              fast_track=ask.fast_track, include_leased=ask.leased is not False,
                                              page=ask.page, limit=ask.limit))


def lease_next(actor: Principal, ask: asks.LeaseNext) -> dict:
    def unit(session):
        now = utcnow()
        claim = queue.lease_next(session, actor, rules().queue, now, fast_track_only=ask.fast_track_only)
        if claim is None:
            return {"claim": None, "nothing_to_take": claims_dao.why_nothing_to_take(session, now, ask.fast_track_only)}
        return {"claim": claims.view(session, actor, claim)}

    return run_unit(unit)


def lease_claim(actor: Principal, claim_id: int) -> dict:
    return run_unit(lambda s: claims.view(s, actor, queue.lease_claim(s, actor, claim_id, rules().queue)))


def remind_customer(actor: Principal, claim_id: int, ask: asks.CustomerReminder) -> dict:
    return run_unit(reminders.remind_customer, actor, claim_id, ask.note)


def release_claim(actor: Principal, claim_id: int) -> dict:
    return run_unit(lambda s: claims.view(s, actor, queue.release(s, actor, claim_id)))


def expire_leases() -> int:
    return run_unit(queue.expire_leases)


def flag_sla_breaches() -> int:
    return run_unit(queue.flag_breaches)


# --- rescue --------------------------------------------------------------------------------------

def _phones_as_seen(session, actor: Principal, jobs: list[dict]) -> list[dict]:
    """Each job with where and whose in words (address, customer_name), and its customer's phone and its
    provider's phone as the caller may see them."""
    rescue.describe_jobs(session, jobs, rules().rescue)
    customer_ids = {job["customer_id"] for job in jobs if job["customer_id"]}
    phones = privacy.customer_phones(session, customer_ids)
    live = privacy.customers_with_live_rescue(session, customer_ids)
    for job in jobs:
        job["customer_phone"] = privacy.phone_as_seen_by(actor.role, phones.get(job["customer_id"]),
                                                         privacy.CUSTOMER, live_rescue=job["customer_id"] in live)
        if job["provider"] is not None:
            job["provider"]["phone"] = privacy.phone_as_seen_by(actor.role, job["provider"]["phone"],
                                                                privacy.PROVIDER)
    return jobs


def _job_view(session, actor: Principal, job) -> dict:
    return _phones_as_seen(session, actor, [rescue.job_json(session, job)])[0]


def _provider_view(actor: Principal, provider: dict) -> dict:
    return {**provider, "phone": privacy.phone_as_seen_by(actor.role, provider["phone"], privacy.PROVIDER)}


def register_provider(actor: Principal, ask: asks.ProviderRegistration) -> dict:
    return run_unit(lambda s: rescue.provider_json(rescue.register_provider(s, actor, ask), rules().rescue))


def list_providers(actor: Principal) -> dict:
    def unit(session):
        now = utcnow()
        return {"providers": [_provider_view(actor, rescue.provider_json(p, rules().rescue, now))
                              for p in rescue_dao.all_providers(session)]}

    return run_unit(unit)


def update_provider(actor: Principal, provider_id: int, changes: asks.ProviderChanges) -> dict:
    return run_unit(lambda s: rescue.provider_json(rescue.update_provider(s, actor, provider_id, changes),
                                                   rules().rescue))


def open_rescue_job(actor: Principal, ask: asks.JobRequest) -> tuple[dict, bool]:
    def unit(session):
        job, created = rescue.create_job(session, actor, ask, rules().rescue)
        return _job_view(session, actor, job), created

    return run_unit(unit)


def list_rescue_jobs(actor: Principal, ask: asks.JobListQuery) -> dict:
    return run_unit(lambda s: {"jobs": _phones_as_seen(s, actor, [
        rescue.job_json(s, j) for j in rescue_dao.list_jobs(s, actor, ask.state, ask.limit)])})


def view_rescue_job(actor: Principal, job_id: int) -> dict:
    return run_unit(lambda s: _job_view(s, actor, rescue.get_job(s, actor, job_id)))


def report_job_status(actor: Principal, job_id: int, ask: asks.JobStatusReport) -> dict:
    def unit(session):
        if ask.status in ("accepted", "rejected"):
            if actor.role == "customer":
                raise Malformed("a customer can only cancel their rescue", "status")
            job = rescue.respond(session, actor, job_id, ask.status == "accepted", rules().rescue,
                                 provider_id=ask.provider_id, eta_minutes=ask.eta_minutes, note=ask.note)
        else:
            job = rescue.advance(session, actor, job_id, ask.status, ask.note)
        return _job_view(session, actor, job)

    return run_unit(unit)


def assign_job(actor: Principal, job_id: int, ask: asks.Assignment) -> dict:
    def unit(session):
        rescue.assign(session, actor, job_id, ask.provider_id, rules().rescue, override_reason=ask.override_reason)
        return _job_view(session, actor, rescue.get_job(session, actor, job_id))

    return run_unit(unit)


def hold_job(actor: Principal, job_id: int) -> dict:
    return run_unit(lambda s: _job_view(s, actor, rescue.hold(s, actor, job_id, rules().rescue)))


def reoffer_job(actor: Principal, job_id: int, ask: asks.Reoffer) -> dict:
    return run_unit(lambda s: _job_view(s, actor, rescue.reoffer(s, actor, job_id, rules().rescue, ask.note)))


def dispatch_pending() -> rescue.BatchResult:
    return run_unit(rescue.dispatch_pending, rules().rescue)


def expire_offers() -> int:
    return run_unit(rescue.expire_offers, rules().rescue)


# --- payments ------------------------------------------------------------------------------------

def request_payment(actor: Principal, claim_id: int, ask: asks.PaymentRequest, key: str) -> tuple[dict, bool]:
    def unit(session):
        payment, created = payments.request_payment(session, actor, claim_id, ask.amount, key, rules().payments,
                                                    kind=ask.kind, reason=ask.reason)
        return payments.to_json(payment), created

    return run_unit(unit)


def decide_payment(actor: Principal, payment_id: int, ask: asks.PaymentDecision, approve: bool) -> dict:
    def unit(session):
        if approve:
            return payments.to_json(payments.approve(session, actor, payment_id, rules().payments, ask.said,
                                                     override_reason=ask.override_reason))
        return payments.to_json(payments.reject(session, actor, payment_id, ask.said))

    return run_unit(unit)


def approvals_waiting(actor: Principal) -> dict:
    return run_unit(lambda s: {"waiting": read_models.approvals_waiting(s, actor)})


def list_payments(actor: Principal, claim_id: int) -> dict:
    def unit(session):
        claims.visible_claim(session, actor, claim_id)
        return {"payments": [payments.view_for(actor, p) for p in payments_dao.payments_for(session, claim_id)]}

    return run_unit(unit)


def stuck_payouts(older_than_s: float) -> list[int]:
    """Approved payments that never reached the gateway (a worker died before recording it)."""
    return run_unit(payments_dao.approved_not_updated_since, utcnow() - timedelta(seconds=older_than_s))
