"""The delivery pipeline's state machine in the database (SQLite and PostgreSQL): claims, outcomes,
retries, the sweep. The provider is the Twilio-compatible server, driven by the real SDK."""

import random
import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select

from alerts.notifying import delivery
from alerts.notifying.channels.base import Outcome
from book.dao import upsert_customers
from config import get_settings
from store.db import dispose_engines, get_engine, session_scope
from store.models import AuditEvent, Customer, Notification
from store.types import utcnow
from tests.notify_support import add_book, twilio_server_fixture  # noqa: F401


def add_notifications(url, customer_ids, state="queued", channel="sms", **fields):
    now = utcnow()
    with session_scope(url) as session:
        rows = []
        for cid in customer_ids:
            customer = session.get(Customer, cid)
            rows.append(Notification(
                idempotency_key=f"test/{cid}/{channel}/{fields.get('kind', 'warning')}", customer_id=cid,
                channel=channel, kind=fields.get("kind", "warning"),
                recipient=customer.phone if channel == "sms" else f"tok-{cid}", body="【Haven保险】台风橙色预警",
                state=state, queued_at=now if state == "queued" else None, attempts=fields.get("attempts", 0),
                not_before=fields.get("not_before"), retry_at=fields.get("retry_at"),
                expires_at=fields.get("expires_at"), created_at=fields.get("created_at", now)))
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def states(url, ids):
    with session_scope(url) as session:
        rows = session.execute(select(Notification.id, Notification.state).where(Notification.id.in_(ids))).all()
        return dict(rows)


def row(url, nid):
    with session_scope(url) as session:
        return session.get(Notification, nid)


def test_only_one_claim_wins_a_row(pg_clean_url):
    """Workers on several machines share PostgreSQL; four concurrent claimers split the rows between them."""
    db_url = pg_clean_url
    add_book(db_url, 40)
    ids = add_notifications(db_url, [f"C{n:07d}" for n in range(1, 41)])
    claimed = []

    def claim():
        with session_scope(db_url) as session:
            claimed.append([m.notification_id for m in delivery.claim(session, ids, "sms", utcnow())])

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for batch in claimed for n in batch]
    assert sorted(winners) == sorted(ids)  # every row claimed exactly once across four claimers
    assert set(states(db_url, ids).values()) == {"sending"}


def test_a_claim_expires_late_rows_cancels_opted_out_ones_and_leaves_rows_not_yet_due(db_url):
    add_book(db_url, 4)
    now = utcnow()
    expired = add_notifications(db_url, ["C0000001"], expires_at=now - timedelta(seconds=1))
    held = add_notifications(db_url, ["C0000002"], not_before=now + timedelta(hours=1))
    backing_off = add_notifications(db_url, ["C0000003"], retry_at=now + timedelta(minutes=1))
    opted_out = add_notifications(db_url, ["C0000004"])
    with session_scope(db_url) as session:
        session.get(Customer, "C0000004").sms_opt_out = True
    ids = expired + held + backing_off + opted_out
    with session_scope(db_url) as session:
        assert delivery.claim(session, ids, "sms", now) == []
    assert states(db_url, ids) == {expired[0]: "expired", held[0]: "queued", backing_off[0]: "queued",
                                   opted_out[0]: "cancelled"}


def test_outbox_delivery_stores_and_lists_without_sending(db_url, haven_env):
    haven_env(db_url)
    add_book(db_url, 3)
    ids = add_notifications(db_url, ["C0000001", "C0000002", "C0000003"])
    result = delivery.deliver_batch(ids, "sms", get_settings())
    assert (result.claimed, result.delivered) == (3, 3)
    first = row(db_url, ids[0])
    assert (first.state, first.provider, first.provider_message_id) == ("delivered", "outbox", f"outbox-{ids[0]}")
    assert first.sent_at is not None, 'fact: first.sent_at is not None'
    assert first.final_at is not None, 'fact: first.final_at is not None'
    assert first.attempts == 1, 'fact: first.attempts == 1'
    assert delivery.deliver_batch(ids, "sms", get_settings()).claimed == 0  # a second task for the same ids sends nothing


def test_twilio_outcomes_move_each_row(db_url, haven_env, twilio_server):
    haven_env(db_url, **twilio_server.env())
    customers = add_book(db_url, 4)
    twilio_server.faults.permanent = {"+8617000000002": 21211, "+8617000000003": 21610}
    twilio_server.faults.status_500_next = 0
    ids = add_notifications(db_url, customers)
    twilio_server.faults.final_status = {}
    result = delivery.deliver_batch(ids, "sms", get_settings())
    assert (result.accepted, result.failed) == (2, 2)
    by_id = {nid: row(db_url, nid) for nid in ids}
    assert by_id[ids[0]].state == "sent", 'fact: by_id[ids[0]].state == "sent"'
    assert by_id[ids[0]].provider_message_id.startswith("SM"), 'fact: by_id[ids[0]].provider_message_id.startswith("SM")'
    assert (by_id[ids[1]].state, by_id[ids[1]].error_code) == ("failed", "21211")
    assert "invalid 'To' phone number" in by_id[ids[1]].last_error or "not a valid phone number" in by_id[ids[1]].last_error
    assert by_id[ids[2]].state == "failed"
    with session_scope(db_url) as session:
        assert session.get(Customer, "C0000003").sms_opt_out  # 21610: the number unsubscribed
        assert session.execute(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "send_failed")).scalar_one() == 2


def test_a_429_is_retried_later_and_gives_up_after_the_last_attempt(db_url, haven_env, twilio_server):
    haven_env(db_url, **twilio_server.env())
    add_book(db_url, 2)
    import time

    twilio_server.faults.status_429_until = time.time() + 60
    [first] = add_notifications(db_url, ["C0000001"])
    result = delivery.deliver_batch([first], "sms", get_settings())
    assert result.retry_ids == [first], 'fact: result.retry_ids == [first]'
    assert 0.5 <= result.retry_in_s <= 1.0, 'fact: 0.5 <= result.retry_in_s <= 1.0'
    retrying = row(db_url, first)
    assert (retrying.state, retrying.attempts, retrying.error_code) == ("queued", 1, "20429")
    assert retrying.retry_at > utcnow()
    assert delivery.deliver_batch([first], "sms", get_settings()).claimed == 0  # not before its retry time
    [last] = add_notifications(db_url, ["C0000002"], attempts=delivery.MAX_ATTEMPTS - 1)
    assert delivery.deliver_batch([last], "sms", get_settings()).failed == 1
    assert row(db_url, last).state == "failed"


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(delivery.BACKOFF_CAP_S, 2 ** (attempt - 1))
        waits = [delivery.backoff_s(attempt, rng) for _ in range(50)]
        assert ceiling / 2 <= min(waits), 'fact: ceiling / 2 <= min(waits)'
        assert max(waits) <= ceiling, 'fact: max(waits) <= ceiling'
        assert len({round(w, 6) for w in waits}) > 40  # jitter: no two workers retry in lockstep


def test_a_late_outcome_never_overwrites_a_row_the_sweep_took_back(db_url):
    add_book(db_url, 1)
    [nid] = add_notifications(db_url, ["C0000001"], state="queued")  # not `sending` any more
    with session_scope(db_url) as session:
        delivery.record_outcomes(session, [Outcome(nid, "accepted", "twilio", "SM1")], {nid: 1}, utcnow())
    assert row(db_url, nid).state == "queued"


@pytest.mark.slow
def test_a_cancel_stops_more_pending_messages_than_sqlite_has_parameters(db_url):
    """A Cancel at night stops every warning still held for the morning: 33,000 of them in one statement,
    more than the 32,766 parameters SQLite allows as most platforms build it (Debian allows more, so the
    limit is set here as those builds have it)."""
    count, now = 33_000, utcnow()
    with session_scope(db_url) as session:
        upsert_customers(session, [{"customer_id": f"N{n:06d}", "phone": f"+86170{n:08d}"} for n in range(count)])
        session.execute(insert(Notification), [
            {"idempotency_key": f"night/{n}", "customer_id": f"N{n:06d}", "channel": "sms", "kind": "warning",
             "recipient": f"+86170{n:08d}", "body": "【Haven保险】台风橙色预警", "state": "created",
             "not_before": now + timedelta(hours=5), "created_at": now, "updated_at": now} for n in range(count)])
        ids = session.execute(select(Notification.id)).scalars().all()
    if db_url.startswith("sqlite"):
        dispose_engines()
        event.listen(get_engine(db_url), "connect", lambda connection, _: connection.setlimit(
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766))
    with session_scope(db_url) as session:
        assert delivery.cancel_pending(session, ids, now, "the warning was cancelled") == count
    with session_scope(db_url) as session:
        assert session.execute(select(Notification.state, func.count()).group_by(Notification.state)).all() == [
            ("cancelled", count)]


def test_the_sweep_heals_every_kind_of_stuck_row(db_url):
    add_book(db_url, 6)
    now = utcnow()
    long_ago = now - timedelta(hours=13)
    [sending] = add_notifications(db_url, ["C0000001"], state="sending")
    [held] = add_notifications(db_url, ["C0000002"], state="created", not_before=now - timedelta(seconds=1))
    [orphan] = add_notifications(db_url, ["C0000003"], state="created", created_at=now - timedelta(minutes=5))
    [lost] = add_notifications(db_url, ["C0000004"], state="queued")
    [silent] = add_notifications(db_url, ["C0000005"], state="sent")
    [late] = add_notifications(db_url, ["C0000006"], state="queued", expires_at=now - timedelta(minutes=1))
    with session_scope(db_url) as session:
        for nid, column in ((sending, "sending_at"), (lost, "queued_at"), (silent, "sent_at")):
            setattr(session.get(Notification, nid), column, long_ago)
    with session_scope(db_url) as session:
        result = delivery.sweep(session, now)
    assert result.recovered == [(sending, "sms")]
    assert result.released == [(held, "sms"), (orphan, "sms")]
    assert result.requeued == [(lost, "sms")]
    assert (result.expired, result.receipts_overdue) == (1, 1)
    assert states(db_url, [sending, held, orphan, lost, silent, late]) == {
        sending: "queued", held: "queued", orphan: "queued", lost: "queued", silent: "expired", late: "expired"}
    assert row(db_url, sending).possible_duplicates == 1
    with session_scope(db_url) as session:
        assert session.execute(select(AuditEvent.action).where(AuditEvent.entity_id == str(sending))).scalar_one() \
            == "resent_after_lost_outcome"
    with session_scope(db_url) as session:  # a second sweep finds nothing new
        assert delivery.sweep(session, now).to_enqueue == []


def test_rows_held_for_quiet_hours_are_not_released_early(db_url):
    add_book(db_url, 1)
    [held] = add_notifications(db_url, ["C0000001"], state="created", not_before=utcnow() + timedelta(hours=2))
    with session_scope(db_url) as session:
        assert delivery.mark_queued(session, [held], utcnow()) == []
        assert delivery.sweep(session, utcnow()).released == []


@pytest.mark.parametrize(("rate", "expected"), [(100, 100), (1000, 100), (20, 40), (0.5, 1)])
def test_batches_hold_about_two_seconds_of_slots_at_low_rates(rate, expected):
    from config.settings import load_settings

    settings = load_settings(sms_channel="twilio", sms_rate_per_s=rate)
    assert delivery.batch_size("sms", settings) == expected
    assert delivery.batch_size("push", settings) == 100


def test_a_misconfigured_channel_keeps_the_warnings_for_a_retry_and_names_what_is_missing(db_url, haven_env):
    haven_env(db_url, HAVEN_SMS_CHANNEL="twilio", TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="", TWILIO_FROM="")
    add_book(db_url, 2)
    ids = add_notifications(db_url, ["C0000001", "C0000002"])
    result = delivery.deliver_batch(ids, "sms", get_settings())
    assert sorted(result.retry_ids) == sorted(ids), 'fact: sorted(result.retry_ids) == sorted(ids)'
    assert result.failed == 0, 'fact: result.failed == 0'
    waiting = row(db_url, ids[0])
    assert waiting.state == "queued", 'fact: waiting.state == "queued"'
    assert waiting.possible_duplicates == 0, 'fact: waiting.possible_duplicates == 0'
    assert "TWILIO_ACCOUNT_SID" in waiting.last_error, 'fact: "TWILIO_ACCOUNT_SID" in waiting.last_error'
    assert "TWILIO_FROM" in waiting.last_error, 'fact: "TWILIO_FROM" in waiting.last_error'
