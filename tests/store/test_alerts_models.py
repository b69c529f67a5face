"""store/models/alerts.py and notifications.py: each vocabulary is one StrEnum, and the database refuses any
other spelling."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from alerts.reading.ingest import Origin
from alerts.reading.replay import replay
from alerts.service import ingest
from store.db import session_scope
from store.models import Customer, Notification
from store.models.alerts import ChainState, FeedKind, MsgType
from store.models.notifications import FINAL_STATES, NOT_YET_SENDING, REACHED, UNFINISHED, NotificationState
from store.types import utcnow
from tests.support import ROOT

ORANGE = ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml"


def test_the_notification_state_sets_say_one_thing_each():
    assert set(UNFINISHED) | set(FINAL_STATES) == set(NotificationState), "every state is unfinished or final"
    assert not set(UNFINISHED) & set(FINAL_STATES), "no state is both unfinished and final"
    assert set(NOT_YET_SENDING) == {"created", "queued"}, "a Cancel can still stop what is saved or queued"
    assert NotificationState.DELIVERED in REACHED, "a delivered warning reached its customer"
    assert NotificationState.QUEUED not in REACHED, "a queued warning has not reached anyone yet"
    assert MsgType.CANCEL == "Cancel", "a message type compares equal to its CAP spelling"


@pytest.mark.parametrize("table, column, value", [
    ("notifications", "state", "pending"),
    ("alerts", "status", "actual"),
    ("alerts", "msg_type", "Cancelled"),
    ("alert_chains", "state", "ended"),
])
def test_the_database_refuses_a_spelling_no_enum_knows(db_url, table, column, value):
    with session_scope(db_url) as session:
        [alert_id] = ingest(replay([ORANGE.read_bytes()], utcnow(), tag="CHECK")[0], Origin(source="test"),
                            db_url).new_alert_ids
        session.add(Customer(customer_id="C1", phone="+8617000000001"))
        session.add(Notification(idempotency_key="k1", customer_id="C1", alert_id=alert_id, channel="sms",
                                 kind="warning", recipient="+8617000000001", body="text"))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.execute(text(f"UPDATE {table} SET {column} = :value"), {"value": value})
    with session_scope(db_url) as session:
        kept = session.execute(text(f"SELECT {column} FROM {table}")).scalars().all()
    assert value not in kept, f"{table}.{column} kept only known values, not {value!r}"


def test_a_feed_of_an_unknown_kind_is_refused_by_the_database(db_url):
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.execute(text("INSERT INTO feeds (url, kind, every_s, enabled, require_signature, "
                             "consecutive_failures, alerts_seen, created_at) VALUES "
                             "('http://x/a', 'cap-json', 60, true, false, 0, 0, CURRENT_TIMESTAMP)"))
    assert "cap-json" not in set(FeedKind), "the refused kind is not a FeedKind"
    assert ChainState.ACTIVE == "active", "a chain state compares equal to its JSON spelling"
