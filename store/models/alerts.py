"""Warning feeds and the alerts they carry, and their vocabularies as StrEnums (docs/architecture.md,
"A warning, from feed to SMS"). An alert is one (sender, identifier, sent); chains join the Updates and
Cancels that reference it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import UTCDateTime, utcnow


class AlertStatus(StrEnum):
    """CAP 1.2 <status>."""
    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    """CAP 1.2 <msgType>."""
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class ChainState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # the latest message ends the chain (a Cancel, or an all-clear Update)
    EXPIRED = "expired"  # the effective alert lapsed


class FeedKind(StrEnum):
    CAP_ATOM = "cap-atom"
    CAP_RSS = "cap-rss"
    CAP_XML = "cap-xml"
    NWS_GEOJSON = "nws-geojson"
    QWEATHER = "qweather"
    QWEATHER_V1 = "qweather-v1"
    TYPHOON_TRACK = "typhoon-track"


class ManualWarningState(StrEnum):
    """A warning entered by a person: previewed, then confirmed or approved before it is ingested and sent
    (docs/architecture.md, "Manual warnings")."""
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # reach at or below the setting: the submitter confirms
    AWAITING_APPROVAL = "awaiting_approval"  # above it: a second staff member approves
    RELEASED = "released"  # ingested: matching and the fan-out follow
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody released it in time, or its own CAP expiry passed first


MANUAL_WAITING = (ManualWarningState.AWAITING_CONFIRMATION, ManualWarningState.AWAITING_APPROVAL)


class FeedHealth(StrEnum):
    """A feed's health as the API and the console show it (computed, not stored)."""
    OK = "ok"
    FAILING = "failing"
    SILENT = "silent"  # no success for several intervals
    PENDING = "pending"  # never polled yet
    DISABLED = "disabled"


def _one_of(column: str, values) -> CheckConstraint:
    """The column holds one of the enum's values: the database refuses any other spelling."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(str(v)) for v in values)})", name=f"{column}_known")


class Feed(Base):
    __tablename__ = "feeds"
    __table_args__ = (_one_of("kind", FeedKind),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # a FeedKind
    every_s: Mapped[float] = mapped_column(Float, default=60.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    require_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_code: Mapped[str | None] = mapped_column(String(16))  # for location-polled feeds (QWeather)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    alerts_seen: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    name: Mapped[str | None] = mapped_column(String(200))  # also the storm name of a typhoon-track feed
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # per-feed lock: one poll at a time
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last answer
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    last_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last answer with new content
    entries_without_cap_link: Mapped[int | None] = mapped_column(Integer)  # in the last index read (ATOM/RSS)
    # Point-polled feeds (qweather-v1): which book the points were chosen from, and its assets no county holds
    points_book_signature: Mapped[str | None] = mapped_column(String(100))
    assets_outside_gazetteer: Mapped[int | None] = mapped_column(Integer)


class FeedPoint(Base):
    """A coordinate a point-polled feed asks about, in one county; its own schedule, backoff and last answer."""

    __tablename__ = "feed_points"
    __table_args__ = (UniqueConstraint("feed_id", "lat", "lon"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    lat: Mapped[float] = mapped_column(Float)  # two decimals, as the provider takes them
    lon: Mapped[float] = mapped_column(Float)
    admin_code: Mapped[str] = mapped_column(String(16))  # the county (CN-ADCODE) the point stands for
    name: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="book")  # book (county seats) or fixed (a setting)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_tag: Mapped[str | None] = mapped_column(String(200))  # metadata.tag of the last answer read
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_alert_ids: Mapped[list] = mapped_column(JSON, default=list)  # the warnings the last answer carried


class FeedEntry(Base):
    """An index entry already handled (by id and updated), so a poll fetches only new or changed entries."""

    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("feed_id", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of entry id + updated
    entry_id: Mapped[str | None] = mapped_column(String(2000))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertChain(Base):
    """An original alert plus every Update/Cancel that references it, directly or not."""

    __tablename__ = "alert_chains"
    __table_args__ = (_one_of("state", ChainState),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    current_alert_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=ChainState.ACTIVE)
    max_severity: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The latest message that is not itself a cancellation: its area and severity are the chain's.
    effective_alert_id: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"), _one_of("status", AlertStatus),
                      _one_of("msg_type", MsgType))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(500))
    identifier: Mapped[str] = mapped_column(String(500))
    sent: Mapped[str] = mapped_column(String(40))  # as published, offset kept
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(16))
    max_severity: Mapped[str | None] = mapped_column(String(16))
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("alert_chains.id"), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str | None] = mapped_column(String(2000))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id"))
    format: Mapped[str] = mapped_column(String(32))  # cap, nws-geojson, qweather, typhoon-track
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    normalized: Mapped[dict] = mapped_column(JSON)
    area_geojson: Mapped[dict | None] = mapped_column(JSON)
    flags: Mapped[list] = mapped_column(JSON, default=list)  # e.g. swapped coordinates, unknown geocodes
    signature: Mapped[str] = mapped_column(String(16), default="unsigned")  # unsigned, verified
    matched_assets: Mapped[int | None] = mapped_column(Integer)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_chain: Mapped[bool] = mapped_column(Boolean, default=False)  # Cancel, or an all-clear Update


class AlertReference(Base):
    """A reference from one alert to another, kept even before the referenced alert arrives."""

    __tablename__ = "alert_references"
    __table_args__ = (UniqueConstraint("alert_id", "ref_sender", "ref_identifier", "ref_sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    ref_sender: Mapped[str] = mapped_column(String(500))
    ref_identifier: Mapped[str] = mapped_column(String(500), index=True)
    ref_sent: Mapped[str] = mapped_column(String(40))


class QuarantinedMessage(Base):
    """A message that failed validation: kept with its reason, never silently dropped."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    source: Mapped[str | None] = mapped_column(String(2000))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id"))
    path: Mapped[str | None] = mapped_column(String(500))  # e.g. /alert/info[1]/area[2]/polygon
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(200))
    digest: Mapped[str | None] = mapped_column(String(64), index=True)  # sha256 of raw: same bytes, same row
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ManualWarning(Base):
    """A warning document a person submitted, held with its reach until it is released, rejected or expires."""

    __tablename__ = "manual_warnings"
    __table_args__ = (_one_of("state", ManualWarningState),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # ingested byte for byte on release
    content_type: Mapped[str | None] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(32))
    summary: Mapped[dict] = mapped_column(JSON)  # headlines by language, event, severity, status, msg_type, area
    area_geojson: Mapped[dict | None] = mapped_column(JSON)
    reach: Mapped[dict] = mapped_column(JSON)  # at submission (alerts/manual.py Reach)
    customers: Mapped[int] = mapped_column(Integer)  # customers it would warn, for the threshold
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wait_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # expires unless released by then
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)  # a rejection's
    alert_ids: Mapped[list] = mapped_column(JSON, default=list)  # the alerts its release stored
