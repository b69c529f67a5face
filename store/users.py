"""Users and their API keys. A key is shown once; only its SHA-256 is kept."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ROLES, ApiKey, Customer, User


class UnknownRole(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to authorise a request without another query."""

    user_id: int
    name: str
    role: str
    customer_id: str | None
    must_change_password: bool = False  # signed in with a one-time password not yet replaced


def names_of(session: Session, user_ids: set[int]) -> dict[int, str]:
    """User id -> display name, for the ids given."""
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())


def all_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.id)).scalars())


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_user(session: Session, role: str, name: str, customer_id: str | None = None,
                phone: str | None = None) -> tuple[User, str]:
    """Create a user with one role and return it with its new API key (never stored in clear).
    `phone` is a staff member's work number, already in E.164."""
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "customer":
        if not customer_id:
            raise ValueError("a customer user needs --customer-id")
        if session.get(Customer, customer_id) is None:
            raise ValueError(f"unknown customer {customer_id!r}")
    user = User(name=name, role=role, customer_id=customer_id, phone=phone)
    session.add(user)
    session.flush()
    key = f"hv_{role[:3]}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(user_id=user.id, key_hash=hash_key(key), prefix=key[:10]))
    session.flush()
    return user, key


def principal_for_key(session: Session, key: str) -> Principal | None:
    row = session.execute(
        select(User)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None), User.disabled_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return None
    return Principal(user_id=row.id, name=row.name, role=row.role, customer_id=row.customer_id)
