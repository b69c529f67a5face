"""Reading replies to the warning SMS (alerts/notifying/replies.py) and what they open
(greenchannel/sms_replies.py), on the embedded default's SQLite: the reply's first digit, the 72-hour window,
the customer's assets inside the warned area, one claim however often the same reply is posted."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from alerts.notifying.replies import (
    REPLY_WINDOW,
    Reply,
    assets_inside,
    read_reply,
    reply_counts,
    warning_answered,
)
from book.dao import upsert_assets, upsert_customers
from greenchannel.rules import RescueRules
from greenchannel.sms_replies import answer_inbound
from store.db import session_scope
from store.models import Alert, Claim, Notification
from store.types import utcnow

PHONE = "+8613800000001"
# A square around Wenzhou's centre: the car and the home are inside, the Hangzhou flat is not.
AREA = {"type": "Polygon", "coordinates": [[[120.5, 27.8], [120.9, 27.8], [120.9, 28.2], [120.5, 28.2], [120.5, 27.8]]]}


@pytest.mark.parametrize(("body", "expected"), [
    ("1", Reply.DAMAGED), (" 1 ", Reply.DAMAGED), ("１", Reply.DAMAGED), ("1 my car is flooded", Reply.DAMAGED),
    ("回复1", Reply.DAMAGED), ("Reply 2", Reply.SAFE), ("2.", Reply.SAFE), ("9", Reply.RESCUE),
    ("回9", Reply.RESCUE), ("3", Reply.HELP), ("hello", Reply.HELP), ("", Reply.HELP), (None, Reply.HELP),
    ("call me on 13812345678", Reply.HELP), ("12", Reply.DAMAGED),
])
def test_a_reply_is_read_by_its_first_digit(body, expected):
    assert read_reply(body) == expected, f"{body!r} was read as {read_reply(body)}, not {expected}"


@pytest.fixture
def book(sqlite_url):
    with session_scope(sqlite_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": PHONE, "locale": "zh-CN", "time_zone": "UTC"}])
        upsert_assets(session, [
            {"asset_id": "A-flat", "customer_id": "C1", "kind": "home", "lon": 120.15, "lat": 30.27},
            {"asset_id": "B-home", "customer_id": "C1", "kind": "home", "lon": 120.7, "lat": 28.0},
            {"asset_id": "C-car", "customer_id": "C1", "kind": "vehicle", "lon": 120.9, "lat": 28.0},  # on the edge
        ])
        alert = Alert(sender="test", identifier="w1", sent="2026-11-28T08:00:00+08:00", sent_at=utcnow(),
                      status="Actual", msg_type="Alert", format="cap", raw=b"<alert/>", normalized={},
                      area_geojson=AREA)
        session.add(alert)
        session.flush()
        return sqlite_url, alert.id


def warn(url, alert_id, hours_ago: float, state="delivered", kind="warning", key="w") -> int:
    with session_scope(url) as session:
        row = Notification(idempotency_key=key, customer_id="C1", alert_id=alert_id, channel="sms", kind=kind,
                           recipient=PHONE, body="【Haven保险】台风橙色预警…回复1受损 2平安 9求援", language="zh-CN",
                           state=state, sent_at=utcnow() - timedelta(hours=hours_ago))
        session.add(row)
        session.flush()
        return row.id


def test_only_a_warning_handed_over_within_72_hours_is_answered(book):
    url, alert_id = book
    warn(url, alert_id, hours_ago=REPLY_WINDOW.total_seconds() / 3600 + 1, key="old")
    warn(url, alert_id, hours_ago=1, state="failed", key="failed")
    warn(url, alert_id, hours_ago=1, kind="all_clear", key="clear")
    with session_scope(url) as session:
        assert warning_answered(session, PHONE, utcnow()) is None, \
            "a warning older than 72 h, one never delivered or an all-clear was taken as the one replied to"
    recent = warn(url, alert_id, hours_ago=71, key="recent")
    with session_scope(url) as session:
        answered = warning_answered(session, PHONE, utcnow())
        assert answered is not None and answered.notification_id == recent, "the 71-hour-old warning is not answered"
        assert warning_answered(session, "+8613999999999", utcnow()) is None, "another number's warning matched"


def test_the_assets_inside_the_warned_area_come_vehicles_first(book):
    url, alert_id = book
    with session_scope(url) as session:
        inside = [a.asset_id for a in assets_inside(session, alert_id, "C1")]
    assert inside == ["C-car", "B-home"], f"assets inside the area (boundary included, vehicles first): {inside}"


def test_one_claim_however_often_the_reply_is_posted_and_counted_once(book):
    url, alert_id = book
    notification_id = warn(url, alert_id, hours_ago=2)
    params = {"MessageSid": "SM" + "1" * 32, "From": PHONE, "To": "+15005550006", "Body": "1"}
    for second in (params, params, {**params, "MessageSid": "SM" + "2" * 32}):
        with session_scope(url) as session:
            answer_inbound(session, second, RescueRules(), "400-000-0000")
    with session_scope(url) as session:
        claims = session.execute(select(Claim)).scalars().all()
        assert [(c.asset_id, c.intake_channel, c.stage) for c in claims] == [("C-car", "sms_reply", "reported")], \
            f"three posts of reply 1 did not open exactly one claim on the car: {claims}"
        assert "B-home" in claims[0].description, "the other asset inside the area is not named on the claim"
        follow_ups = session.execute(select(func.count()).select_from(Notification)
                                     .where(Notification.kind == "reply_claim")).scalar_one()
        assert follow_ups == 1, f"{follow_ups} follow-up SMS for one claim"
        assert session.get(Notification, notification_id).reply == "damaged", "the warning's reply state is not damaged"
        assert reply_counts(session, alert_id) == {"damaged": 1, "safe": 0, "rescue": 0}, "the reply count is off"
