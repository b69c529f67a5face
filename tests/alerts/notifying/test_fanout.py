"""From a stored, matched alert to saved notifications: the demo typhoon chain (moved to the present)
through the real ingest and matching, then alerts.fanout. Runs on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerts.matching import spatial
from alerts.notifying import delivery
from alerts.notifying.fanout import notify_customers_in_area
from alerts.notifying.targeting import Rules
from alerts.reading.ingest import Origin, ingest_payload
from config import get_settings
from store.db import session_scope
from store.models import Alert, Customer, Notification
from store.types import utcnow
from tests.notify_support import add_book, live_demo_cap

ORANGE, RED, CANCEL = "01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml", "03-typhoon-infa-cancel.xml"
HANGZHOU = (120.155, 30.274)  # inside the red Update's area, outside the orange Alert's
GUANGZHOU = (113.264, 23.129)  # outside both
JUST_WEST_OF_THE_ORANGE_AREA = (118.95, 25.6)  # about 5.5 km outside its first vertex


@pytest.fixture
def book(db_url, haven_env):
    haven_env(db_url, HAVEN_QUIET_HOURS="00:00-00:00")
    spatial.forget_indexes()
    yield db_url
    spatial.forget_indexes()


def ingest(url, name, tag="T"):
    with session_scope(url) as session:
        result = ingest_payload(session, live_demo_cap(name, tag=tag), Origin(source=name))
    [alert_id] = result.new_alert_ids
    with session_scope(url) as session:
        spatial.match_alert(session, alert_id)
    return alert_id


def fan_out(alert_id, now=None):
    queued = []
    summary = notify_customers_in_area(alert_id, queued.extend, Rules.from_settings(get_settings()),
                                       get_settings().delivery_lease_s, now=now)
    return summary, queued


def notifications(url, **where):
    with session_scope(url) as session:
        query = select(Notification).order_by(Notification.id)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list(session.execute(query).scalars())


def test_an_alert_warns_every_customer_inside_once_per_channel_with_their_assets_counted(book):
    inside = add_book(book, 10)  # Wenzhou; every fifth also insures a home there
    add_book(book, 3, *GUANGZHOU, start=100)
    with session_scope(book) as session:
        session.get(Customer, inside[0]).push_token = "device-1"
        session.get(Customer, inside[1]).sms_opt_out = True
    alert_id = ingest(book, ORANGE)
    summary, queued = fan_out(alert_id)
    assert summary.customers == 10, 'fact: summary.customers == 10'
    assert summary.saved == 10, 'fact: summary.saved == 10'  # 9 SMS (one opted out) + 1 push
    assert summary.skipped == {"sms_opted_out": 1, "no_push_token": 9}
    rows = notifications(book)
    assert sorted(r.customer_id for r in rows if r.channel == "sms") == sorted(set(inside) - {inside[1]})
    assert [r.customer_id for r in rows if r.channel == "push"] == [inside[0]]
    assert {(nid, channel) for nid, channel in queued} == {(r.id, r.channel) for r in rows}
    assert {r.state for r in rows} == {"queued"}, 'fact: {r.state for r in rows} == {"queued"}'
    assert all(r.alert_id == alert_id for r in rows), 'fact: all(r.alert_id == alert_id for r in rows)'
    fifth = next(r for r in rows if r.customer_id == "C0000005")
    assert (fifth.asset_count, fifth.vehicle_count) == (2, 1)
    assert "1 insured vehicle and 1 property" in fifth.body or "1辆投保车辆和1处房产" in fifth.body
    with session_scope(book) as session:
        alert = session.get(Alert, alert_id)
        assert all(r.expires_at == alert.expires_at for r in rows)


def test_every_warning_names_the_insurers_hotline(book, haven_env):
    haven_env(book, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_HOTLINE="95500")
    add_book(book, 4)
    fan_out(ingest(book, ORANGE))
    bodies = [r.body for r in notifications(book)]
    assert len(bodies) == 4, 'fact: len(bodies) == 4'
    assert all("95500" in body and "400-000-0000" not in body for body in bodies), 'fact: all("95500" in body and "400-000-0000" not in body for body in bodies)'


def test_running_the_same_alert_twice_saves_nothing_twice(book):
    add_book(book, 5)
    alert_id = ingest(book, ORANGE)
    fan_out(alert_id)
    summary, queued = fan_out(alert_id)
    assert (summary.saved, queued, summary.skipped["already_warned"]) == (0, [], 5)
    assert len(notifications(book)) == 5


def test_two_workers_racing_on_one_alert_save_each_message_once(pg_clean_url, haven_env):
    """Both read "nobody warned yet"; the unique idempotency key lets only one insert through."""
    import threading

    haven_env(pg_clean_url, HAVEN_QUIET_HOURS="00:00-00:00")
    spatial.forget_indexes()
    add_book(pg_clean_url, 300)
    alert_id = ingest(pg_clean_url, ORANGE)
    results = []
    threads = [threading.Thread(target=lambda: results.append(fan_out(alert_id))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(queued) for _, queued in results) == 300
    assert sum(summary.saved for summary, _ in results) == 300
    assert len(notifications(pg_clean_url)) == 300
    spatial.forget_indexes()


def test_an_update_escalates_those_warned_and_warns_those_newly_inside(book):
    wenzhou = add_book(book, 3)
    hangzhou = add_book(book, 2, *HANGZHOU, start=50)
    orange = ingest(book, ORANGE)
    fan_out(orange)
    red = ingest(book, RED)
    summary, _ = fan_out(red)
    rows = notifications(book, alert_id=red)
    assert sorted((r.customer_id, r.kind, r.severity) for r in rows) == sorted(
        [(c, "escalation", "Extreme") for c in wenzhou] + [(c, "warning", "Extreme") for c in hangzhou])
    # the orange warnings were still pending: the red message supersedes them
    assert {r.state for r in notifications(book, alert_id=orange)} == {"cancelled"}
    assert summary.stopped == 3


def test_a_cancel_sends_the_all_clear_to_those_warned_and_stops_the_rest(book, haven_env):
    customers = add_book(book, 6)
    orange = ingest(book, ORANGE)
    _, queued = fan_out(orange)
    sent = [nid for nid, _ in queued[:4]]  # the four first in the send order
    assert delivery.deliver_batch(sent, "sms", get_settings()).delivered == 4  # the outbox hands four over
    warned_first = sorted(r.customer_id for r in notifications(book, alert_id=orange) if r.id in sent)
    cancel = ingest(book, CANCEL)
    summary, queued = fan_out(cancel)
    clear = notifications(book, alert_id=cancel)
    assert [r.kind for r in clear] == ["all_clear"] * 4
    assert sorted(r.customer_id for r in clear) == warned_first, "the all-clear goes to those warned"
    assert len(set(warned_first) & set(customers)) == 4, "four of the book's customers were warned"
    assert summary.stopped == 2
    warned = notifications(book, alert_id=orange)
    assert sorted(r.state for r in warned) == ["cancelled", "cancelled", "delivered", "delivered", "delivered", "delivered"]
    assert all("预警已解除" in r.body or "has been lifted" in r.body for r in clear)


def test_quiet_hours_hold_the_warning_but_not_an_extreme_one(book, haven_env):
    haven_env(book, HAVEN_QUIET_HOURS="22:00-07:00")
    add_book(book, 2, time_zone="Asia/Shanghai")
    night = datetime.now(UTC).replace(hour=15, minute=30, second=0, microsecond=0)  # 23:30 in Shanghai
    if night > datetime.now(UTC):
        night -= timedelta(days=1)
    morning = night.replace(hour=23, minute=0)
    orange = ingest(book, ORANGE)
    summary, queued = fan_out(orange, now=night)
    assert (summary.held_for_quiet_hours, queued) == (2, [])
    assert {(r.state, r.not_before) for r in notifications(book, alert_id=orange)} == {("created", morning)}
    red = ingest(book, RED)
    summary, queued = fan_out(red, now=night)
    assert summary.held_for_quiet_hours == 0, 'fact: summary.held_for_quiet_hours == 0'
    assert len(queued) == 2, 'fact: len(queued) == 2'


def test_the_warning_margin_reaches_assets_just_outside_the_area(book, haven_env):
    add_book(book, 1, *JUST_WEST_OF_THE_ORANGE_AREA)
    add_book(book, 1, *GUANGZHOU, start=100)
    assert fan_out(ingest(book, ORANGE, tag="M0"))[0].customers == 0
    haven_env(book, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_WARNING_MARGIN_KM=10)
    assert fan_out(ingest(book, ORANGE, tag="M10"))[0].customers == 1


def test_an_alert_the_chain_has_moved_past_warns_nobody(book):
    add_book(book, 2)
    orange = ingest(book, ORANGE)
    ingest(book, RED)  # arrives before the orange Alert's fan-out ran
    summary, queued = fan_out(orange)
    assert summary.skipped == {"superseded_by_a_newer_message": 1}, 'fact: summary.skipped == {"superseded_by_a_newer_message": 1}'
    assert queued == [], 'fact: queued == []'


def test_nothing_is_saved_for_an_expired_alert(book):
    add_book(book, 2)
    orange = ingest(book, ORANGE)
    summary, _ = fan_out(orange, now=utcnow() + timedelta(hours=7))
    assert summary.skipped == {"expired": 1}
    with session_scope(book) as session:
        assert session.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


def test_a_fan_out_that_never_finished_is_found_for_the_sweep(book):
    add_book(book, 2)
    alert_id = ingest(book, ORANGE)
    with session_scope(book) as session:
        session.get(Alert, alert_id).matched_at = utcnow() - timedelta(minutes=10)
    from alerts.notifying.fanout import alerts_awaiting_fan_out

    with session_scope(book) as session:
        assert alerts_awaiting_fan_out(session, utcnow()) == [alert_id]  # its worker died before the end
    fan_out(alert_id)
    with session_scope(book) as session:
        assert alerts_awaiting_fan_out(session, utcnow()) == []
