"""Rescue dispatch: providers, offers and their cascade, surge batches, job states.

See docs/architecture.md, "A claim, from report to payment". A job goes created -> offered -> accepted (with an ETA) ->
en_route -> on_scene -> towing -> completed; an offer that is rejected or expires
(RescueRules.offer_timeout_s) cascades to the next best provider (one already offered the job may
get it again after RETRY_AFTER); a job may end cancelled or gone_on_arrival instead. An offer goes to the nearest provider that is available, has a free slot
(capacity), can do the job (a flooded car needs a flatbed) and reported its location within
RescueRules.provider_location_max_age_s. During a surge (more pending jobs than free providers) new jobs wait
for the batch, which assigns all pending jobs at once with minimum total distance
(scipy.optimize.linear_sum_assignment), people at risk first.

What holds under concurrent requests, and where:
- one offer at a time per job, and never two trucks on one job: a partial unique index allows one
  live (offered or accepted) offer per job, and the job row is locked (and versioned) for every move;
- one live job per claim: a partial unique index;
- a provider never holds more jobs than its capacity: slots are taken with a conditional UPDATE.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.distance import distance_km, short_distances_km
from greenchannel import claims as claims_module
from greenchannel import messages, places, queue
from greenchannel.dao import rescue_dao
from greenchannel.dao.rescue_dao import all_providers, provider_of_user
from greenchannel.errors import Conflict, Forbidden, Invalid, Malformed, NotFound
from greenchannel.locking import lock_row, lock_rows_skip_locked
from greenchannel.requests import JobRequest, ProviderChanges, ProviderRegistration
from greenchannel.rules import RescueRules
from store import audit
from store.models import AuditEvent, Claim, Customer, RescueJob, RescueOffer, RescueProvider
from store.models.greenchannel import (
    FINAL_JOB_STATES,
    OPEN_STAGES,
    JobState,
    OfferState,
    RescueNeed,
)
from store.types import utcnow
from store.users import Principal

NEEDS = tuple(RescueNeed)
DEFAULT_CAPABILITIES = {"tow": ["tow"], "flatbed": ["flatbed", "tow"], "boat": ["boat"]}
MAX_OFFER_DISTANCE_KM = 100.0
FLOOD_SPEED_KMH = 30.0  # for the ETA shown with an offer; the provider gives the real one on accepting
# In a batch, a job with a person at risk costs this many km less, so it is served before any
# vehicle-only job (then the total distance is minimised among the rest).
URGENCY_BONUS_KM = 10_000.0
INFEASIBLE = 1e9
RETRY_AFTER = timedelta(minutes=30)
DISPATCH_ROLES = ("dispatcher", "admin")
JOB_STATES = tuple(JobState)
STATUS_FROM = {
    JobState.EN_ROUTE: (JobState.ACCEPTED,),
    JobState.ON_SCENE: (JobState.EN_ROUTE,),
    JobState.TOWING: (JobState.ON_SCENE,),
    JobState.COMPLETED: (JobState.TOWING, JobState.ON_SCENE),
    JobState.GONE_ON_ARRIVAL: (JobState.EN_ROUTE, JobState.ON_SCENE),
    JobState.CANCELLED: (JobState.CREATED, JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SCENE),
}
HOLDS_SLOT = (JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SCENE, JobState.TOWING)


# --- providers -----------------------------------------------------------------------------------

def _capabilities(value: list[str] | None, kind: str) -> list[str]:
    if value is None:
        return list(DEFAULT_CAPABILITIES[kind])
    return sorted({str(c) for c in value} | {str(kind)})


def register_provider(session: Session, actor: Principal, ask: ProviderRegistration,
                      now: datetime | None = None) -> RescueProvider:
    now = now or utcnow()
    provider = RescueProvider(
        name=ask.name, phone=ask.phone, kind=str(ask.kind), capabilities=_capabilities(ask.capabilities, ask.kind),
        capacity=ask.capacity, available=ask.available, active_jobs=0, user_id=ask.user_id,
        created_at=now, updated_at=now,
    )
    if ask.location is not None:
        provider.lon, provider.lat = ask.location.lon, ask.location.lat
    elif ask.location_at is not None:
        raise Malformed("location_at goes with a location", "location_at")
    session.add(provider)
    session.flush()
    audit.record(session, "rescue_provider", provider.id, "registered", actor_id=actor.user_id,
                 actor_role=actor.role, note=provider.name)
    if ask.location is not None:
        _stamp_location(session, actor, provider, ask.location_at, now)
    return provider


def _stamp_location(session: Session, actor: Principal, provider: RescueProvider, reported_at: datetime | None,
                    now: datetime) -> None:
    """When the truck was there: the time its device gave, never later than our clock. A fix dated ahead
    (a device clock that runs fast, a replay) is stored as now and flagged, so ages never count down."""
    provider.location_clamped = reported_at is not None and reported_at > now
    provider.location_at = now if reported_at is None or provider.location_clamped else reported_at
    if provider.location_clamped:
        audit.record(session, "rescue_provider", provider.id, "location_clamped", actor_id=actor.user_id,
                     actor_role=actor.role, note=f"position dated {reported_at.isoformat()}, ahead of the "
                                                 f"server clock; stored as {now.isoformat()}")


def update_provider(session: Session, actor: Principal, provider_id: int, changes: ProviderChanges,
                    now: datetime | None = None) -> RescueProvider:
    """PATCH: location (stamped now), availability, capacity, capabilities, name, phone."""
    now = now or utcnow()
    sent = changes.model_fields_set
    own = provider_of_user(session, actor)
    if own is not None and own.id != provider_id:
        raise Forbidden("you may update your own provider only")
    provider = lock_row(session, RescueProvider, provider_id)
    if provider is None:
        raise NotFound(f"rescue provider {provider_id}")
    if "location_at" in sent and "location" not in sent:
        raise Malformed("location_at goes with a location", "location_at")
    if "location" in sent:
        provider.lon, provider.lat = changes.location.lon, changes.location.lat
        _stamp_location(session, actor, provider, changes.location_at, now)
    if "available" in sent:
        provider.available = changes.available
    if "capacity" in sent:
        provider.capacity = changes.capacity
    if "capabilities" in sent:
        provider.capabilities = _capabilities(changes.capabilities, provider.kind)
    if "name" in sent:
        provider.name = changes.name
    if "phone" in sent:
        provider.phone = changes.phone
    provider.updated_at = now
    return provider


def _offerable(now: datetime, rules: RescueRules) -> list:
    return [RescueProvider.available.is_(True), RescueProvider.active_jobs < RescueProvider.capacity,
            RescueProvider.location_at >= now - rules.location_max_age, RescueProvider.lon.is_not(None)]


def _take_slot(session: Session, provider_id: int, now: datetime, rules: RescueRules) -> bool:
    taken = session.execute(update(RescueProvider).where(RescueProvider.id == provider_id, *_offerable(now, rules))
                            .values(active_jobs=RescueProvider.active_jobs + 1)
                            .execution_options(synchronize_session=False))
    return taken.rowcount == 1


def _free_slot(session: Session, provider_id: int) -> None:
    session.execute(update(RescueProvider).where(RescueProvider.id == provider_id, RescueProvider.active_jobs > 0)
                    .values(active_jobs=RescueProvider.active_jobs - 1)
                    .execution_options(synchronize_session=False))


def provider_json(provider: RescueProvider, rules: RescueRules, now: datetime | None = None) -> dict:
    now = now or utcnow()
    fresh = provider.location_at is not None and provider.location_at >= now - rules.location_max_age
    return {"id": provider.id, "name": provider.name, "phone": provider.phone, "kind": provider.kind,
            "capabilities": provider.capabilities, "capacity": provider.capacity,
            "active_jobs": provider.active_jobs, "available": provider.available,
            "location": {"lon": provider.lon, "lat": provider.lat} if provider.lon is not None else None,
            "location_at": provider.location_at, "location_fresh": fresh, "user_id": provider.user_id,
            "location_clamped": bool(getattr(provider, "location_clamped", False))}


list_providers = all_providers


# --- distances and choice ------------------------------------------------------------------------

def offer_distances_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distances (within a metre), `inf` past the farthest a job is ever offered; broadcasts
    (jobs as a column against providers as a row)."""
    return short_distances_km(lon1, lat1, lon2, lat2, within_km=MAX_OFFER_DISTANCE_KM)


def eta_estimate(distance_km: float) -> int:
    return int(round(5 + distance_km / FLOOD_SPEED_KMH * 60))


def needs_for(claim: Claim) -> str:
    """A flooded car goes on a flatbed: towing it on its wheels wrecks the engine and gearbox."""
    return RescueNeed.FLATBED if claims_module.is_flooded(claim) else RescueNeed.TOW


def urgency_of(claim: Claim | None) -> int:
    if claim is None:
        return 0
    if claim.person_trapped or claim.person_injured:
        return 2
    return 1 if claim.vehicle_in_water or claim.in_travel_lane else 0


def _tried_providers(session: Session, job_ids: list[int], now: datetime) -> dict[int, set[int]]:
    """Providers not to offer each job again yet: any offered it in the last RETRY_AFTER (they rejected it,
    let it expire, or had it taken back). After that they may get it again: a truck that was full or out
    of signal half an hour ago may be the only one near that car now."""
    recent = now - RETRY_AFTER
    tried: dict[int, set[int]] = {}
    for job_id, provider_id in rescue_dao.offered_since(session, job_ids, recent):
        tried.setdefault(job_id, set()).add(provider_id)
    return tried


def _make_offer(session: Session, job: RescueJob, provider: RescueProvider, distance_km: float, mode: str,
                now: datetime, rules: RescueRules, actor: Principal | None = None) -> RescueOffer:
    attempt = rescue_dao.last_attempts(session, [job.id]).get(job.id, 0) + 1
    offer = RescueOffer(job_id=job.id, attempt=attempt, provider_id=provider.id, state=OfferState.OFFERED,
                        mode=mode, distance_km=round(distance_km, 3), eta_minutes=eta_estimate(distance_km),
                        offered_at=now, expires_at=now + rules.offer_timeout)
    session.add(offer)
    previous = job.state
    job.state, job.provider_id, job.offer_expires_at, job.eta_minutes = \
        JobState.OFFERED, provider.id, offer.expires_at, None
    job.updated_at = now
    session.flush()  # the live-offer index speaks here if someone else offered this job first
    audit.record(session, "rescue_job", job.id, "offered", actor_id=actor and actor.user_id,
                 actor_role=actor and actor.role, from_state=previous, to_state="offered",
                 note=f"{provider.name} ({distance_km:.1f} km, {mode})",
                 data={"offer_id": offer.id, "provider_id": provider.id, "attempt": attempt})
    return offer


def offer_to_nearest(session: Session, job: RescueJob, now: datetime, rules: RescueRules) -> RescueOffer | None:
    """Offer the (locked, unoffered) job to the nearest provider that fits and has not had it yet."""
    tried = _tried_providers(session, [job.id], now).get(job.id, set())
    candidates = [p for p in session.scalars(select(RescueProvider).where(*_offerable(now, rules)))
                  if job.needs in (p.capabilities or []) and p.id not in tried]
    if not candidates:
        return None
    distances = offer_distances_km(job.lon, job.lat, [p.lon for p in candidates], [p.lat for p in candidates])
    for index in np.argsort(distances, kind="stable"):
        if distances[index] > MAX_OFFER_DISTANCE_KM:
            break
        if _take_slot(session, candidates[index].id, now, rules):
            return _make_offer(session, job, candidates[index], float(distances[index]), "nearest", now, rules)
    return None


def _cascade(session: Session, job: RescueJob, now: datetime, rules: RescueRules) -> RescueOffer | None:
    """After a rejection or expiry: the next best provider, or back to pending for the next batch."""
    job.state, job.provider_id, job.offer_expires_at = JobState.CREATED, None, None
    if is_held(job, now):
        audit.record(session, "rescue_job", job.id, "waiting", from_state="offered", to_state="created",
                     note="held by a dispatcher; no automatic offer until the hold ends")
        return None
    offer = offer_to_nearest(session, job, now, rules)
    if offer is None:
        audit.record(session, "rescue_job", job.id, "waiting", from_state="offered", to_state="created",
                     note="no free provider fits; waiting for the next batch")
    return offer


# --- jobs ----------------------------------------------------------------------------------------

def is_held(job: RescueJob, now: datetime) -> bool:
    return job.held_until is not None and job.held_until > now


def _not_held(now: datetime):
    return or_(RescueJob.held_until.is_(None), RescueJob.held_until <= now)


def _in_surge(session: Session, now: datetime, rules: RescueRules) -> bool:
    """More pending jobs than providers free to take one: new jobs wait for the batch."""
    pending = rescue_dao.pending_job_count(session)
    free = session.scalar(select(func.count()).select_from(RescueProvider).where(*_offerable(now, rules))) or 0
    return pending > free


def _where_and_whose(session: Session, actor: Principal, ask: JobRequest) -> tuple[Claim | None, float, float, str | None]:
    """The claim the job is for (if any), where the car is, and whose it is."""
    if ask.claim_id is not None:
        claim = claims_module.visible_claim(session, actor, ask.claim_id)
        if claim.stage not in OPEN_STAGES:
            raise Conflict(f"claim {claim.id} is {claim.stage}", code="claim_closed")
        lon, lat = (ask.location.lon, ask.location.lat) if ask.location else (claim.loss_lon, claim.loss_lat)
        return claim, lon, lat, claim.customer_id
    if actor.role == "customer":
        raise Malformed("give the claim_id this rescue is for", "claim_id")
    if ask.location is None:
        raise Malformed('location must be {"lon": .., "lat": ..} or [lon, lat]', "location")
    if ask.customer_id is not None and session.get(Customer, ask.customer_id) is None:
        raise Invalid(f"no customer {ask.customer_id}", "customer_id", code="unknown_customer")
    return None, ask.location.lon, ask.location.lat, ask.customer_id


def create_job(session: Session, actor: Principal, ask: JobRequest, rules: RescueRules,
               now: datetime | None = None) -> tuple[RescueJob, bool]:
    """Open a rescue job (for a claim, or for a location). Returns (job, created); a second request for
    a claim whose job is still live returns that job. Offers it at once unless a surge is on."""
    now = now or utcnow()
    claim, lon, lat, customer_id = _where_and_whose(session, actor, ask)
    needs = ask.needs or (needs_for(claim) if claim else RescueNeed.TOW)
    if claim is not None and needs == RescueNeed.TOW and needs_for(claim) == RescueNeed.FLATBED:
        raise Invalid("this vehicle is flooded: it needs a flatbed, not a tow on its wheels", "needs")
    live = _live_job_for(session, claim.id) if claim is not None else None
    if live is not None:
        return live, False
    job = RescueJob(claim_id=claim.id if claim else None, customer_id=customer_id, lon=lon, lat=lat,
                    needs=str(needs), urgency=urgency_of(claim), state=JobState.CREATED, created_by=actor.user_id,
                    note=ask.note, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # a concurrent request opened this claim's job a moment ago
        if claim is None:
            raise
        return _live_job_for(session, claim.id), False
    audit.record(session, "rescue_job", job.id, "created", actor_id=actor.user_id, actor_role=actor.role,
                 to_state=JobState.CREATED, data={"claim_id": job.claim_id, "needs": str(needs)})
    if ask.dispatch and not _in_surge(session, now, rules):
        offer_to_nearest(session, job, now, rules)
    return job, True


def _live_job_for(session: Session, claim_id: int) -> RescueJob | None:
    return rescue_dao.live_job_for_claim(session, claim_id)


def _locked_job(session: Session, job_id: int) -> RescueJob:
    job = lock_row(session, RescueJob, job_id)
    if job is None:
        raise NotFound(f"rescue job {job_id}")
    return job


def live_offer(session: Session, job_id: int) -> RescueOffer | None:
    return rescue_dao.live_offer(session, job_id)


def _dispatcher_only(session: Session, actor: Principal) -> None:
    if actor.role not in DISPATCH_ROLES or provider_of_user(session, actor) is not None:
        raise Forbidden("only Haven's dispatchers assign and take back jobs")


def _acting_provider(session: Session, actor: Principal, provider_id: int | None) -> int | None:
    own = provider_of_user(session, actor)
    if own is not None:
        if provider_id is not None and provider_id != own.id:
            raise Forbidden("you may answer offers for your own provider only")
        return own.id
    return provider_id


def hold(session: Session, actor: Principal, job_id: int, rules: RescueRules,
         now: datetime | None = None) -> RescueJob:
    """A dispatcher is working this job by hand: while it waits for a truck (pending, or offered and its
    offer may lapse) no automatic offer is made for RescueRules.hold_s; the board renews it while the job
    is open there."""
    now = now or utcnow()
    _dispatcher_only(session, actor)
    job = _locked_job(session, job_id)
    if job.state not in (JobState.CREATED, JobState.OFFERED):
        raise Conflict(f"job {job_id} is {job.state}; only a job waiting for a truck can be held", code="not_pending")
    if is_held(job, now) and job.held_by is None and job.held_until >= now + rules.hold:
        return job  # left for the desk (leave_for_dispatcher) for longer than a hold: it stays so
    renewing = is_held(job, now) and job.held_by == actor.user_id
    job.held_until, job.held_by, job.updated_at = now + rules.hold, actor.user_id, now
    if not renewing:
        audit.record(session, "rescue_job", job.id, "held", actor_id=actor.user_id, actor_role=actor.role,
                     from_state=job.state, to_state=job.state, note=f"until {job.held_until.isoformat()}")
    return job


def leave_for_dispatcher(session: Session, actor: Principal, job_id: int, until: datetime,
                         now: datetime | None = None) -> RescueJob:
    """The hotline leaves a pending job for a dispatcher to place by hand (a customer called back, the case
    wants a person's judgement): no automatic offer until `until`, after which the batch takes it, so no job
    is forgotten. Nobody holds it yet (held_by stays empty); a dispatcher assigns it from the board."""
    now = now or utcnow()
    _dispatcher_only(session, actor)
    job = _locked_job(session, job_id)
    if job.state != JobState.CREATED:
        raise Conflict(f"job {job_id} is {job.state}; only a pending job can be left for a dispatcher",
                       code="not_pending")
    job.held_until, job.held_by, job.updated_at = until, None, now
    audit.record(session, "rescue_job", job.id, "left_for_dispatcher", actor_id=actor.user_id,
                 actor_role=actor.role, from_state=job.state, to_state=job.state, note=f"until {until.isoformat()}")
    return job


def assign(session: Session, actor: Principal, job_id: int, provider_id: int, rules: RescueRules,
           now: datetime | None = None, override_reason: str | None = None) -> RescueOffer:
    """A dispatcher offers a pending job to a chosen provider (same fit rules as automatic offers). A
    truck beyond the radius an automatic offer reaches takes a reason, which is audited."""
    now = now or utcnow()
    _dispatcher_only(session, actor)
    job = _locked_job(session, job_id)
    if job.state != "created":
        raise Conflict(f"job {job_id} is {job.state}; only a pending job can be offered", code="not_pending")
    provider = session.get(RescueProvider, provider_id)
    if provider is None:
        raise NotFound(f"rescue provider {provider_id}")
    if job.needs not in (provider.capabilities or []):
        raise Invalid(f"{provider.name} cannot do a {job.needs} job", "provider_id", code="capability")
    if not _take_slot(session, provider.id, now, rules):
        raise Conflict(f"{provider.name} is unavailable, full, or its location is older than "
                       f"{rules.provider_location_max_age_s:.0f} s", code="provider_unavailable")
    if provider.lon is None:
        raise Conflict(f"{provider.name} has no position", code="provider_unavailable")
    distance = float(distance_km(job.lon, job.lat, provider.lon, provider.lat))
    if distance > MAX_OFFER_DISTANCE_KM and not override_reason:
        raise Invalid(f"{provider.name} is {distance:.0f} km away, beyond the {MAX_OFFER_DISTANCE_KM:.0f} km an "
                      f"offer reaches; give override_reason to send it anyway", "override_reason",
                      code="beyond_radius")
    job.held_until, job.held_by = None, None
    offer = _make_offer(session, job, provider, distance, "manual", now, rules, actor)
    if distance > MAX_OFFER_DISTANCE_KM:
        audit.record(session, "rescue_job", job.id, "radius_override", actor_id=actor.user_id,
                     actor_role=actor.role, from_state="offered", to_state="offered", note=override_reason,
                     data={"offer_id": offer.id, "provider_id": provider.id, "distance_km": round(distance, 1)})
    return offer


def _end_offer(session: Session, job: RescueJob, offer: RescueOffer, state: str, now: datetime,
               actor: Principal | None, note: str | None = None) -> None:
    previous_job_state = job.state
    offer.state, offer.responded_at = state, offer.responded_at or (now if state != "withdrawn" else None)
    _free_slot(session, offer.provider_id)
    audit.record(session, "rescue_job", job.id, f"offer_{state}", actor_id=actor and actor.user_id,
                 actor_role=actor and actor.role, from_state=previous_job_state, to_state=previous_job_state,
                 note=note, data={"offer_id": offer.id, "provider_id": offer.provider_id})


def _expired(session: Session, job: RescueJob, offer: RescueOffer, now: datetime, rules: RescueRules) -> None:
    _end_offer(session, job, offer, OfferState.EXPIRED, now, None, f"no answer within {rules.offer_timeout_s:.0f} s")
    _cascade(session, job, now, rules)


def respond(session: Session, actor: Principal, job_id: int, accept: bool, rules: RescueRules, *,
            provider_id: int | None = None, eta_minutes: int | None = None, note: str | None = None,
            now: datetime | None = None) -> RescueJob:
    """The provider accepts (with an ETA) or rejects the live offer; a rejection cascades."""
    now = now or utcnow()
    provider_id = _acting_provider(session, actor, provider_id)
    if accept and eta_minutes is None:
        raise Malformed("eta_minutes is required", "eta_minutes")
    job = _locked_job(session, job_id)
    offer = live_offer(session, job_id)
    if job.state != "offered" or offer is None or offer.state != "offered":
        raise Conflict(f"job {job_id} has no open offer (it is {job.state})", code="no_open_offer")
    if provider_id is not None and provider_id != offer.provider_id:
        raise Conflict(f"job {job_id} is offered to provider {offer.provider_id}, not {provider_id}",
                       code="not_your_offer")
    if offer.expires_at <= now:
        _expired(session, job, offer, now, rules)
        raise Conflict(f"the offer expired at {offer.expires_at.isoformat()}", code="offer_expired",
                       keep_changes=True)
    if not accept:
        _end_offer(session, job, offer, OfferState.REJECTED, now, actor, note)
        _cascade(session, job, now, rules)
        return job
    offer.state, offer.responded_at = OfferState.ACCEPTED, now
    job.state, job.eta_minutes, job.accepted_at, job.offer_expires_at, job.updated_at = \
        "accepted", eta_minutes, now, None, now
    provider = session.get(RescueProvider, offer.provider_id)
    audit.record(session, "rescue_job", job.id, "accepted", actor_id=actor.user_id, actor_role=actor.role,
                 from_state="offered", to_state="accepted", note=f"{provider.name}, ETA {eta_minutes} min",
                 data={"offer_id": offer.id, "provider_id": provider.id})
    reassigned = rescue_dao.taken_back_count(session, job.id)
    messages.notify_customer(session, job, provider, "rescue_assigned", offer.id if reassigned else None)
    return job


def advance(session: Session, actor: Principal, job_id: int, status: str, note: str | None = None,
            now: datetime | None = None) -> RescueJob:
    """en_route, on_scene (the customer is told), towing, completed, gone_on_arrival, cancelled."""
    now = now or utcnow()
    if status not in STATUS_FROM:
        raise Malformed(f"status must be accepted, rejected or one of {', '.join(STATUS_FROM)}", "status")
    job = _locked_job(session, job_id)
    if actor.role == "customer":
        claims_module.visible_claim(session, actor, job.claim_id or 0)
        if status != "cancelled":
            raise Forbidden("a customer can only cancel their rescue")
    own = provider_of_user(session, actor)
    if own is not None and job.provider_id != own.id:
        raise Forbidden("this job is not assigned to your provider")
    if job.state not in STATUS_FROM[status]:
        raise Conflict(f"job {job_id} is {job.state}; {status} comes after {' or '.join(STATUS_FROM[status])}",
                       code="illegal_transition")
    previous = job.state
    offer = live_offer(session, job.id)
    if status in FINAL_JOB_STATES and previous in HOLDS_SLOT and offer is not None:
        if offer.state == "offered":
            offer.state = "withdrawn"
        _free_slot(session, offer.provider_id)
    job.state, job.updated_at = status, now
    if status == "on_scene":
        job.arrived_at = now
    if status in FINAL_JOB_STATES:
        job.finished_at, job.offer_expires_at = now, None
    audit.record(session, "rescue_job", job.id, status, actor_id=actor.user_id, actor_role=actor.role,
                 from_state=previous, to_state=status, note=note)
    if status == "on_scene":
        messages.notify_customer(session, job, session.get(RescueProvider, job.provider_id), "rescue_arrived")
    if status == "completed" and job.claim_id is not None:
        queue.refresh(session, session.get(Claim, job.claim_id), now)  # the car is out of the water
    return job


def reoffer(session: Session, actor: Principal, job_id: int, rules: RescueRules, note: str | None = None,
            now: datetime | None = None) -> RescueJob:
    """A dispatcher takes the job back from its provider (no answer by phone, truck broke down) and
    offers it to the next best one."""
    now = now or utcnow()
    _dispatcher_only(session, actor)
    job = _locked_job(session, job_id)
    if job.state not in ("offered", "accepted", "en_route"):
        raise Conflict(f"job {job_id} is {job.state}; only an offered or assigned job can be re-offered",
                       code="illegal_transition")
    offer = live_offer(session, job.id)
    _end_offer(session, job, offer, OfferState.WITHDRAWN, now, actor, note or "taken back by the dispatcher")
    _cascade(session, job, now, rules)
    return job


def expire_offers(session: Session, rules: RescueRules, now: datetime | None = None) -> int:
    """Expire offers past their time and cascade each job to the next provider."""
    now = now or utcnow()
    jobs = lock_rows_skip_locked(session, RescueJob, [RescueJob.state == "offered",
                                                      RescueJob.offer_expires_at <= now],
                                 order_by=[RescueJob.offer_expires_at])
    for job in jobs:
        offer = live_offer(session, job.id)
        if offer is not None and offer.state == "offered":
            _expired(session, job, offer, now, rules)
    return len(jobs)


# --- surge batch ---------------------------------------------------------------------------------

@dataclass
class BatchPlan:
    """A batch assignment: pairs of (job index, provider index) and their distances."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    distances_km: list[float] = field(default_factory=list)

    @property
    def total_km(self) -> float:
        return float(sum(self.distances_km))


def _cost_matrix(job_lon, job_lat, job_needs, job_urgency, provider_lon, provider_lat, provider_caps,
                 slots_per_provider, excluded=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances jobs x slots (a provider with n free slots is n columns) and the cost LSA minimises."""
    distance = offer_distances_km(np.asarray(job_lon)[:, None], np.asarray(job_lat)[:, None],
                                  np.asarray(provider_lon)[None, :], np.asarray(provider_lat)[None, :])
    can_do = np.array([[need in caps for need in NEEDS] for caps in provider_caps], dtype=bool).reshape(-1, len(NEEDS))
    fits = can_do[:, [NEEDS.index(need) for need in job_needs]].T  # jobs x providers
    feasible = fits & (distance <= MAX_OFFER_DISTANCE_KM)
    if excluded is not None:
        feasible &= ~excluded
    slot_provider = np.repeat(np.arange(len(provider_caps)), slots_per_provider)
    distance, feasible = distance[:, slot_provider], feasible[:, slot_provider]
    cost = np.where(feasible, distance - URGENCY_BONUS_KM * np.asarray(job_urgency, dtype=float)[:, None], INFEASIBLE)
    return distance, cost, slot_provider


def plan_batch(job_lon, job_lat, job_needs, job_urgency, provider_lon, provider_lat, provider_caps,
               slots_per_provider, excluded=None) -> BatchPlan:
    """Minimum total distance over all feasible (job, provider slot) pairs, people at risk first."""
    distance, cost, slot_provider = _cost_matrix(job_lon, job_lat, job_needs, job_urgency, provider_lon,
                                                 provider_lat, provider_caps, slots_per_provider, excluded)
    rows = np.flatnonzero((cost < INFEASIBLE).any(axis=1))
    cols = np.flatnonzero((cost < INFEASIBLE).any(axis=0))
    plan = BatchPlan()
    if len(rows) == 0 or len(cols) == 0:
        return plan
    sub = cost[np.ix_(rows, cols)]
    picked_rows, picked_cols = linear_sum_assignment(sub)
    for r, c in zip(picked_rows, picked_cols, strict=True):
        if sub[r, c] < INFEASIBLE:
            job, slot = rows[r], cols[c]
            plan.pairs.append((int(job), int(slot_provider[slot])))
            plan.distances_km.append(float(distance[job, slot]))
    return plan


def plan_greedy(job_lon, job_lat, job_needs, job_urgency, provider_lon, provider_lat, provider_caps,
                slots_per_provider, excluded=None) -> BatchPlan:
    """The baseline: jobs in urgency order, each takes the nearest free slot that fits."""
    distance, cost, slot_provider = _cost_matrix(job_lon, job_lat, job_needs, job_urgency, provider_lon,
                                                 provider_lat, provider_caps, slots_per_provider, excluded)
    free = np.ones(len(slot_provider), dtype=bool)
    plan = BatchPlan()
    for job in np.argsort(-np.asarray(job_urgency), kind="stable"):
        options = np.where(free & (cost[job] < INFEASIBLE), distance[job], np.inf)
        if options.size == 0 or not np.isfinite(options.min()):
            continue
        slot = int(np.argmin(options))
        free[slot] = False
        plan.pairs.append((int(job), int(slot_provider[slot])))
        plan.distances_km.append(float(distance[job, slot]))
    return plan


@dataclass
class BatchResult:
    pending: int = 0
    free_providers: int = 0
    free_slots: int = 0
    surge: bool = False
    offered: int = 0
    total_km: float = 0.0
    plan_seconds: float = 0.0
    offer_ids: list[int] = field(default_factory=list)
    held: int = 0
    offered_jobs: list[dict] = field(default_factory=list)
    unplaced: list[dict] = field(default_factory=list)


def dispatch_pending(session: Session, rules: RescueRules, now: datetime | None = None) -> BatchResult:
    """Offer every pending job in one batch. Jobs and providers another transaction holds are skipped
    (SKIP LOCKED), so the batch never waits on, nor races with, a dispatcher working one job."""
    now = now or utcnow()
    result = BatchResult(held=rescue_dao.held_job_count(session, now))
    jobs = lock_rows_skip_locked(session, RescueJob, [RescueJob.state == "created", _not_held(now)],
                                 order_by=[RescueJob.urgency.desc(), RescueJob.created_at, RescueJob.id])
    result.pending = len(jobs)
    if not jobs:
        return result
    providers = lock_rows_skip_locked(session, RescueProvider, _offerable(now, rules), order_by=[RescueProvider.id])
    slots = np.array([p.capacity - p.active_jobs for p in providers], dtype=int)
    result.free_slots, result.free_providers = int(slots.sum()), len(providers)
    result.surge = len(jobs) > len(providers)
    if not providers:
        _explain_unplaced(session, jobs, set(), now, rules, result)
        return result
    tried = _tried_providers(session, [j.id for j in jobs], now)
    provider_index = {p.id: i for i, p in enumerate(providers)}
    excluded = np.zeros((len(jobs), len(providers)), dtype=bool)
    for j, job in enumerate(jobs):
        for provider_id in tried.get(job.id, ()):
            if provider_id in provider_index:
                excluded[j, provider_index[provider_id]] = True
    started = time.perf_counter()
    plan = plan_batch([j.lon for j in jobs], [j.lat for j in jobs], [j.needs for j in jobs],
                      [j.urgency for j in jobs], [p.lon for p in providers], [p.lat for p in providers],
                      [p.capabilities or [] for p in providers], slots, excluded)
    result.plan_seconds = time.perf_counter() - started
    # Read before the bulk write expires the ORM copies (a surge has a thousand of them).
    result.offered_jobs = [{"job_id": jobs[j].id, "provider_id": providers[p].id, "provider_name": providers[p].name,
                            "distance_km": round(km, 1)}
                           for (j, p), km in zip(plan.pairs, plan.distances_km, strict=True)]
    placed = {j for j, _ in plan.pairs}
    left = [_spot(job) for index, job in enumerate(jobs) if index not in placed]
    _write_batch(session, jobs, providers, plan, now, rules, result)
    _explain_unplaced(session, left, now, rules, result)
    return result


@dataclass(frozen=True)
class JobSpot:
    """What the reasons for a job's waiting depend on."""

    id: int
    lon: float
    lat: float
    needs: str
    held_until: datetime | None = None
    held_by: int | None = None


def _spot(job: RescueJob) -> JobSpot:
    return JobSpot(job.id, job.lon, job.lat, job.needs, job.held_until, job.held_by)


def _explain_unplaced(session: Session, left: list[JobSpot], now: datetime, rules: RescueRules,
                      result: BatchResult) -> None:
    if not left:
        return
    reasons = unplaced_reasons(session, left, now, rules)
    result.unplaced = [{"job_id": job.id, "reason": reasons[job.id]} for job in left]


def unplaced_reasons(session: Session, jobs: list, now: datetime, rules: RescueRules) -> dict[int, dict]:
    """Why each pending job has no truck yet, as a code with the facts to put it in words:
    held (a dispatcher is on it), for_dispatcher (left for a dispatcher to place by hand), no_capable_provider (no truck at all can do this job), all_declined (every
    free truck in reach declined it or let its offer expire lately), none_within_radius (the nearest free
    truck that can is farther than an offer reaches), no_free_provider (those that can are busy, switched
    off or their position is too old), waiting_for_batch (a free truck in reach: the next batch offers it).
    With the last offer that ended (whose, how, when) and the nearest free truck that can do it."""
    providers = rescue_dao.all_providers(session)
    offers = rescue_dao.recent_offers(session, [job.id for job in jobs], now - RETRY_AFTER)
    fresh_since = now - rules.location_max_age
    free = [p for p in providers if p.available and p.active_jobs < p.capacity and p.lon is not None
            and p.location_at is not None and p.location_at >= fresh_since]
    distances = (offer_distances_km(np.array([j.lon for j in jobs])[:, None], np.array([j.lat for j in jobs])[:, None],
                                    np.array([p.lon for p in free])[None, :], np.array([p.lat for p in free])[None, :])
                 if free and jobs else np.full((len(jobs), 0), np.inf))
    reasons = {}
    for row, job in enumerate(jobs):
        tried = {o["provider_id"] for o in offers.get(job.id, [])}
        ended = [o for o in offers.get(job.id, []) if o["state"] in (OfferState.EXPIRED, OfferState.REJECTED,
                                                                     OfferState.WITHDRAWN)]
        fits = [i for i, p in enumerate(free) if job.needs in (p.capabilities or [])]
        nearest = None
        row_km = distances[row, fits] if fits else np.zeros(0)
        if fits and not np.isfinite(row_km).any():  # all beyond the radius: the real distance, for the words
            row_km = np.atleast_1d(distance_km(job.lon, job.lat, [free[i].lon for i in fits],
                                               [free[i].lat for i in fits]))
        if fits:
            best = int(np.argmin(row_km))
            nearest = {"provider_id": free[fits[best]].id, "name": free[fits[best]].name,
                       "distance_km": round(float(row_km[best]), 1)}
        in_reach = [i for i, km in zip(fits, row_km, strict=True) if km <= MAX_OFFER_DISTANCE_KM]
        if job.held_until is not None and job.held_until > now:
            code = "held" if job.held_by is not None else "for_dispatcher"
        elif not any(job.needs in (p.capabilities or []) for p in providers):
            code = "no_capable_provider"
        elif any(free[i].id not in tried for i in in_reach):
            code = "waiting_for_batch"
        elif in_reach:
            code = "all_declined"
        elif nearest is not None:
            code = "none_within_radius"
        else:
            code = "no_free_provider"
        reasons[job.id] = {
            "code": code, "needs": job.needs, "radius_km": MAX_OFFER_DISTANCE_KM, "nearest_free": nearest,
            "held_until": job.held_until if code in ("held", "for_dispatcher") else None,
            "last_offer": {"provider_name": ended[0]["provider_name"], "state": ended[0]["state"],
                           "at": ended[0]["ended_at"], "distance_km": ended[0]["distance_km"]} if ended else None,
        }
    return reasons


def _write_batch(session: Session, jobs: list[RescueJob], providers: list[RescueProvider], plan: BatchPlan,
                 now: datetime, rules: RescueRules, result: BatchResult) -> None:
    """Write the plan in bulk (one executemany per table): a surge batch has a thousand offers. Every
    row written here was locked above, so plain by-key updates are safe; job versions still move on."""
    if not plan.pairs:
        return
    expires = now + rules.offer_timeout
    attempts = rescue_dao.last_attempts(session, [jobs[j].id for j, _ in plan.pairs])
    taken = Counter(p for _, p in plan.pairs)
    providers_table, jobs_table = RescueProvider.__table__, RescueJob.__table__
    session.execute(providers_table.update().where(providers_table.c.id == bindparam("b_id"))
                    .values(active_jobs=providers_table.c.active_jobs + bindparam("b_taken"), updated_at=now),
                    [{"b_id": providers[p].id, "b_taken": n} for p, n in taken.items()])
    session.execute(jobs_table.update().where(jobs_table.c.id == bindparam("b_id"))
                    .values(state="offered", provider_id=bindparam("b_provider"), offer_expires_at=expires,
                            eta_minutes=None, updated_at=now, version=jobs_table.c.version + 1),
                    [{"b_id": jobs[j].id, "b_provider": providers[p].id} for j, p in plan.pairs])
    rows = [{"job_id": jobs[j].id, "attempt": attempts.get(jobs[j].id, 0) + 1, "provider_id": providers[p].id,
             "state": "offered", "mode": "batch", "distance_km": round(km, 3), "eta_minutes": eta_estimate(km),
             "offered_at": now, "expires_at": expires}
            for (j, p), km in zip(plan.pairs, plan.distances_km, strict=True)]
    offer_ids = list(session.scalars(insert(RescueOffer).returning(RescueOffer.id, sort_by_parameter_order=True),
                                     rows))
    # The same audit entries store.audit.record writes, in one statement (no ids needed back).
    session.execute(insert(AuditEvent), [
        {"entity": "rescue_job", "entity_id": str(row["job_id"]), "action": "offered", "from_state": "created",
         "to_state": "offered", "note": f"batch ({row['distance_km']:.1f} km)", "at": now,
         "data": {"offer_id": offer_id, "provider_id": row["provider_id"], "attempt": row["attempt"]}}
        for row, offer_id in zip(rows, offer_ids, strict=True)])
    for obj in (*jobs, *providers):
        session.expire(obj)  # the ORM copies are stale after the bulk writes
    result.offered, result.total_km, result.offer_ids = len(rows), plan.total_km, offer_ids


# --- reading -------------------------------------------------------------------------------------

def get_job(session: Session, actor: Principal, job_id: int) -> RescueJob:
    job = session.get(RescueJob, job_id)
    if job is None or (actor.role == "customer" and job.customer_id != actor.customer_id):
        raise NotFound(f"rescue job {job_id}")
    return job


def job_json(session: Session, job: RescueJob) -> dict:
    offer = live_offer(session, job.id)
    provider = session.get(RescueProvider, job.provider_id) if job.provider_id else None
    return {
        "id": job.id, "claim_id": job.claim_id, "customer_id": job.customer_id,
        "location": {"lon": job.lon, "lat": job.lat}, "needs": job.needs, "urgency": job.urgency,
        "state": job.state, "eta_minutes": job.eta_minutes,
        "provider": {"id": provider.id, "name": provider.name, "kind": provider.kind, "phone": provider.phone}
        if provider else None,
        "offer": {"id": offer.id, "attempt": offer.attempt, "provider_id": offer.provider_id, "state": offer.state,
                  "mode": offer.mode, "distance_km": offer.distance_km, "expires_at": offer.expires_at}
        if offer else None,
        "attempts": rescue_dao.offer_count(session, job.id),
        "held_until": job.held_until, "held_by": job.held_by,
        "note": job.note, "created_at": job.created_at, "accepted_at": job.accepted_at,
        "arrived_at": job.arrived_at, "finished_at": job.finished_at,
    }


def describe_jobs(session: Session, bodies: list[dict], rules: RescueRules) -> list[dict]:
    """Job views with where and whose in words: `address` (the insured asset's address when the job is
    at the asset, else the district the point lies in), `place` (that district in zh-CN and en),
    `customer_name`, and `problems` (the claim's flags: person trapped, in water, ...)."""
    if not bodies:
        return bodies
    details = rescue_dao.job_people_and_assets(session, [body["id"] for body in bodies])
    points = [(body["location"]["lon"], body["location"]["lat"]) for body in bodies]
    districts = places.districts(points, rules.gazetteer_path)
    for body, (lon, lat), district in zip(bodies, points, districts, strict=True):
        found = details.get(body["id"], {})
        asset = found.get("asset_position")
        at_asset = bool(found.get("asset_address")) and asset is not None and \
            float(distance_km(lon, lat, asset[0], asset[1])) <= places.AT_ASSET_KM
        body["at_asset"] = at_asset
        body["place"] = district
        body["address"] = found["asset_address"] if at_asset else \
            district["zh-CN"] if district else f"{abs(lat):.4f}°{'N' if lat >= 0 else 'S'} {abs(lon):.4f}°{'E' if lon >= 0 else 'W'}"
        body["customer_name"] = found.get("customer_name")
        body["problems"] = found.get("problems", [])
    return bodies
