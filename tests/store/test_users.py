"""API keys are shown once and stored only as hashes."""

import pytest
from sqlalchemy import select

from store.db import session_scope
from store.models import ApiKey
from store.users import UnknownRole, create_user, principal_for_key


def test_key_is_stored_only_as_its_hash(sqlite_url):
    with session_scope(sqlite_url) as session:
        user, key = create_user(session, "adjuster", "Ada")
    with session_scope(sqlite_url) as session:
        stored = session.scalars(select(ApiKey)).one()
        principal = principal_for_key(session, key)
        stranger = principal_for_key(session, key + "x")
    assert key not in (stored.key_hash, stored.prefix * 3)
    assert len(stored.key_hash) == 64 and key[:10] == stored.prefix
    assert principal.role == "adjuster" and principal.user_id == user.id
    assert stranger is None


def test_unknown_role_and_customer_without_id_are_refused(sqlite_url):
    with session_scope(sqlite_url) as session, pytest.raises(UnknownRole, match="unknown role 'pilot'"):
        create_user(session, "pilot", "x")
    with session_scope(sqlite_url) as session, pytest.raises(ValueError, match="--customer-id"):
        create_user(session, "customer", "x")
