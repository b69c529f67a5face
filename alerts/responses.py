"""What the warnings' routes answer, as pydantic models: the JSON shapes, for /openapi.json.

The answers themselves are built by the dao and rule modules' *_json functions; these models describe
them (unknown extra fields are allowed, so an answer may grow without breaking a generated client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from alerts.manual import Reach as ManualReach
from store.models.alerts import ChainState, FeedHealth, FeedKind, ManualWarningState
from store.models.notifications import NotificationState


class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class AlertView(View):
    """The normalized alert (CAP 1.2 fields: sender, identifier, sent, status, msg_type, infos, ...) plus
    Haven's own fields."""

    id: int
    sender: str | None = None
    identifier: str | None = None
    sent: str | None = None
    status: str | None = None
    msg_type: str | None = None
    infos: list[dict[str, Any]] = []
    chain_id: int | None = None
    format: str | None = None
    received_at: datetime | None = None
    expires_at: datetime | None = None
    max_severity: str | None = None
    flags: list[str] = []


class ChainView(View):
    id: int
    state: ChainState
    alerts: list[dict[str, Any]] = []


class AlertDetail(AlertView):
    chain: ChainView | None = None
    area: dict[str, Any] | None = None


class AlertPage(View):
    alerts: list[AlertView]
    next_cursor: str | None = None
    next: str | None = None


class IngestOutcome(View):
    format: str | None = None
    stored: list[int] = []
    duplicates: list[int] = []
    quarantined: list[int] = []
    problems: list[str] = []
    alerts: list[AlertView] = []


class QuarantineList(View):
    total: int
    messages: list[dict[str, Any]] = []


class FeedHealthView(View):
    status: FeedHealth
    last_error: str | None = None
    last_error_kind: str | None = None
    consecutive_failures: int = 0


class FeedView(View):
    id: int
    url: str
    kind: FeedKind
    every_s: float
    health: FeedHealthView


class FeedList(View):
    feeds: list[FeedView]


class PollResult(View):
    feed_id: int
    error: str | None = None


class ReachReport(View):
    """Counts by channel and state, the share handed over within 10 s of the alert's arrival, delays."""

    alert_id: int
    chain_id: int | None = None
    msg_type: str | None = None
    notifications: int = 0
    replies: dict[str, int] | None = None  # warnings answered damaged, safe, rescue


class OutboxMessage(View):
    id: int
    channel: str
    kind: str
    recipient: str
    body: str
    state: NotificationState


class OutboxPage(View):
    messages: list[OutboxMessage]
    next_before_id: int | None = None


class WarnedPerson(View):
    notification_id: int
    customer_id: str
    name: str | None = None
    phone: str | None = None  # masked unless the role may see it (greenchannel/privacy.py)
    channel: str
    state: NotificationState
    held_until: datetime | None = None
    error_code: str | None = None


class WarnedPage(View):
    """Who an alert warned: one page of its notifications with the customer's name and phone."""

    alert_id: int
    total: int
    offset: int
    limit: int
    people: list[WarnedPerson]
    failures: list[dict[str, Any]] = []  # not delivered, counted by state and provider error code
    held: dict[str, Any] | None = None  # still held for quiet hours: how many, first release time


class ChainMessage(View):
    id: int
    msg_type: str | None = None
    change: str  # issued, updated, all_clear
    sent_at: datetime | None = None
    headlines: dict[str, str]


class ChainHistory(View):
    """Every message of an alert's chain in the order sent, each with its own headlines by language."""

    alert_id: int
    chain_id: int | None = None
    messages: list[ChainMessage]


class ManualWarningView(View):
    """A warning a person submitted, held until its submitter confirms it (small reach) or a second staff
    member approves it (above HAVEN_MANUAL_APPROVAL_ABOVE customers); expires at wait_until."""

    id: int
    state: ManualWarningState
    summary: dict[str, Any]
    reach: ManualReach
    reach_now: ManualReach | None = None  # recomputed while it waits (GET of one)
    customers: int
    submitted_by: str | None = None
    submitted_at: datetime
    mine: bool
    wait_until: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    alert_ids: list[int] = []
    may_confirm: bool
    may_approve: bool
    may_reject: bool
    area: dict[str, Any] | None = None  # GeoJSON geometry (GET of one)


class ManualWarningList(View):
    warnings: list[ManualWarningView]


class ManualIngestOutcome(IngestOutcome):
    manual_warning: ManualWarningView | None = None
