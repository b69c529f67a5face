"""Signing in: staff and customer sessions, one-time codes, signed links, and the counters behind throttling.

Secrets are never stored in clear: session and link tokens are random (128 bits and more) and kept as
their SHA-256; the six-digit codes are short, so they are kept as argon2 hashes (docs/architecture.md,
Signing in).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import UTCDateTime, utcnow


class SessionKind(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"


class SignInMethod(StrEnum):
    PASSWORD = "password"
    CODE = "code"
    LINK = "link"


class AttemptKind(StrEnum):
    """What a row of auth_attempts counts; each throttle counts one kind for one subject in a window."""

    CODE_REQUEST_PHONE = "code_request_phone"
    CODE_REQUEST_ADDRESS = "code_request_address"
    CODE_VERIFY_ADDRESS = "code_verify_address"
    LOGIN_FAILURE_USERNAME = "login_failure_username"
    LOGIN_FAILURE_ADDRESS = "login_failure_address"


class WebSession(Base):
    """One signed-in browser. The cookie carries the token; the row carries its SHA-256 and the CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # SessionKind
    method: Mapped[str] = mapped_column(String(16))  # SignInMethod
    csrf_token: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInCode(Base):
    """A six-digit code sent by SMS to a customer's phone: single use, short-lived, kept as an argon2 hash."""

    __tablename__ = "sign_in_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # also set when a newer code replaces it


class CustomerLink(Base):
    """A signed link /c/{token} in a customer's SMS: signs that one customer in until it expires or is revoked."""

    __tablename__ = "customer_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class AuthAttempt(Base):
    """One counted event (a code asked for, a failed login) for the throttles, which count rows in a window."""

    __tablename__ = "auth_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # AttemptKind
    subject: Mapped[str] = mapped_column(String(200))  # a phone, a username or a client address
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_auth_attempts_kind_subject_at", "kind", "subject", "at"),)


class PhoneLock(Base):
    """Wrong codes entered for a phone since its last success; at the limit the phone is locked for a while."""

    __tablename__ = "phone_locks"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
