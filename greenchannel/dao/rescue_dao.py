"""Rescue providers and jobs: listings, the board's reads, and the counts /metrics reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from store.models import Asset, Claim, Customer, RescueJob, RescueOffer, RescueProvider
from store.models.greenchannel import FINAL_JOB_STATES, LIVE_OFFER_STATES, JobState, OfferState
from store.users import Principal

URGENT_FIRST = (RescueJob.urgency.desc(), RescueJob.created_at, RescueJob.id)


def provider_of_user(session: Session, actor: Principal) -> RescueProvider | None:
    """A provider's own staff log in as dispatchers linked to their provider; they act for it only."""
    return session.scalar(select(RescueProvider).where(RescueProvider.user_id == actor.user_id))


def all_providers(session: Session) -> list[RescueProvider]:
    return list(session.scalars(select(RescueProvider).order_by(RescueProvider.id)))


def list_jobs(session: Session, actor: Principal, state: str | None = None, limit: int = 200) -> list[RescueJob]:
    """Most urgent first; a customer sees their own jobs, a provider's staff their provider's."""
    statement = select(RescueJob).order_by(*URGENT_FIRST).limit(limit)
    if state:
        statement = statement.where(RescueJob.state == state)
    if actor.role == "customer":
        statement = statement.where(RescueJob.customer_id == actor.customer_id)
    own = provider_of_user(session, actor)
    if own is not None:
        statement = statement.where(RescueJob.provider_id == own.id)
    return list(session.scalars(statement))


def jobs_in_states(session: Session, states, limit: int) -> list[RescueJob]:
    return list(session.scalars(select(RescueJob).where(RescueJob.state.in_(states))
                                .order_by(*URGENT_FIRST).limit(limit)))


def live_or_finished_since(session: Session, since: datetime, limit: int) -> list[RescueJob]:
    """Jobs still running, and those finished since `since` (the map shows them for a while)."""
    return list(session.scalars(select(RescueJob).where(
        RescueJob.state.not_in(FINAL_JOB_STATES) | (RescueJob.finished_at >= since))
        .order_by(RescueJob.urgency.desc(), RescueJob.created_at).limit(limit)))


def finished_since(session: Session, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(RescueJob).where(
        RescueJob.state.in_(FINAL_JOB_STATES), RescueJob.finished_at >= since)) or 0


def jobs_by_state(session: Session) -> dict[str, int]:
    return dict(session.execute(select(RescueJob.state, func.count()).group_by(RescueJob.state)).all())


def offerable_provider_count(session: Session, fresh_since: datetime) -> int:
    """Available, with a free slot, and a position reported since `fresh_since`."""
    return session.execute(select(func.count()).select_from(RescueProvider).where(
        RescueProvider.available.is_(True), RescueProvider.active_jobs < RescueProvider.capacity,
        RescueProvider.location_at.is_not(None), RescueProvider.location_at >= fresh_since)).scalar_one()


def claims_of_jobs(session: Session, job_ids: set[int]) -> dict[int, int | None]:
    if not job_ids:
        return {}
    return dict(session.execute(select(RescueJob.id, RescueJob.claim_id).where(RescueJob.id.in_(job_ids))).all())


def last_provider_change(session: Session) -> datetime | None:
    return session.scalar(select(func.max(RescueProvider.updated_at)))


def latest_job_for_claim(session: Session, claim_id: int) -> RescueJob | None:
    return session.scalar(select(RescueJob).where(RescueJob.claim_id == claim_id)
                          .order_by(RescueJob.created_at.desc(), RescueJob.id.desc()).limit(1))


def live_job_for_claim(session: Session, claim_id: int) -> RescueJob | None:
    return session.scalar(select(RescueJob).where(RescueJob.claim_id == claim_id,
                                                  RescueJob.state.not_in(FINAL_JOB_STATES)))


def completed_job_exists(session: Session, claim_id: int) -> bool:
    return bool(session.scalar(select(exists().where(RescueJob.claim_id == claim_id,
                                                     RescueJob.state == JobState.COMPLETED))))


def live_offer(session: Session, job_id: int) -> RescueOffer | None:
    return session.scalar(select(RescueOffer).where(RescueOffer.job_id == job_id,
                                                    RescueOffer.state.in_(LIVE_OFFER_STATES)))


def offered_since(session: Session, job_ids: list[int], since: datetime) -> list[tuple[int, int]]:
    """(job, provider) for every offer of these jobs made after `since`."""
    return [tuple(row) for row in session.execute(select(RescueOffer.job_id, RescueOffer.provider_id)
                                                  .where(RescueOffer.job_id.in_(job_ids), RescueOffer.offered_at > since))]


def last_attempts(session: Session, job_ids: list[int]) -> dict[int, int]:
    """The highest offer attempt of each job that has one."""
    return dict(session.execute(select(RescueOffer.job_id, func.max(RescueOffer.attempt))
                                .where(RescueOffer.job_id.in_(job_ids)).group_by(RescueOffer.job_id)).all())


def offer_count(session: Session, job_id: int) -> int:
    return session.scalar(select(func.count()).select_from(RescueOffer).where(RescueOffer.job_id == job_id)) or 0


def taken_back_count(session: Session, job_id: int) -> int:
    """Offers of this job a dispatcher took back after the provider had answered."""
    return session.scalar(select(func.count()).select_from(RescueOffer).where(
        RescueOffer.job_id == job_id, RescueOffer.state == OfferState.WITHDRAWN,
        RescueOffer.responded_at.is_not(None))) or 0


def held_job_count(session: Session, now: datetime) -> int:
    """Pending jobs a dispatcher holds: the batch leaves them alone."""
    return session.scalar(select(func.count()).select_from(RescueJob).where(
        RescueJob.state == JobState.CREATED, RescueJob.held_until > now)) or 0


def pending_job_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RescueJob).where(RescueJob.state == JobState.CREATED)) or 0


def job_people_and_assets(session: Session, job_ids: list[int]) -> dict[int, dict]:
    """Per job: the customer's name and phone, the claim's flags (what is wrong), the insured asset's
    address and position."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(RescueJob.id, Customer.name, Customer.phone, Asset.address, Asset.lon, Asset.lat,
               Claim.person_trapped, Claim.person_injured, Claim.vehicle_in_water, Claim.in_travel_lane,
               Claim.cannot_drive, Claim.flood_depth_level)
        .select_from(RescueJob)
        .outerjoin(Claim, Claim.id == RescueJob.claim_id)
        .outerjoin(Asset, Asset.asset_id == Claim.asset_id)
        .outerjoin(Customer, Customer.customer_id == RescueJob.customer_id)
        .where(RescueJob.id.in_(job_ids)))
    found = {}
    for (job_id, name, phone, address, asset_lon, asset_lat, trapped, injured, in_water, in_lane, cannot_drive,
         depth) in rows:
        problems = [flag for flag, on in (("person_trapped", trapped), ("person_injured", injured),
                                          ("vehicle_in_water", in_water), ("in_travel_lane", in_lane),
                                          ("cannot_drive", cannot_drive)) if on]
        found[job_id] = {"customer_name": name, "phone": phone, "asset_address": address,
                         "asset_position": (asset_lon, asset_lat) if asset_lon is not None else None,
                         "problems": problems, "flood_depth_level": depth}
    return found


def recent_offers(session: Session, job_ids: list[int], since: datetime) -> dict[int, list[dict]]:
    """Per job, its offers made after `since`, newest first, with the truck's name and how each ended."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(RescueOffer.job_id, RescueOffer.provider_id, RescueProvider.name, RescueOffer.state,
               RescueOffer.offered_at, RescueOffer.responded_at, RescueOffer.expires_at, RescueOffer.distance_km)
        .join(RescueProvider, RescueProvider.id == RescueOffer.provider_id)
        .where(RescueOffer.job_id.in_(job_ids), RescueOffer.offered_at > since)
        .order_by(RescueOffer.job_id, RescueOffer.attempt.desc()))
    found: dict[int, list[dict]] = {}
    for job_id, provider_id, name, state, offered_at, responded_at, expires_at, distance in rows:
        ended_at = expires_at if state == OfferState.EXPIRED else responded_at
        found.setdefault(job_id, []).append({
            "provider_id": provider_id, "provider_name": name, "state": state, "offered_at": offered_at,
            "ended_at": ended_at, "distance_km": distance})
    return found


def finished_jobs_since(session: Session, since: datetime, limit: int) -> list[RescueJob]:
    return list(session.scalars(select(RescueJob).where(RescueJob.state.in_(FINAL_JOB_STATES),
                                                        RescueJob.finished_at >= since)
                                .order_by(RescueJob.finished_at.desc()).limit(limit)))

