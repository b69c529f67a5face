"""The sweep's view of the broker, on the real test Redis (under this run's key prefix): a lost marker or
another server run id means the queues were lost; a queue counts as empty only with no message at any
priority level; and the sweep then queues every queued row again, which the send tasks deliver."""

import uuid

import pytest

from config import get_settings
from store.db import session_scope
from store.models import Notification
from tests.alerts.notifying.test_delivery import add_notifications, states
from tests.notify_support import add_book
from workers.broker import MARKER_KEY, BrokerProbe


@pytest.fixture
def probe():
    settings = get_settings()
    probe = BrokerProbe.from_url(settings.redis_url, f"{settings.redis_key_prefix}probe-{uuid.uuid4().hex[:6]}:")
    yield probe
    keys = list(probe.client.scan_iter(match=probe.prefix + "*"))
    if keys:
        probe.client.delete(*keys)


def test_a_missing_marker_or_another_run_id_means_the_broker_lost_its_queues(probe):
    lost, run_id = probe.lost_its_queues()
    assert lost, "a broker never seen before counts as having lost its queues"
    assert run_id, "a broker never seen before counts as having lost its queues"
    probe.remember(run_id)
    assert probe.lost_its_queues() == (False, run_id), "the same server run, marker kept: nothing lost"
    probe.client.set(probe.prefix + MARKER_KEY, "another-run")
    assert probe.lost_its_queues()[0], "a failover or restart changes the run id"
    probe.client.delete(probe.prefix + MARKER_KEY)
    assert probe.lost_its_queues()[0], "a restart without persistence loses the marker"


def test_a_queue_is_empty_only_with_no_message_at_any_priority(probe):
    assert probe.empty_queues(["notify-sms", "notify-push"]) == {"notify-sms", "notify-push"}
    probe.client.rpush(probe.queue_keys("notify-sms")[2], b"{}")  # priority 6, as kombu names it
    assert probe.empty_queues(["notify-sms", "notify-push"]) == {"notify-push"}, (
        "a message waiting at a priority level should make its queue busy")


def test_a_queued_row_whose_task_was_published_is_seen_in_its_queue(probe):
    from workers import app
    from workers.notify import send_push_batch

    real = BrokerProbe.from_url(get_settings().redis_url, get_settings().redis_key_prefix)
    app.conf.task_always_eager = False  # published to Redis (the autouse fixture puts it back)
    send_push_batch.apply_async(args=([],))
    try:
        assert "notify-push" not in real.empty_queues(["notify-push"]), "the published task should be counted"
    finally:
        real.client.lpop(real.queue_keys("notify-push")[0])  # kombu pushes at the head, workers pop the tail


def test_the_sweep_sends_every_queued_row_again_after_the_broker_lost_its_queues(sqlite_url, haven_env):
    from workers.periodic import sweep_notifications

    haven_env(sqlite_url)
    add_book(sqlite_url, 3)
    sweep_notifications()  # the marker now names this Redis run
    ids = add_notifications(sqlite_url, ["C0000001", "C0000002", "C0000003"])  # their tasks never ran
    assert sweep_notifications()["requeued"] == 0, "fresh queued rows are left to their tasks"
    settings = get_settings()
    BrokerProbe.from_url(settings.redis_url).client.delete(settings.redis_key_prefix + MARKER_KEY)
    figures = sweep_notifications()
    assert figures["broker_lost_its_queues"], f"sweep figures {figures}"
    assert figures["requeued"] == 3, f"sweep figures {figures}"
    assert set(states(sqlite_url, ids).values()) == {"delivered"}, "the queued-again rows should have gone out (outbox)"
    with session_scope(sqlite_url) as session:
        assert all(session.get(Notification, nid).possible_duplicates == 0 for nid in ids), (
            "a row that was only queued cannot have reached anyone twice")
