"""The queries of signing in. Each takes a session and leaves the transaction to identity.service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import AuthAttempt, Customer, CustomerLink, PhoneLock, SignInCode, User, WebSession

# --- people ----------------------------------------------------------------------------------------

def customer_for_phone(session: Session, phone: str) -> Customer | None:
    """The customer with this E.164 number; where a number is shared, the first customer id."""
    return session.scalar(select(Customer).where(Customer.phone == phone).order_by(Customer.customer_id).limit(1))


def customer_user(session: Session, customer_id: str) -> User | None:
    return session.scalar(
        select(User).where(User.role == "customer", User.customer_id == customer_id, User.disabled_at.is_(None))
        .order_by(User.id).limit(1)
    )


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def username_taken(session: Session, username: str) -> bool:
    return session.scalar(select(func.count(User.id)).where(User.username == username)) > 0


def users_without_username(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.username.is_(None), User.disabled_at.is_(None))
                                .order_by(User.id)))


# --- throttles and locks ---------------------------------------------------------------------------

def count_attempts(session: Session, kind: str, subject: str, since: datetime) -> int:
    return session.scalar(select(func.count(AuthAttempt.id)).where(
        AuthAttempt.kind == kind, AuthAttempt.subject == subject, AuthAttempt.at > since))


def add_attempt(session: Session, kind: str, subject: str, at: datetime, forget_before: datetime) -> None:
    """Count one more, and drop this subject's rows that no window reaches any more."""
    forget_attempts_before(session, kind, subject, forget_before)
    session.add(AuthAttempt(kind=kind, subject=subject, at=at))


def forget_attempts_before(session: Session, kind: str, subject: str, before: datetime) -> None:
    session.execute(delete(AuthAttempt).where(AuthAttempt.kind == kind, AuthAttempt.subject == subject,
                                              AuthAttempt.at <= before))


def phone_lock(session: Session, phone: str, *, for_update: bool = False) -> PhoneLock | None:
    statement = select(PhoneLock).where(PhoneLock.phone == phone)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def phone_lock_for_update(session: Session, phone: str) -> PhoneLock:
    """The phone's lock row, created if missing, locked until the transaction ends (on PostgreSQL)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(PhoneLock).values(phone=phone, failures=0).on_conflict_do_nothing())
    return phone_lock(session, phone, for_update=True)


def clear_phone_lock(session: Session, phone: str) -> None:
    session.execute(delete(PhoneLock).where(PhoneLock.phone == phone))


# --- codes -----------------------------------------------------------------------------------------

def retire_open_codes(session: Session, phone: str, now: datetime) -> None:
    """A new code replaces every earlier one still open for the phone."""
    session.execute(update(SignInCode).where(SignInCode.phone == phone, SignInCode.used_at.is_(None))
                    .values(used_at=now))


def latest_open_code(session: Session, phone: str, now: datetime) -> SignInCode | None:
    return session.scalar(
        select(SignInCode).where(SignInCode.phone == phone, SignInCode.used_at.is_(None),
                                 SignInCode.expires_at > now)
        .order_by(SignInCode.id.desc()).limit(1)
    )


def use_code(session: Session, code_id: int, now: datetime) -> bool:
    """Mark the code used; False when a parallel request used it first."""
    result = session.execute(update(SignInCode).where(SignInCode.id == code_id, SignInCode.used_at.is_(None))
                             .values(used_at=now))
    return result.rowcount == 1


# --- links -----------------------------------------------------------------------------------------

def link_by_token_hash(session: Session, token_hash: str) -> CustomerLink | None:
    return session.scalar(select(CustomerLink).where(CustomerLink.token_hash == token_hash))


def revoke_links(session: Session, now: datetime, *, customer_id: str | None = None,
                 link_id: int | None = None) -> int:
    statement = update(CustomerLink).where(CustomerLink.revoked_at.is_(None))
    if customer_id is not None:
        statement = statement.where(CustomerLink.customer_id == customer_id)
    if link_id is not None:
        statement = statement.where(CustomerLink.id == link_id)
    return session.execute(statement.values(revoked_at=now)).rowcount


# --- sessions --------------------------------------------------------------------------------------

def open_session_by_token_hash(session: Session, token_hash: str) -> tuple[WebSession, User] | None:
    row = session.execute(
        select(WebSession, User).join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash, WebSession.ended_at.is_(None), User.disabled_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def touch_session(session: Session, session_id: int, now: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))


def end_session(session: Session, session_id: int, now: datetime) -> bool:
    result = session.execute(update(WebSession).where(WebSession.id == session_id, WebSession.ended_at.is_(None))
                             .values(ended_at=now))
    return result.rowcount == 1


def end_other_sessions(session: Session, user_id: int, keep_session_id: int | None, now: datetime) -> int:
    statement = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if keep_session_id is not None:
        statement = statement.where(WebSession.id != keep_session_id)
    return session.execute(statement.values(ended_at=now)).rowcount
