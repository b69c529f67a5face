"""What the staff console shows of the green channel: the dispatch board, the approver's inbox, and the
rescue jobs and trucks on the operations map. Read only; the queries are in greenchannel/dao/.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from geo.distance import distance_km
from greenchannel import documents, payments, privacy, queue, rescue
from greenchannel.dao import payments_dao, rescue_dao
from greenchannel.privacy import CUSTOMER, customer_phones, customers_with_live_rescue, phone_as_seen_by
from greenchannel.rules import GreenChannelRules, RescueRules
from store.models import Customer, RescueJob, RescueProvider
from store.models.greenchannel import JobState, OfferState
from store.types import utcnow
from store.users import Principal

FINISHED_JOBS_SHOWN_FOR = timedelta(hours=1)
NEAREST_PROVIDERS = 3
CHOICES = 8  # trucks listed for a manual assignment, nearest first, beyond the radius too
CHOICES_FOR_JOBS = 100  # pending jobs that get the full list (a surge has a thousand)
BOARD_STATES = (JobState.CREATED, JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SCENE,
                JobState.TOWING)
BOARD_LIMIT = 500
FINISHED_LIMIT = 100
MAP_LIMIT = 2000


def _age_s(then: datetime | None, now: datetime) -> tuple[int | None, bool]:
    """Seconds since `then` by the server's clock, and whether `then` lies ahead of it (a device or a
    replay with a clock that runs fast): such a time counts as now, never as a negative age."""
    if then is None:
        return None, False
    seconds = (now - then).total_seconds()
    return max(0, round(seconds)), seconds < 0


def provider_with_age(provider: RescueProvider, now: datetime, rules: RescueRules) -> dict:
    body = rescue.provider_json(provider, rules, now)
    body["location_age_s"], body["location_in_future"] = _age_s(provider.location_at, now)
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
    return {"jobs": rescue.describe_jobs(session, [job_point(session, j) for j in jobs], rules),
            "providers": [provider_with_age(p, now, rules) for p in rescue_dao.all_providers(session)],
            "provider_location_max_age_s": rules.provider_location_max_age_s}


def _declined(offers: list[dict]) -> dict[int, dict]:
    """Per truck, how its latest offer of this job ended, when it did not take it."""
    ended = {}
    for offer in offers:  # newest first
        if offer["state"] in (OfferState.EXPIRED, OfferState.REJECTED, OfferState.WITHDRAWN):
            ended.setdefault(offer["provider_id"], {"state": offer["state"], "at": offer["ended_at"]})
    return ended


def _truck(provider: RescueProvider, km: float, now: datetime, declined: dict[int, dict]) -> dict:
    return {"provider_id": provider.id, "name": provider.name, "kind": provider.kind, "distance_km": round(km, 1),
            "eta_minutes": rescue.eta_estimate(km), "free_slots": provider.capacity - provider.active_jobs,
            "location_age_s": _age_s(provider.location_at, now)[0],
            "beyond_radius": km > rescue.MAX_OFFER_DISTANCE_KM, "declined": declined.get(provider.id)}


def _nearest_free(job: RescueJob, providers: list[RescueProvider], now: datetime, offers: list[dict],
                  with_choices: bool) -> tuple[list[dict], list[dict]]:
    """The nearest free trucks that can do the job within the radius (each saying whether it let this
    job's offer expire or declined it lately), and for a manual assignment the nearest CHOICES at any
    distance."""
    fits = [p for p in providers if job.needs in (p.capabilities or [])]
    if not fits:
        return [], []
    declined = _declined(offers)
    distances = rescue.offer_distances_km(job.lon, job.lat, [p.lon for p in fits], [p.lat for p in fits])
    nearest = []
    for index in np.argsort(distances, kind="stable")[:NEAREST_PROVIDERS]:
        if distances[index] > rescue.MAX_OFFER_DISTANCE_KM:
            break
        nearest.append(_truck(fits[index], float(distances[index]), now, declined))
    if not with_choices:
        return nearest, []
    exact = np.atleast_1d(distance_km(job.lon, job.lat, [p.lon for p in fits], [p.lat for p in fits]))
    choices = [_truck(fits[i], float(exact[i]), now, declined) for i in np.argsort(exact, kind="stable")[:CHOICES]]
    return nearest, choices


def _customer_phones_for_dispatcher(session: Session, bodies: list[dict]) -> None:
    """A dispatcher calls the customer of a live job: full number then, masked once the job is over."""
    customer_ids = {body["customer_id"] for body in bodies if body["customer_id"]}
    phones = customer_phones(session, customer_ids)
    live = customers_with_live_rescue(session, customer_ids)
    for body in bodies:
        body["customer_phone"] = phone_as_seen_by("dispatcher", phones.get(body["customer_id"]), CUSTOMER,
                                                  live_rescue=body["customer_id"] in live)


def dispatch_board(session: Session, now: datetime, rules: RescueRules) -> dict:
    """Live jobs, most urgent first and then longest waiting, each with where and whose in words, how long
    it has waited, its nearest free trucks (distance, ETA, an offer they let expire) and, while pending,
    why it has no truck yet; the jobs finished in the last hour; every truck with the age of its position."""
    fresh_since = now - rules.location_max_age
    providers = rescue_dao.all_providers(session)
    free = [p for p in providers if p.available and p.active_jobs < p.capacity and p.lon is not None
            and p.location_at is not None and p.location_at >= fresh_since]
    jobs = rescue_dao.jobs_in_states(session, BOARD_STATES, BOARD_LIMIT)
    finished = rescue_dao.finished_jobs_since(session, now - FINISHED_JOBS_SHOWN_FOR, FINISHED_LIMIT)
    bodies = rescue.describe_jobs(session, [rescue.job_json(session, j) for j in (*jobs, *finished)], rules)
    _customer_phones_for_dispatcher(session, bodies)
    waiting = [j for j in jobs if j.state in (JobState.CREATED, JobState.OFFERED)]
    offers = rescue_dao.recent_offers(session, [j.id for j in waiting], now - rescue.RETRY_AFTER)
    pending = [j for j in jobs if j.state == JobState.CREATED]
    reasons = rescue.unplaced_reasons(session, pending, now, rules) if pending else {}
    choosing = {j.id for j in pending[:CHOICES_FOR_JOBS]}
    for job, body in zip((*jobs, *finished), bodies, strict=True):
        body["waited_s"] = _age_s(job.created_at, now)[0]
        body["held"] = rescue.is_held(job, now)
        if job.state in (JobState.CREATED, JobState.OFFERED):
            body["nearest_free"], body["choices"] = _nearest_free(job, free, now, offers.get(job.id, []),
                                                                  job.id in choosing)
        else:
            body["nearest_free"], body["choices"] = [], []
        body["unplaced"] = reasons.get(job.id)
    return {
        "server_time": now, "offer_timeout_s": rules.offer_timeout_s, "hold_s": rules.hold_s,
        "radius_km": rescue.MAX_OFFER_DISTANCE_KM,
        "provider_location_max_age_s": rules.provider_location_max_age_s,
        "jobs": bodies[:len(jobs)], "finished": bodies[len(jobs):],
        "finished_last_hour": rescue_dao.finished_since(session, now - FINISHED_JOBS_SHOWN_FOR),
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
