"""After the loss: CAT events, claims, documents, rescue, payments, and their state sets as StrEnums.

The rules that must hold under concurrent requests are enforced here, in the database:
one live offer (pending or accepted) per rescue job, one live rescue job per claim, one
payment per (claim, idempotency key), one outbox instruction per payment, one proposal per
alert chain. The partial indexes carry both a PostgreSQL and a SQLite WHERE clause.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import Money, UTCDateTime, utcnow


class CatEventStatus(StrEnum):
    PROPOSED = "proposed"
    OPEN = "open"
    CLOSED = "closed"


class ClaimStage(StrEnum):
    """The six stages customers see, in order, then the two side states a claim can end in."""

    REPORTED = "reported"
    SURVEYED = "surveyed"
    ASSESSED = "assessed"
    DOCUMENTS_REVIEWED = "documents_reviewed"
    ADJUDICATED = "adjudicated"
    CLOSED_PAID = "closed_paid"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"


class DocumentStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class JobState(StrEnum):
    CREATED = "created"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TOWING = "towing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    GONE_ON_ARRIVAL = "gone_on_arrival"


class OfferState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class PaymentState(StrEnum):
    REQUESTED = "requested"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"
    FAILED = "failed"


class PaymentKind(StrEnum):
    ADVANCE = "advance"
    SETTLEMENT = "settlement"


class RescueNeed(StrEnum):
    """What a job needs and what a provider can do (a flooded car goes on a flatbed)."""

    TOW = "tow"
    FLATBED = "flatbed"
    BOAT = "boat"


STAGES = tuple(ClaimStage)[:6]
OPEN_STAGES = STAGES[:-1]
SIDE_STATES = (ClaimStage.WITHDRAWN, ClaimStage.REJECTED)
LIVE_OFFER_STATES = (OfferState.OFFERED, OfferState.ACCEPTED)
FINAL_JOB_STATES = (JobState.COMPLETED, JobState.CANCELLED, JobState.GONE_ON_ARRIVAL)
LIVE_JOB_STATES = tuple(state for state in JobState if state not in FINAL_JOB_STATES)
# Payments on their way: they count against the caps and keep a claim from closing.
PAYMENTS_IN_FLIGHT = (PaymentState.REQUESTED, PaymentState.PENDING_APPROVAL, PaymentState.APPROVED)
COUNTED_PAYMENT_STATES = (*PAYMENTS_IN_FLIGHT, PaymentState.PAID)


def vocabulary() -> dict[str, list[str]]:
    """Every green-channel state set by name, for JSON clients (the console reads the same lists)."""
    return {"cat_event_status": list(CatEventStatus), "claim_stages": list(STAGES),
            "claim_side_states": list(SIDE_STATES), "job_states": list(JobState), "offer_states": list(OfferState),
            "payment_states": list(PaymentState), "payment_kinds": list(PaymentKind), "rescue_needs": list(RescueNeed)}


def _sql_list(states) -> str:
    return ", ".join(f"'{state}'" for state in states)


def _one_of(column: str, states) -> CheckConstraint:
    """The column holds one of the enum's values: the database refuses any other spelling."""
    return CheckConstraint(f"{column} IN ({_sql_list(states)})", name=f"{column}_known")


def _partial(condition: str) -> dict:
    """The same WHERE clause for a partial index on both databases."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class CatEvent(Base):
    __tablename__ = "cat_events"
    __table_args__ = (_one_of("status", CatEventStatus),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. CAT-2023-0731-DOKSURI
    hazard: Mapped[str] = mapped_column(String(64))
    area_geojson: Mapped[dict] = mapped_column(JSON)  # WGS-84 (Multi)Polygon
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # proposed, open, closed
    # One proposal per chain, however often its alerts are re-matched.
    proposed_from_chain_id: Mapped[int | None] = mapped_column(ForeignKey("alert_chains.id"), unique=True)
    proposed_assets: Mapped[int | None] = mapped_column(Integer)
    source_chain_ids: Mapped[list] = mapped_column(JSON, default=list)
    declared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A duplicate proposal merged into the open event of the same storm points at it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cat_events.id"))


class CatEventChain(Base):
    """Which event an alert chain belongs to: one row per chain, so a chain that already has an event
    (proposed, open, merged or dismissed) never gets a second proposal, however many workers race."""

    __tablename__ = "cat_event_chains"

    chain_id: Mapped[int] = mapped_column(ForeignKey("alert_chains.id"), primary_key=True)
    cat_event_id: Mapped[int] = mapped_column(ForeignKey("cat_events.id"), index=True)


class Claim(Base):
    __tablename__ = "claims"
    # A retried FNOL (same customer, same Idempotency-Key) files one claim.
    __table_args__ = (UniqueConstraint("customer_id", "client_ref"), _one_of("stage", ClaimStage))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.asset_id"))
    asset_kind: Mapped[str | None] = mapped_column(String(32))
    client_ref: Mapped[str | None] = mapped_column(String(200))
    intake_channel: Mapped[str | None] = mapped_column(String(16))  # sms_reply: a reply "1" or "9" to a warning
    warning_chain_id: Mapped[int | None] = mapped_column(ForeignKey("alert_chains.id"))
    cat_event_id: Mapped[int | None] = mapped_column(ForeignKey("cat_events.id"), index=True)
    cat_code: Mapped[str | None] = mapped_column(String(64))
    fast_track: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    loss_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loss_lon: Mapped[float] = mapped_column(Float)
    loss_lat: Mapped[float] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    person_trapped: Mapped[bool] = mapped_column(Boolean, default=False)
    person_injured: Mapped[bool] = mapped_column(Boolean, default=False)
    vehicle_in_water: Mapped[bool] = mapped_column(Boolean, default=False)
    in_travel_lane: Mapped[bool] = mapped_column(Boolean, default=False)
    cannot_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    flood_depth_level: Mapped[int | None] = mapped_column(Integer)  # L1..L6
    estimate: Mapped[Decimal | None] = mapped_column(Money)
    required_documents: Mapped[list] = mapped_column(JSON, default=list)
    # Assessed and waiting for the customer's documents: out of the work queue until they arrive.
    awaiting_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str] = mapped_column(String(32), default="reported", index=True)
    stage_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    priority_reasons: Mapped[list] = mapped_column(JSON, default=list)
    sla_clock: Mapped[str | None] = mapped_column(String(32))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    advance_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ClaimDocument(Base):
    __tablename__ = "claim_documents"
    __table_args__ = (_one_of("status", DocumentStatus),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # photos, id, bank_account, police_report, ...
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="received")  # received, accepted, returned
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RescueProvider(Base):
    __tablename__ = "rescue_providers"
    __table_args__ = (CheckConstraint("active_jobs >= 0", name="active_jobs_not_negative"), _one_of("kind", RescueNeed))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # tow, flatbed, boat
    capabilities: Mapped[list] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    # Slots in use: live offers plus accepted jobs not yet finished. Reserved by a conditional UPDATE.
    active_jobs: Mapped[int] = mapped_column(Integer, default=0)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    location_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RescueJob(Base):
    __tablename__ = "rescue_jobs"
    __table_args__ = (
        _one_of("state", JobState),
        _one_of("needs", RescueNeed),
        # Never two live jobs (so never two trucks) for one car, whatever the timing of the requests.
        Index("uq_rescue_jobs_one_live_per_claim", "claim_id", unique=True,
              **_partial(f"claim_id IS NOT NULL AND state NOT IN ({_sql_list(FINAL_JOB_STATES)})")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    needs: Mapped[str] = mapped_column(String(16), default="tow")  # required capability
    urgency: Mapped[int] = mapped_column(Integer, default=0)  # 2 person at risk, 1 vehicle in water/lane
    state: Mapped[str] = mapped_column(String(20), default="created", index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_providers.id"))
    eta_minutes: Mapped[int | None] = mapped_column(Integer)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A dispatcher working the job by hand holds it: no automatic offer until then.
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class RescueOffer(Base):
    __tablename__ = "rescue_offers"
    __table_args__ = (
        _one_of("state", OfferState),
        UniqueConstraint("job_id", "attempt"),
        # One offer at a time per job, and at most one provider holding it once accepted.
        Index("uq_rescue_offers_one_live_per_job", "job_id", unique=True,
              **_partial(f"state IN ({_sql_list(LIVE_OFFER_STATES)})")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("rescue_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[int] = mapped_column(ForeignKey("rescue_providers.id"), index=True)
    # offered, accepted, rejected, expired, withdrawn
    state: Mapped[str] = mapped_column(String(16), default="offered", index=True)
    mode: Mapped[str] = mapped_column(String(16), default="nearest")  # nearest, batch, manual
    distance_km: Mapped[float | None] = mapped_column(Float)
    eta_minutes: Mapped[int | None] = mapped_column(Integer)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("claim_id", "idempotency_key"), _one_of("state", PaymentState),
                      _one_of("kind", PaymentKind))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(16), default="advance")  # advance, settlement
    state: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    required_role: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requester_role: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    gateway_ref: Mapped[str | None] = mapped_column(String(100))
    failure: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class PaymentInstruction(Base):
    """The embedded payment gateway: a payout instruction stored for finance, never sent anywhere."""

    __tablename__ = "payment_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)  # exactly once
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
