"""After the loss: CAT events, claims, documents, rescue, payments (see DESIGN.md, Domain rules)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import Money, UTCDateTime, utcnow


class CatEvent(Base):
    __tablename__ = "cat_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. CAT-2023-0731-DOKSURI
    hazard: Mapped[str] = mapped_column(String(64))
    area_geojson: Mapped[dict] = mapped_column(JSON)  # WGS-84 (Multi)Polygon
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # proposed, open, closed
    proposed_from_chain_id: Mapped[int | None] = mapped_column(ForeignKey("alert_chains.id"))
    proposed_assets: Mapped[int | None] = mapped_column(Integer)
    declared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.asset_id"))
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
    stage: Mapped[str] = mapped_column(String(32), default="reported", index=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    priority_reasons: Mapped[list] = mapped_column(JSON, default=list)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ClaimDocument(Base):
    __tablename__ = "claim_documents"

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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # tow, flatbed, boat
    capabilities: Mapped[list] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    needs: Mapped[str] = mapped_column(String(16), default="tow")  # required capability
    state: Mapped[str] = mapped_column(String(20), default="created", index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_providers.id"))
    eta_minutes: Mapped[int | None] = mapped_column(Integer)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RescueOffer(Base):
    __tablename__ = "rescue_offers"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("rescue_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[int] = mapped_column(ForeignKey("rescue_providers.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="offered")  # offered, accepted, rejected, expired
    distance_km: Mapped[float | None] = mapped_column(Float)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("claim_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(16), default="advance")
    state: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    required_role: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    gateway_ref: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
