"""Failover between SMS providers (docs/architecture.md, "Failover between SMS providers") with a real Celery
worker on PostgreSQL and Redis: Twilio (A, preferred) through its SDK against the Twilio-compatible server and
Alibaba Cloud (B, standby) through its SDK against the Aliyun-compatible one, with a 3 s health window and a
4 s drift back so that a cut and a recovery fit in seconds. A hand-over is slow past 2 s: a round trip on
127.0.0.1 takes that long only when the server is made slow, not when the machine is merely busy.

The messages are sign-in codes saved straight into the notifications table and queued in batches of ten:
Aliyun's code template takes the code from the text, so no fan-out is needed to compose them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest
import redis
from sqlalchemy import select

from alerts.notifying import delivery
from alerts.notifying.failover import router_for
from config import get_settings
from store.db import session_scope
from store.models import AuditEvent, Notification
from store.types import utcnow
from tests.aliyun_support import AliyunServer
from tests.conftest import TEST_REDIS_URL, truncate_all
from tests.notify_support import TwilioServer, add_book, wait_for_workers
from tests.support import ROOT, subprocess_env, wait_until
from workers.notify import send_sms_batch

CUSTOMERS = 60
BATCH = 10
SETTINGS = {"HAVEN_SMS_PROVIDERS": "twilio,aliyun", "HAVEN_SMS_HEALTH_WINDOW_S": "3",
            "HAVEN_SMS_DRIFT_BACK_S": "4", "HAVEN_SMS_SLOW_HANDOVER_S": "2", "HAVEN_SMS_RATE_PER_S": "1000"}
HANDED_OVER = ("sent", "delivered")


class World:
    """Both provider servers and one worker process (4 threads) for the whole module."""

    def __init__(self, url: str):
        self.url = url
        self.twilio, self.aliyun = TwilioServer(), AliyunServer()
        self.env = {**self.aliyun.env(), **self.twilio.env(), **SETTINGS, "HAVEN_DATABASE_URL": url}
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "notify-sms,periodic", "-P", "threads", "-c", "4",
             "--loglevel", "WARNING", "-n", f"failover-{uuid.uuid4().hex[:8]}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"], env=subprocess_env(**self.env), cwd=ROOT)
        self.rounds = 0

    def reset(self) -> None:
        # A request the worker gave up on (a timeout) is still being answered: its server records it once
        # its latency is over, which must not count as this test's message to that number.
        wait_until(lambda: not (self.twilio.provider.in_flight or self.aliyun.provider.in_flight), timeout=30,
                   message="the previous test's requests answered")
        truncate_all(self.url)
        add_book(self.url, CUSTOMERS)
        for server in (self.twilio, self.aliyun):
            server.provider.accepted.clear()
            server.faults.latency_s = 0.0
        self.twilio.faults.status_500_share = 0.0
        client = redis.Redis.from_url(TEST_REDIS_URL)
        prefix = get_settings().redis_key_prefix
        for key in client.scan_iter(f"{prefix}haven:sms-*"):
            client.delete(key)

    def save(self, count: int, first: int = 1) -> list[int]:
        """`count` queued sign-in codes to as many customers from the `first`th on; returns their ids."""
        self.rounds += 1
        now = utcnow()
        rows = [Notification(idempotency_key=f"failover-{self.rounds}-{n}", customer_id=f"C{n:07d}", channel="sms",
                             kind="sign_in_code", recipient=f"+861700{n:07d}", language="en",
                             body=f"Your Haven code is {100000 + self.rounds * 100 + n}. It expires in 10 minutes.",
                             state="queued", queued_at=now)
                 for n in range(first, first + count)]
        with session_scope(self.url) as session:
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    @staticmethod
    def queue(ids: list[int]) -> None:
        for start in range(0, len(ids), BATCH):
            send_sms_batch.apply_async(args=(ids[start:start + BATCH],))

    def rows(self, ids: list[int] | None = None) -> list[Notification]:
        with session_scope(self.url) as session:
            query = select(Notification).order_by(Notification.id)
            found = session.execute(query.where(Notification.id.in_(ids)) if ids is not None else query).scalars().all()
            session.expunge_all()
            return found

    def wait_handed_over(self, ids: list[int], timeout: float = 60) -> list[Notification]:
        return wait_until(lambda: (rows := self.rows(ids)) and all(r.state in HANDED_OVER for r in rows) and rows,
                          timeout=timeout, message=f"{len(ids)} messages handed over")

    def send(self, count: int) -> list[Notification]:
        ids = self.save(count)
        self.queue(ids)
        return self.wait_handed_over(ids)

    def switches(self, action: str) -> list[AuditEvent]:
        with session_scope(self.url) as session:
            found = session.execute(select(AuditEvent).where(AuditEvent.entity == "sms_provider",
                                                             AuditEvent.action == action)).scalars().all()
            session.expunge_all()
            return found

    def stop(self) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(20)
        except subprocess.TimeoutExpired:
            self.worker.kill()
        self.twilio.stop()
        self.aliyun.stop()


@pytest.fixture(scope="module")
def world(pg_url):
    started = World(pg_url)
    yield started
    started.stop()


@pytest.fixture
def providers(world, haven_env):
    """The module's world, emptied, with this process's settings matching the worker's."""
    from workers import app

    haven_env(world.url, **world.env)
    world.reset()
    app.conf.task_always_eager = False
    wait_for_workers()
    return world


def test_traffic_moves_to_b_when_a_fails_and_drifts_back_when_a_recovers(providers, api_server):
    healthy = providers.send(20)
    assert {r.provider for r in healthy} == {"twilio"}, "with both healthy, new messages did not all go to A"

    providers.twilio.faults.status_500_share = 1.0
    failed_at = time.monotonic()
    first_attempts_on_b = None
    while time.monotonic() - failed_at < 60:
        rows = providers.send(20)
        if all(r.attempts == 1 and r.provider == "aliyun" for r in rows):
            first_attempts_on_b = time.monotonic() - failed_at
            break
        time.sleep(0.3)
    assert first_attempts_on_b is not None, "new messages still went to A a minute after it began failing"
    retried = [r for r in providers.rows() if r.attempts == 2]
    assert retried and {r.provider for r in retried} == {"aliyun"}, \
        "messages A refused with 500 were not retried on B"
    assert {r.possible_duplicates for r in retried} == {0}, \
        "a retry after a 500 (known not handed over) was counted as a possible duplicate"
    cuts = providers.switches("sms_provider_cut")
    assert cuts, "A's cut is not in the audit trail"
    cut = cuts[0]
    assert (cut.entity_id, cut.from_state, cut.to_state) == ("twilio", "100%", "0%"), \
        "the audit trail does not say A went from all new messages to none"
    assert "errors" in cut.note, "the audit trail does not say why A was cut"
    metrics = api_server(providers.url, **providers.env).get("/metrics").text
    # A's failures age out of the 3 s window while it takes no traffic, so it may already be drifting back.
    gauges = {name: float(value) for name, value in
              re.findall(r'^haven_sms_provider_share\{provider="(\w+)"\} ([0-9.e-]+)$', metrics, re.M)}
    assert set(gauges) == {"twilio", "aliyun"} and sum(gauges.values()) == pytest.approx(1.0), \
        f"/metrics does not show both providers' shares of new messages: {gauges}"
    assert re.search(r'^haven_sms_provider_switches_total\{kind="cut",provider="twilio"\} [1-9]', metrics, re.M), \
        "/metrics does not count A's cut"

    providers.twilio.faults.status_500_share = 0.0
    router = router_for(get_settings())
    seen_shares = set()
    recovered_at = time.monotonic()
    # Watched often and without sends in between: on a busy machine a round of sends can take longer than
    # the 4 s drift, and the share would seem to jump from 0 to 1.
    while time.monotonic() - recovered_at < 30:
        share = router.current().shares["twilio"]
        seen_shares.add(round(share, 2))
        if share == 1.0:
            break
        time.sleep(0.1)
    assert 1.0 in seen_shares, f"A was not back at its resting share 30 s after recovering: {sorted(seen_shares)}"
    assert any(0 < share < 1 for share in seen_shares), \
        f"A's share jumped back instead of drifting: {sorted(seen_shares)}"
    assert "twilio" in [e.entity_id for e in providers.switches("sms_provider_restored")], \
        "A's restoration is not in the audit trail"
    assert {r.provider for r in providers.send(20)} == {"twilio"}, "after recovery new messages did not go to A again"


def test_a_message_whose_attempt_on_a_timed_out_is_retried_on_b_and_counted(providers):
    providers.twilio.faults.latency_s = 12.0  # past the SDK client's 10 s timeout
    ids = providers.save(3)
    providers.queue(ids)
    rows = providers.wait_handed_over(ids, timeout=60)
    assert {r.provider for r in rows} == {"aliyun"}, "a message whose attempt on A timed out was not sent through B"
    assert [r.attempts for r in rows] == [2, 2, 2], "the retry on B was not each message's second attempt"
    assert [r.possible_duplicates for r in rows] == [1, 1, 1], \
        "a retry after a timeout (maybe handed over to A) was not counted as a possible duplicate"
    assert sorted(providers.aliyun.provider.per_recipient().values()) == [1, 1, 1], \
        "B did not get each timed-out message exactly once"


def test_a_message_in_flight_on_a_is_not_also_sent_on_b(providers):
    providers.twilio.faults.latency_s = 4.0  # slow (over 2 s) but answering
    first = providers.save(10)
    providers.queue(first)
    time.sleep(2.0)
    later = providers.save(20, first=11)
    providers.queue(later)
    providers.wait_handed_over(first, timeout=30)
    router = router_for(get_settings())
    wait_until(lambda: "twilio" in router.current().cut, timeout=10, interval=0.05,
               message="A cut once its first slow answers are in")
    in_flight = [r.id for r in providers.rows(later) if r.state == "sending"]
    assert in_flight, "no message was still in flight on A when A was cut"
    providers.queue(first + later)  # the same batches again, as a redelivered task would bring them
    with session_scope(providers.url) as session:
        swept = delivery.sweep(session, utcnow())
    assert swept.recovered == [], "the sweep took back messages a live worker was still handing to A"
    rows = providers.wait_handed_over(first + later)
    assert {r.provider for r in rows} == {"twilio"}, "a message claimed for A was sent through B as well"
    assert sorted(providers.twilio.provider.per_recipient().values()) == [1] * 30, \
        "A did not get each message exactly once"
    assert providers.aliyun.provider.accepted == [], "B got messages that were in flight on A"
    assert {r.possible_duplicates for r in rows} == {0}, "messages sent once were counted as possible duplicates"
