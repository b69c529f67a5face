"""Leases on work in progress and the sweep's recovery rules, on SQLite and PostgreSQL: a batch whose lease
ran out is taken back, a renewed one never; queued rows the broker lost are queued again; a fan-out is
held by one run at a time and a dead run's fan-out resumes, saving nothing twice."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from alerts.matching import spatial
from alerts.notifying import delivery
from alerts.notifying.fanout import (
    ALREADY_RUNNING,
    alerts_awaiting_fan_out,
    notify_customers_in_area,
    take_fan_out,
)
from alerts.notifying.leases import LeaseKeeper
from alerts.notifying.targeting import Rules
from config import get_settings
from store.db import session_scope
from store.models import FanOutLease, Notification
from store.types import utcnow
from tests.alerts.notifying.test_delivery import add_notifications, row, states
from tests.alerts.notifying.test_fanout import ORANGE, fan_out, ingest
from tests.notify_support import add_book


def claim_all(url, ids, now, lease_s=30.0):
    with session_scope(url) as session:
        return [m.notification_id for m in delivery.claim(session, ids, "sms", now, lease_s)]


def test_a_claim_carries_a_lease_and_the_sweep_takes_back_only_batches_whose_lease_ran_out(db_url):
    add_book(db_url, 3)
    now = utcnow()
    dead, alive, slow = add_notifications(db_url, ["C0000001", "C0000002", "C0000003"])
    assert claim_all(db_url, [dead, alive, slow], now) == [dead, alive, slow]
    assert row(db_url, dead).lease_until == now + timedelta(seconds=30), "a claim should lease its rows for 30 s"
    later = now + timedelta(seconds=31)
    with session_scope(db_url) as session:  # the living workers renewed theirs; the dead one could not
        session.execute(update(Notification).where(Notification.id.in_([alive, slow]))
                        .values(lease_until=later + timedelta(seconds=30)))
    with session_scope(db_url) as session:
        result = delivery.sweep(session, later)
    assert result.recovered == [(dead, "sms")], "only the batch whose lease ran out should be taken back"
    assert states(db_url, [dead, alive, slow]) == {dead: "queued", alive: "sending", slow: "sending"}
    assert row(db_url, dead).possible_duplicates == 1, "a re-send after an unknown outcome is a possible duplicate"


def test_a_row_claimed_without_a_lease_falls_back_to_the_old_timeout(db_url):
    add_book(db_url, 1)
    [nid] = add_notifications(db_url, ["C0000001"], state="sending")
    now = utcnow()
    with session_scope(db_url) as session:
        session.get(Notification, nid).sending_at = now - timedelta(seconds=200)
    with session_scope(db_url) as session:
        assert delivery.sweep(session, now).recovered == [], "200 s without a lease is not yet stuck"
    with session_scope(db_url) as session:
        assert delivery.sweep(session, now + timedelta(seconds=101)).recovered == [(nid, "sms")]


def test_the_lease_keeper_renews_what_its_process_holds_and_nothing_after(db_url, haven_env):
    haven_env(db_url)
    add_book(db_url, 2)
    held, other = add_notifications(db_url, ["C0000001", "C0000002"])
    now = utcnow()
    claim_all(db_url, [held, other], now, lease_s=3.0)
    keeper = LeaseKeeper()
    with keeper.holding("batch", [held], 3.0):
        assert keeper.renew_now() == 1, "one held row should be renewed"
        renewed = row(db_url, held).lease_until
        assert renewed > now + timedelta(seconds=3), "the held row's lease should reach further"
        assert row(db_url, other).lease_until == now + timedelta(seconds=3), "a row not held is not renewed"
    assert keeper.held() == [], "nothing is held once the work is done"
    assert keeper.renew_now() == 0, "nothing is held once the work is done"


def test_the_lease_keeper_thread_keeps_a_slow_batch_from_being_taken(db_url, haven_env):
    import time

    haven_env(db_url)
    add_book(db_url, 1)
    [nid] = add_notifications(db_url, ["C0000001"])
    claim_all(db_url, [nid], utcnow(), lease_s=3.0)
    keeper = LeaseKeeper()
    with keeper.holding("batch", [nid], 3.0):
        time.sleep(4.5)  # longer than the lease: only the renewals keep it
        with session_scope(db_url) as session:
            assert delivery.sweep(session, utcnow()).recovered == [], "a live slow batch was taken back"
    assert states(db_url, [nid]) == {nid: "sending"}


def test_a_hung_send_is_not_renewed_past_the_longest_hold(db_url, haven_env):
    haven_env(db_url)
    add_book(db_url, 1)
    [nid] = add_notifications(db_url, ["C0000001"])
    now = utcnow()
    claim_all(db_url, [nid], now)
    keeper = LeaseKeeper(max_hold_s=0.0)
    with keeper.holding("batch", [nid], 30.0):
        assert keeper.renew_now() == 0, "a hold older than max_hold_s should no longer be renewed"


def test_when_the_broker_lost_its_queues_every_queued_row_is_queued_again(db_url):
    add_book(db_url, 3)
    now = utcnow()
    fresh, retrying = add_notifications(db_url, ["C0000001", "C0000002"])
    with session_scope(db_url) as session:
        session.get(Notification, retrying).retry_at = now + timedelta(seconds=20)
    with session_scope(db_url) as session:
        assert delivery.sweep(session, now).requeued == [], "fresh queued rows are left to their tasks"
    with session_scope(db_url) as session:
        lost = delivery.sweep(session, now, broker=delivery.BrokerView(lost_its_queues=True))
    assert sorted(lost.requeued) == [(fresh, "sms"), (retrying, "sms")], "every queued row lost its task"
    assert row(db_url, retrying).retry_at == now + timedelta(seconds=20), "a retry keeps its backoff"
    assert row(db_url, fresh).retry_at is None


def test_a_queued_row_outliving_an_idle_queue_is_queued_again(db_url):
    add_book(db_url, 2)
    now = utcnow()
    sms, push = add_notifications(db_url, ["C0000001"]) + add_notifications(db_url, ["C0000002"], channel="push")
    later = now + timedelta(seconds=16)
    with session_scope(db_url) as session:
        busy = delivery.sweep(session, later, broker=delivery.BrokerView(idle_channels=frozenset({"push"})))
    assert busy.requeued == [(push, "push")], "only the row whose queue is empty should be queued again"
    with session_scope(db_url) as session:
        soon = delivery.sweep(session, now + timedelta(seconds=10),
                              broker=delivery.BrokerView(idle_channels=frozenset({"sms"})))
    assert soon.requeued == [], "15 s have not passed for the sms row"
    assert states(db_url, [sms, push]) == {sms: "queued", push: "queued"}


def test_a_second_task_for_a_queued_row_is_harmless(db_url):
    add_book(db_url, 1)
    [nid] = add_notifications(db_url, ["C0000001"])
    now = utcnow()
    assert claim_all(db_url, [nid], now) == [nid]
    assert claim_all(db_url, [nid], now) == [], "the second task for the same row must claim nothing"


@pytest.fixture
def book(db_url, haven_env):
    haven_env(db_url, HAVEN_QUIET_HOURS="00:00-00:00")
    spatial.forget_indexes()
    yield db_url
    spatial.forget_indexes()


def test_a_fan_out_is_run_by_one_worker_at_a_time(book):
    add_book(book, 3)
    alert_id = ingest(book, ORANGE)
    now = utcnow()
    with session_scope(book) as session:
        assert take_fan_out(session, alert_id, now, 30.0).number == 1
    summary, queued = fan_out(alert_id)
    assert summary.skipped == {ALREADY_RUNNING: 1}, "a second run while the lease is live"
    assert queued == [], "a second run while the lease is live"
    with session_scope(book) as session:
        assert session.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


def test_a_fan_out_whose_worker_died_resumes_queues_what_it_saved_and_saves_nothing_twice(book):
    from store.models import AuditEvent

    add_book(book, 6)
    alert_id = ingest(book, ORANGE)
    fan_out(alert_id)  # its tasks are lost (nothing is queued here) ...
    with session_scope(book) as session:  # ... and it died after saving half: no end, a lease run out
        ids = session.execute(select(Notification.id).order_by(Notification.id)).scalars().all()
        session.execute(Notification.__table__.delete().where(Notification.id.in_(ids[3:])))
        session.execute(AuditEvent.__table__.delete().where(AuditEvent.entity == "alert"))
        session.execute(update(FanOutLease).values(finished_at=None, lease_until=utcnow() - timedelta(seconds=1)))
    with session_scope(book) as session:
        assert alerts_awaiting_fan_out(session, utcnow()) == [alert_id], "its lease ran out: resume it"
    summary, queued = fan_out(alert_id)
    assert set(ids[:3]) <= {nid for nid, _ in queued}, "what the dead run saved is queued again"
    assert (summary.saved, summary.skipped.get("already_warned")) == (3, 3), "the resumed run saves only what is missing"
    with session_scope(book) as session:
        total, customers = session.execute(
            select(func.count(), func.count(func.distinct(Notification.customer_id)))).one()
        lease = session.get(FanOutLease, alert_id)
        assert (lease.runs, lease.finished_at is not None) == (2, True), "one resumed run, finished"
        assert alerts_awaiting_fan_out(session, utcnow(), broker_lost=True) == [], "a finished fan-out stays done"
    assert (total, customers) == (6, 6), "every customer saved once, nobody twice"


def test_a_fan_out_task_lost_before_it_began_is_found_at_once_when_the_broker_lost_its_queues(book):
    add_book(book, 1)
    alert_id = ingest(book, ORANGE)
    now = utcnow()
    with session_scope(book) as session:
        assert alerts_awaiting_fan_out(session, now) == [], "just matched: its task is on the way"
        assert alerts_awaiting_fan_out(session, now, broker_lost=True) == [alert_id]
        assert alerts_awaiting_fan_out(session, now + timedelta(seconds=16), queue_idle_s=15.0) == [alert_id]
    notify_customers_in_area(alert_id, lambda pairs: None, Rules.from_settings(get_settings()),
                             get_settings().delivery_lease_s)
    with session_scope(book) as session:
        assert alerts_awaiting_fan_out(session, now, broker_lost=True) == []


def test_an_alert_whose_match_task_was_lost_is_matched_again(book):
    from alerts.notifying.fanout import alerts_awaiting_match
    from alerts.reading.ingest import Origin, ingest_payload
    from tests.notify_support import live_demo_cap

    with session_scope(book) as session:  # stored, and its match task then lost with the broker
        [alert_id] = ingest_payload(session, live_demo_cap(ORANGE, tag="LOST"), Origin(source="test")).new_alert_ids
    now = utcnow()
    with session_scope(book) as session:
        assert alerts_awaiting_match(session, now) == [], "just stored: its match task is on the way"
        assert alerts_awaiting_match(session, now, broker_lost=True) == [alert_id], "the broker lost it"
        assert alerts_awaiting_match(session, now + timedelta(seconds=16), queue_idle_s=15.0) == [alert_id], (
            "an alert unmatched 15 s after the match queue went empty lost its task")
        spatial.match_alert(session, alert_id)
    with session_scope(book) as session:
        assert alerts_awaiting_match(session, now, broker_lost=True) == [], "a matched alert is left alone"
