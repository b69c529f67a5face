"""Reliability drills (issue 5, Reliability goals), each with real workers, Redis, PostgreSQL and the
Twilio SDK against the Twilio-compatible server:

- kill -9 of a worker in the middle of a 20,000-customer fan-out: after recovery every customer has
  exactly one message, apart from at most the batch in flight, whose duplicates are counted and reported;
- Redis restarted mid fan-out (a private redis-server on a free port, never the shared one): nothing lost;
- the provider answering 429 for 30 s: everything delivered in the end, the rate limit held throughout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from alerts import matching
from alerts.ingest import Origin
from alerts.ingest import ingest_payload as store_payload
from alerts.reach import reach_report
from store.db import session_scope
from store.models import Notification
from tests.notify_drill import DRILL_TIMEOUTS, ping
from tests.notify_support import add_book, live_demo_cap, twilio_server_fixture  # noqa: F401
from tests.support import ROOT, free_port, subprocess_env, wait_until
from workers.ingest import ingest_payload

pytestmark = pytest.mark.slow

ORANGE = "01-typhoon-infa-orange-alert.xml"
BATCH = 100


def notification_states(url) -> dict[str, int]:
    with session_scope(url) as session:
        return dict(session.execute(select(Notification.state, func.count()).group_by(Notification.state)).all())


def one_row_per_customer(url, customers: int) -> None:
    with session_scope(url) as session:
        rows = session.execute(select(func.count(), func.count(func.distinct(Notification.customer_id)))).one()
    assert tuple(rows) == (customers, customers)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def kill_9(process: subprocess.Popen) -> None:
    """The whole worker at once, as when its machine dies: the pool process mid-batch and its parent."""
    for child in children(process.pid):
        os.kill(child, signal.SIGKILL)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_kill_9_of_a_worker_mid_fan_out_leaves_at_most_the_batch_in_flight_duplicated(
        celery_worker, haven_env, pg_clean_url, twilio_server):
    customers = 20_000
    matching.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=100_000)
    url = haven_env(pg_clean_url, **environment)
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    twilio_server.faults.latency_s = 0.02
    doomed = celery_worker(url, **environment)
    celery_worker(url, **environment)
    ping(2)

    ingest_payload(live_demo_cap(ORANGE, tag="KILL"), Origin(source="drill"), url)
    provider = twilio_server.provider
    wait_until(lambda: len(provider.accepted) >= customers * 0.3, timeout=120, message="a third handed over")
    kill_9(doomed)
    celery_worker(url, **environment)  # the supervisor starts a replacement

    def recovered():
        from workers.periodic import sweep_notifications

        sweep_notifications(**DRILL_TIMEOUTS)  # beat, at drill timeouts
        return notification_states(url) == {"sent": customers}

    wait_until(recovered, timeout=240, interval=1.0, message="every notification handed over after the kill")
    one_row_per_customer(url, customers)
    per_number = provider.per_recipient()
    assert len(per_number) == customers  # nobody missed
    duplicates = sum(count - 1 for count in per_number.values() if count > 1)
    with session_scope(url) as session:
        alert_id = session.execute(select(Notification.alert_id)).scalars().first()
        reported = reach_report(session, alert_id)["possible_duplicates"]
    print(f"\nkill -9 drill: {customers} customers, {duplicates} duplicate SMS (the batch in flight), "
          f"{reported} reported as possible duplicates")
    assert duplicates <= BATCH
    assert duplicates <= reported <= 2 * BATCH  # every real duplicate was counted by the system
    matching.forget_indexes()


@pytest.fixture
def private_redis():
    """A redis-server of our own on a free port: restarting the shared one would disturb other test runs."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (make services installs it)"
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    servers = []

    def start():
        servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = redis.Redis(port=port)
        wait_until(lambda: _answers(client), timeout=20, message="the private redis-server")

    def restart():
        servers[-1].send_signal(signal.SIGKILL)
        servers[-1].wait(10)
        start()

    start()
    yield type("PrivateRedis", (), {"url": f"redis://127.0.0.1:{port}/0", "restart": staticmethod(restart)})
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(10)


def _answers(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


def drill(command: str, argument, environment: dict, timeout: float = 300) -> None:
    subprocess.run([sys.executable, "-m", "tests.notify_drill", command, str(argument)], env=environment,
                   cwd=ROOT, check=True, timeout=timeout)


def test_redis_restarted_mid_fan_out_loses_nothing(celery_worker, haven_env, pg_clean_url, twilio_server,
                                                   private_redis):
    customers = 3000
    matching.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=300,
                                    HAVEN_REDIS_URL=private_redis.url)
    url = haven_env(pg_clean_url, **{k: v for k, v in environment.items() if k != "HAVEN_REDIS_URL"})
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    twilio_server.faults.latency_s = 0.05
    celery_worker(url, **environment)
    celery_worker(url, **environment)
    drill_env = subprocess_env(HAVEN_DATABASE_URL=url, **environment)
    drill("ping", 2, drill_env)
    with session_scope(url) as session:
        [alert_id] = store_payload(session, live_demo_cap(ORANGE, tag="REDIS"), Origin(source="drill")).new_alert_ids
    with session_scope(url) as session:
        matching.match_alert(session, alert_id)
    drill("notify", alert_id, drill_env)

    provider = twilio_server.provider
    wait_until(lambda: len(provider.accepted) >= customers / 3, timeout=60, message="a third handed over")
    private_redis.restart()  # queued tasks, unacked tasks and the rate-limit schedule are gone
    drill("sweep", 240, drill_env, timeout=300)

    assert notification_states(url) == {"sent": customers}
    one_row_per_customer(url, customers)
    assert sorted(provider.per_recipient().values()) == [1] * customers  # nothing lost, nothing twice
    matching.forget_indexes()


def test_429_for_30_s_then_everything_goes_out_within_the_rate_limit(celery_worker, haven_env, pg_clean_url,
                                                                      twilio_server):
    customers, rate = 300, 40
    matching.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=rate)
    url = haven_env(pg_clean_url, **environment)
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    celery_worker(url, **environment)
    celery_worker(url, **environment)
    ping(2)

    provider = twilio_server.provider
    provider.faults.status_429_until = time.time() + 30
    ingest_payload(live_demo_cap(ORANGE, tag="429"), Origin(source="drill"), url)

    def all_sent():
        from workers.periodic import sweep_notifications

        # Nobody dies here: at 40/s a claimed batch can wait ~20 s for its slots, which is not "stuck".
        sweep_notifications(**{**DRILL_TIMEOUTS, "sending_s": 60.0})
        return notification_states(url) == {"sent": customers}

    wait_until(all_sent, timeout=240, interval=2.0, message="everything handed over after the 429s")
    refused = [at for at, status, _ in provider.attempts if status == 429]
    assert max(refused) - min(refused) >= 25  # the provider really refused for about 30 s
    assert sorted(provider.per_recipient().values()) == [1] * customers
    peak = provider.peak_per_window(1.0)
    print(f"\n429 drill: {len(provider.attempts)} attempts ({len(refused)} refused), peak {peak}/s at a limit of {rate}/s")
    assert peak <= rate
    with session_scope(url) as session:
        assert session.execute(select(func.max(Notification.attempts))).scalar_one() > 1
    matching.forget_indexes()
