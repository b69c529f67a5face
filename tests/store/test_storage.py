"""The storage layer behaves the same on SQLite (embedded default) and PostgreSQL (production)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from book.dao import upsert_assets, upsert_customers
from store.db import get_engine, session_scope
from store.models import Alert, Asset, Base, Claim, Customer, Notification, Payment, User


def test_migrations_create_exactly_the_models(db_url):
    engine = get_engine(db_url)
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def _customer(session, customer_id="C1"):
    session.add(Customer(customer_id=customer_id, phone="+8617000000001"))
    session.flush()


def test_money_is_exact_decimal_on_both_databases(db_url):
    with session_scope(db_url) as session:
        _customer(session)
        session.add(User(id=1, name="adj", role="adjuster"))
        claim = Claim(customer_id="C1", loss_at=datetime.now(UTC), loss_lon=120.0, loss_lat=28.0,
                      estimate=Decimal("12345.67"))
        session.add(claim)
        session.flush()
        session.add(Payment(claim_id=claim.id, idempotency_key="k1", amount=Decimal("0.10"),
                            required_role="adjuster", requested_by=1))
    with session_scope(db_url) as session:
        total = sum(p.amount for p in session.scalars(select(Payment)))
        claim = session.scalars(select(Claim)).one()
    assert claim.estimate == Decimal("12345.67")
    assert total == Decimal("0.10") and isinstance(total, Decimal)


def test_money_refuses_floats(db_url):
    with pytest.raises(Exception, match="never float"), session_scope(db_url) as session:
        _customer(session)
        session.add(Asset(asset_id="A1", customer_id="C1", lon=1, lat=1, insured_value=0.1))
        session.flush()


def test_times_come_back_aware_and_equal(db_url):
    published = datetime(2021, 7, 25, 12, 30, tzinfo=timezone(timedelta(hours=8)))
    with session_scope(db_url) as session:
        session.add(Alert(sender="s", identifier="i", sent="2021-07-25T12:30:00+08:00", sent_at=published,
                          status="Actual", msg_type="Alert", format="cap", raw=b"<alert/>", normalized={}))
    with session_scope(db_url) as session:
        stored = session.scalars(select(Alert)).one().sent_at
    assert stored.tzinfo is not None
    assert stored == published


def test_alert_identity_is_unique(db_url):
    def add():
        with session_scope(db_url) as session:
            session.add(Alert(sender="s", identifier="i", sent="2021-07-25T12:30:00+08:00",
                              sent_at=datetime.now(UTC), status="Actual", msg_type="Alert", format="cap",
                              raw=b"x", normalized={}))

    add()
    with pytest.raises(IntegrityError):
        add()


def test_notification_idempotency_key_is_unique(db_url):
    def add():
        with session_scope(db_url) as session:
            session.add(Notification(idempotency_key="C1:chain-1:sms:warning", customer_id="C1",
                                     channel="sms", kind="warning", recipient="+8617000000001", body="hi"))

    with session_scope(db_url) as session:
        _customer(session)
    add()
    with pytest.raises(IntegrityError):
        add()
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count(Notification.id))) == 1


def test_asset_upsert_updates_and_never_duplicates(db_url):
    with session_scope(db_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": "+8617000000001"}])
        upsert_assets(session, [{"asset_id": "A1", "customer_id": "C1", "lon": 120.1, "lat": 28.1}])
    with session_scope(db_url) as session:
        upsert_assets(session, [{"asset_id": "A1", "customer_id": "C1", "lon": 121.5, "lat": 29.9}])
    with session_scope(db_url) as session:
        assets = session.scalars(select(Asset)).all()
    assert [(a.asset_id, a.lon, a.lat) for a in assets] == [("A1", 121.5, 29.9)]
