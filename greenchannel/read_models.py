"""What the staff console shows of the green channel: the dispatch board, the approver's inbox, and the
rescue jobs and trucks on the operations map. Read only; the queries are in greenchannel/dao/.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from greenchannel import documents, payments, privacy, queue, rescue
from greenchannel.dao import payments_dao, rescue_dao
from greenchannel.rules import GreenChannelRules, RescueRules
from store.models import Customer, RescueJob, RescueProvider
from store.models.greenchannel import JobState
from store.types import utcnow
from store.users import Principal

FINISHED_JOBS_SHOWN_FOR = timedelta(hours=1)
NEAREST_PROVIDERS = 3
BOARD_STATES = (JobState.CREATED, JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SCENE,
                JobState.TOWING)
BOARD_LIMIT = 500
MAP_LIMIT = 2000


def provider_with_age(provider: RescueProvider, now: datetime, rules: RescueRules) -> dict:
    body = rescue.provider_json(provider, rules, now)
    body["location_age_s"] = (round((now - provider.location_at).total_seconds())
                              if provider.location_at is not None else None)
    body["free_slots"] = max(provider.capacity - provider.active_jobs, 0)
    return body


def job_point(session: Session, job: RescueJob) -> dict:
    """A rescue job as the map draws it."""
    provider = session.get(RescueProvider, job.provider_id) if job.provider_id else None
    return {"id": job.id, "claim_id": job.claim_id, "state": job.state, "needs": job.needs, "urgency": job.urgency,
            "location": {"lon": job.lon, "lat": job.lat}, "eta_minutes": job.eta_minutes,
            "provider": provider.name if provider else None, "offer_expires_at": job.offer_expires_at,
            "created_at": job.created_at}


def map_layers(session: Session, now: datetime, rules: RescueRules) -> dict:
    """The operations map's rescue layers: running jobs (and those finished in the last hour), all trucks."""
    jobs = rescue_dao.live_or_finished_since(session, now - FINISHED_JOBS_SHOWN_FOR, MAP_LIMIT)
    return {"jobs": [job_point(session, j) for j in jobs],
            "providers": [provider_with_age(p, now, rules) for p in rescue_dao.all_providers(session)],
            "provider_location_max_age_s": rules.provider_location_max_age_s}


def _nearest_free(job: RescueJob, providers: list[RescueProvider], now: datetime) -> list[dict]:
    fits = [p for p in providers if job.needs in (p.capabilities or [])]
    if not fits:
        return []
    distances = rescue.offer_distances_km(job.lon, job.lat, [p.lon for p in fits], [p.lat for p in fits])
    nearest = []
    for index in np.argsort(distances, kind="stable")[:NEAREST_PROVIDERS]:
        km = float(distances[index])
        if km > rescue.MAX_OFFER_DISTANCE_KM:
            break
        provider = fits[index]
        nearest.append({"provider_id": provider.id, "name": provider.name, "kind": provider.kind,
                        "distance_km": round(km, 1), "eta_minutes": rescue.eta_estimate(km),
                        "free_slots": provider.capacity - provider.active_jobs,
                        "location_age_s": round((now - provider.location_at).total_seconds())})
    return nearest


def dispatch_board(session: Session, now: datetime, rules: RescueRules) -> dict:
    """Live jobs by state, each with its nearest free providers (distance, ETA); all providers."""
    fresh_since = now - rules.location_max_age
    providers = rescue_dao.all_providers(session)
    free = [p for p in providers if p.available and p.active_jobs < p.capacity and p.lon is not None
            and p.location_at is not None and p.location_at >= fresh_since]
    board = []
    for job in rescue_dao.jobs_in_states(session, BOARD_STATES, BOARD_LIMIT):
        body = rescue.job_json(session, job)
        body["nearest_free"] = _nearest_free(job, free, now)
        board.append(body)
    return {
        "server_time": now, "offer_timeout_s": rules.offer_timeout_s,
        "provider_location_max_age_s": rules.provider_location_max_age_s,
        "jobs": board, "finished_last_hour": rescue_dao.finished_since(session, now - FINISHED_JOBS_SHOWN_FOR),
        "providers": [provider_with_age(p, now, rules) for p in providers],
    }


def _decidable_levels(actor: Principal) -> list[str]:
    if actor.role not in payments.LEVELS:
        return []
    level = payments.LEVELS.index(actor.role)
    return [role for role in payments.LEVELS if payments.LEVELS.index(role) <= level]


def approvals_waiting(session: Session, actor: Principal) -> int:
    """How many payments wait for a decision this user may take: the navigation's badge."""
    levels = _decidable_levels(actor)
    return payments_dao.count_waiting_for(session, levels, actor.user_id) if levels else 0


def approvals_inbox(session: Session, actor: Principal, rules: GreenChannelRules) -> list[dict]:
    """Payments waiting for a decision this user may take (their level or below, never their own), each
    with the claim's documents, the identity check (ID card, bank account) and whom the money goes to."""
    levels = _decidable_levels(actor)
    if not levels:
        return []
    inbox = []
    for payment, claim, requester in payments_dao.waiting_for(session, levels, actor.user_id):
        customer = session.get(Customer, claim.customer_id)
        uploaded = {document.kind for document in documents.live_documents(session, claim.id)}
        body = payments.to_json(payment)
        body.update({"requester_name": requester, "claim": {
            "id": claim.id, "stage": claim.stage, "customer_id": claim.customer_id, "cat_code": claim.cat_code,
            "estimate": claim.estimate,
            "advance_cap": payments.advance_cap(claim.estimate, rules.payments) if claim.estimate else None,
            "priority_reasons": claim.priority_reasons or [],
            "customer_name": customer.name if customer else None,
            "customer_phone": privacy.phone_as_seen_by(actor.role, customer.phone if customer else None,
                                                       privacy.CUSTOMER),
            "documents": {"required": claim.required_documents or [],
                          "missing": documents.missing_kinds(session, claim), "uploaded": sorted(uploaded)},
            "identity_check": payments.identity_check(session, claim),
            "why_first": queue.why_first(claim, customer, rescue_dao.completed_job_exists(session, claim.id),
                                         utcnow())}})
        inbox.append(body)
    return inbox
