"""What the green channel answers, as pydantic models: the JSON shapes of its views, for /openapi.json.

The views themselves are built by the rule modules' *_json functions; these models describe them
(unknown extra fields are allowed, so a view may grow without breaking a generated client).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.models.greenchannel import (
    CatEventStatus,
    ClaimStage,
    JobState,
    OfferState,
    PaymentKind,
    PaymentState,
)


class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class LonLat(View):
    lon: float
    lat: float


class CatEventView(View):
    id: int
    code: str
    hazard: str
    status: CatEventStatus
    window_start: datetime
    window_end: datetime | None = None
    proposed_from_chain_id: int | None = None
    proposed_assets: int | None = None
    source_chain_ids: list[int] = []
    area: dict[str, Any] | None = None
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into_id: int | None = None
    claims_tagged: int | None = None


class CatEventList(View):
    cat_events: list[CatEventView]


class StageView(View):
    stage: ClaimStage
    reached_at: datetime | None = None
    current: bool


class PaymentSummary(View):
    id: int
    kind: PaymentKind
    amount: Decimal
    state: PaymentState
    paid_at: datetime | None = None


class AdjusterContact(View):
    """The claims staff member a customer may call about the claim."""

    name: str
    phone: str


class ClaimView(View):
    """A claim as its caller may see it: customers get the stages, documents, payments, rescue and whom to call;
    staff also get location, flags, estimate, priority, SLA, lease and history."""

    id: int
    stage: ClaimStage
    asset_id: str | None = None
    loss_at: datetime
    filed_at: datetime
    cat_code: str | None = None
    fast_track: bool
    stages: list[StageView]
    documents: dict[str, Any]
    advance_paid: Decimal
    payments: list[PaymentSummary]
    rescue: dict[str, Any] | None = None
    adjuster: AdjusterContact | None = None


class ClaimSummary(View):
    id: int
    stage: ClaimStage
    customer_id: str
    asset_id: str | None = None
    cat_code: str | None = None
    fast_track: bool
    loss_at: datetime
    filed_at: datetime


class ClaimList(View):
    claims: list[ClaimSummary]


class LeasedClaim(View):
    claim: ClaimView | None
    nothing_to_take: dict[str, int] | None = None


class ReminderView(View):
    claim_id: int
    notification_id: int
    reminded_at: datetime
    missing: list[str]
    language: str


class DocumentView(View):
    id: int
    claim_id: int
    kind: str
    status: str
    filename: str
    content_type: str | None = None
    size: int
    sha256: str
    uploaded_at: datetime


class QueueEntry(View):
    claim_id: int
    customer_id: str
    stage: ClaimStage
    fast_track: bool
    cat_code: str | None = None
    priority: float
    reasons: list[str]
    sla: dict[str, Any]
    lease: dict[str, Any] | None = None
    waiting_for: str | None = None
    waiting_on: str | None = None
    why_first: list[dict[str, Any]] = []
    customer_name: str | None = None
    customer_phone: str | None = None
    asset: dict[str, Any] | None = None
    missing_documents: list[str] = []
    last_reminded_at: datetime | None = None
    filed_at: datetime


class QueueList(View):
    queue: list[QueueEntry]
    tab: str | None = None
    page: int = 1
    limit: int = 100
    total: int = 0
    counts: dict[str, int] = {}


class ProviderView(View):
    id: int
    name: str
    phone: str | None = None
    kind: str
    capabilities: list[str]
    capacity: int
    active_jobs: int
    available: bool
    location: LonLat | None = None
    location_at: datetime | None = None
    location_fresh: bool
    location_clamped: bool = False
    user_id: int | None = None


class ProviderList(View):
    providers: list[ProviderView]


class OfferView(View):
    id: int
    attempt: int
    provider_id: int
    state: OfferState
    mode: str
    distance_km: float | None = None
    expires_at: datetime


class RescueJobView(View):
    id: int
    claim_id: int | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    address: str = Field(description="the insured asset's address when the job is there, else the district "
                                     "the point lies in (or its coordinates outside the gazetteer)")
    place: dict[str, str] | None = Field(None, description="the district in zh-CN and en")
    problems: list[str] = Field([], description="what is wrong: person_trapped, person_injured, "
                                                "vehicle_in_water, in_travel_lane, cannot_drive")
    held_until: datetime | None = None
    location: LonLat
    needs: str
    urgency: int
    state: JobState
    eta_minutes: int | None = None
    provider: dict[str, Any] | None = None
    offer: OfferView | None = None
    attempts: int
    note: str | None = None
    created_at: datetime


class RescueJobList(View):
    jobs: list[RescueJobView]


class DispatchRun(View):
    pending: int
    free_slots: int
    surge: bool
    offered: int
    total_km: float
    held: int = Field(0, description="pending jobs a dispatcher holds, left out of the batch")
    offered_jobs: list[dict[str, Any]] = []
    unplaced: list[dict[str, Any]] = Field([], description="each job left without a truck, with its reason")


class PaymentView(View):
    """Staff see every field; a customer sees id, claim_id, kind, amount, state and the dates."""

    id: int
    claim_id: int
    kind: PaymentKind
    amount: Decimal
    state: PaymentState
    required_role: str | None = None
    requested_by: int | None = None
    decided_by: int | None = None
    reason: str | None = None
    gateway_ref: str | None = None
    created_at: datetime
    decided_at: datetime | None = None
    paid_at: datetime | None = None
    idempotency_key: str | None = None


class ApprovalsWaiting(View):
    waiting: int


class PaymentList(View):
    payments: list[PaymentView]
