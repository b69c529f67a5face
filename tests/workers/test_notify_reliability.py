"""Reliability drills (issue 17), each with real Celery workers (thread pools, as the README runs the send
queues), celery beat running the sweep at its default timing, Redis, PostgreSQL and the Twilio SDK
against the Twilio-compatible server:

- kill -9 of the worker that runs a 12,000-customer fan-out, mid-way: every customer's SMS is handed to
  the provider within 60 s of the kill, and the only duplicates are of the killed worker's batches in
  flight, each counted by the system as a possible duplicate;
- a private Redis without persistence killed mid fan-out (a 12,000-customer one) and started again empty
  3 s later: every customer's SMS is handed over within 60 s of Redis answering again, nobody twice; both
  workers ride out the outage, say they are reconnecting, and consume again;
- the provider answering 429 for 30 s: everything delivered in the end, the rate limit held throughout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from alerts.matching import spatial
from alerts.notifying.reach import reach_report
from alerts.reading.ingest import Origin
from alerts.reading.ingest import ingest_payload as store_payload
from alerts.service import ingest
from store.db import session_scope
from store.models import FanOutLease, Notification
from tests.notify_drill import ping
from tests.notify_support import add_book, live_demo_cap, twilio_server_fixture  # noqa: F401
from tests.support import ROOT, free_port, subprocess_env, wait_until
from workers import QUEUES

pytestmark = [pytest.mark.slow, pytest.mark.serial]

ORANGE = "01-typhoon-infa-orange-alert.xml"
BATCH = 100
THREADS = 4
RECOVERY_GOAL_S = 60.0


def notification_states(url) -> dict[str, int]:
    with session_scope(url) as session:
        return dict(session.execute(select(Notification.state, func.count()).group_by(Notification.state)).all())


def one_row_per_customer(url, customers: int) -> None:
    with session_scope(url) as session:
        rows = session.execute(select(func.count(), func.count(func.distinct(Notification.customer_id)))).one()
    assert tuple(rows) == (customers, customers), f"(rows, customers with a row) should be ({customers}, {customers})"


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def kill_9(process: subprocess.Popen) -> None:
    """The whole worker at once, as when its machine dies: any pool process and its parent."""
    for child in children(process.pid):
        os.kill(child, signal.SIGKILL)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def first_handover_of_everyone(provider) -> dict[str, float]:
    """Each number's first acceptance by the provider (time.time())."""
    first: dict[str, float] = {}
    for message in list(provider.accepted):
        first.setdefault(message.to, message.at)
    return first


def fan_out_under_way(url, customers: int) -> bool:
    """A quarter or more of the customers saved, and the fan-out still running."""
    with session_scope(url) as session:
        saved = session.execute(select(func.count()).select_from(Notification)).scalar_one()
        running = session.execute(select(func.count()).select_from(FanOutLease)
                                  .where(FanOutLease.finished_at.is_(None))).scalar_one()
    return bool(running) and customers // 4 <= saved < customers


@pytest.fixture
def stack(tmp_path):
    """Thread-pool workers and celery beat as separate processes: stack.worker(env, queues), stack.beat(env).
    Each process's log goes to a file of its own (stack.log(process))."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def spawn(command: list[str], env: dict, name: str) -> subprocess.Popen:
        log_path = tmp_path / f"{name}-{len(started)}.log"
        process = subprocess.Popen(command, env=subprocess_env(**env), cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=log_path.open("w"))
        started.append((process, log_path))
        return process

    def worker(env: dict, queues: str = ",".join(QUEUES), pool: str = "threads") -> subprocess.Popen:
        from workers import app

        app.conf.task_always_eager = False
        return spawn([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues, "-P", pool,
                      "-c", str(THREADS), "-n", f"drill-{uuid.uuid4().hex[:8]}@%h", "--loglevel", "WARNING",
                      "--without-gossip", "--without-mingle", "--without-heartbeat"], env, "worker")

    def beat(env: dict) -> subprocess.Popen:
        return spawn([sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "WARNING",
                      "--schedule", str(tmp_path / f"beat-{uuid.uuid4().hex[:6]}")], env, "beat")

    def log(process: subprocess.Popen) -> str:
        return next(path for p, path in started if p is process).read_text(errors="replace")

    yield type("Stack", (), {"worker": staticmethod(worker), "beat": staticmethod(beat), "log": staticmethod(log)})
    for process, _ in started:
        if process.poll() is None:
            process.terminate()
    for process, _ in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_kill_9_of_the_worker_running_a_fan_out_everyone_warned_within_60_s(
        stack, haven_env, pg_clean_url, twilio_server):
    customers = 12_000
    spatial.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=100_000)
    url = haven_env(pg_clean_url, **environment)
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    twilio_server.faults.latency_s = 0.05
    env = {"HAVEN_DATABASE_URL": url, **environment}
    # The doomed worker is the only one on the match queue, so it is the one that runs the fan-out.
    doomed = stack.worker(env)
    stack.worker(env, queues=",".join(q for q in QUEUES if q != "match"))
    stack.beat(env)
    ping(2)

    ingest(live_demo_cap(ORANGE, tag="KILL"), Origin(source="drill"), url)

    wait_until(lambda: fan_out_under_way(url, customers), timeout=120, interval=0.05,
               message="the fan-out under way")
    kill_9(doomed)
    killed_at = time.time()
    stack.worker(env)  # the supervisor starts a replacement
    provider = twilio_server.provider
    wait_until(lambda: len(first_handover_of_everyone(provider)) == customers, timeout=RECOVERY_GOAL_S + 60,
               interval=0.5, message="every customer handed over after the kill")
    recovered_s = max(first_handover_of_everyone(provider).values()) - killed_at
    wait_until(lambda: notification_states(url) == {"sent": customers}, timeout=60, interval=0.5,
               message="every notification recorded as sent")

    one_row_per_customer(url, customers)
    per_number = provider.per_recipient()
    duplicates = sum(count - 1 for count in per_number.values() if count > 1)
    with session_scope(url) as session:
        alert_id = session.execute(select(Notification.alert_id)).scalars().first()
        reported = reach_report(session, alert_id)["possible_duplicates"]
        runs = session.execute(select(FanOutLease.runs).where(FanOutLease.alert_id == alert_id)).scalar_one()
    in_flight = THREADS * BATCH  # what the killed worker can have had claimed at once
    print(f"\nkill -9 drill: {customers} customers, all handed over {recovered_s:.1f} s after the kill; fan-out "
          f"runs {runs}; {duplicates} duplicate SMS, {reported} reported as possible duplicates")
    assert recovered_s <= RECOVERY_GOAL_S, f"the last customer was handed over {recovered_s:.1f} s after the kill"
    assert runs == 2, f"the fan-out should have been resumed once after its worker died (runs {runs})"
    assert len(per_number) == customers, "somebody was never handed over"
    assert duplicates <= reported <= in_flight, (
        f"duplicates {duplicates} must all be counted ({reported} reported) and stay within the killed "
        f"worker's batches in flight ({in_flight})")
    spatial.forget_indexes()


@pytest.fixture
def private_redis():
    """A redis-server of our own on a free port, without persistence: restarting the shared one would
    disturb other test runs. down() kills it at once; up() starts it again, empty."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (make services installs it)"
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    servers = []
    client = redis.Redis(port=port)

    def up():
        servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: _answers(client), timeout=20, interval=0.02, message="the private redis-server")
        return time.time()

    def down():
        servers[-1].send_signal(signal.SIGKILL)
        servers[-1].wait(10)

    up()
    yield type("PrivateRedis", (), {"url": f"redis://127.0.0.1:{port}/0", "up": staticmethod(up),
                                    "down": staticmethod(down), "client": client})
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


def test_redis_restarted_empty_mid_fan_out_everyone_warned_within_60_s_and_workers_carry_on(
        stack, haven_env, pg_clean_url, twilio_server, private_redis):
    customers = 12_000
    spatial.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=100_000,
                                    HAVEN_REDIS_URL=private_redis.url)
    url = haven_env(pg_clean_url, **{k: v for k, v in environment.items() if k != "HAVEN_REDIS_URL"})
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    twilio_server.faults.latency_s = 0.05
    env = {"HAVEN_DATABASE_URL": url, **environment}
    workers = [stack.worker(env), stack.worker(env)]
    stack.beat(env)
    drill_env = subprocess_env(**env)
    drill("ping", 2, drill_env)
    with session_scope(url) as session:
        [alert_id] = store_payload(session, live_demo_cap(ORANGE, tag="REDIS"), Origin(source="drill")).new_alert_ids
    with session_scope(url) as session:
        spatial.match_alert(session, alert_id)
    drill("notify", alert_id, drill_env)

    provider = twilio_server.provider
    wait_until(lambda: fan_out_under_way(url, customers), timeout=120, interval=0.05,
               message="the fan-out under way")
    private_redis.down()  # queued tasks, unacked tasks and the rate-limit schedule are gone
    time.sleep(3)
    answering_at = private_redis.up()
    wait_until(lambda: len(first_handover_of_everyone(provider)) == customers, timeout=RECOVERY_GOAL_S + 60,
               interval=0.5, message="every customer handed over after the restart")
    recovered_s = max(first_handover_of_everyone(provider).values()) - answering_at
    wait_until(lambda: notification_states(url) == {"sent": customers}, timeout=60, interval=0.5,
               message="every notification recorded as sent")
    with session_scope(url) as session:
        runs = session.execute(select(FanOutLease.runs).where(FanOutLease.alert_id == alert_id)).scalar_one()
    print(f"\nRedis restart drill: {customers} customers, all handed over {recovered_s:.1f} s after Redis answered; "
          f"fan-out runs {runs}")

    assert recovered_s <= RECOVERY_GOAL_S, f"the last customer was handed over {recovered_s:.1f} s after Redis came back"
    one_row_per_customer(url, customers)
    assert sorted(provider.per_recipient().values()) == [1] * customers, "somebody was missed or warned twice"
    assert [w.poll() for w in workers] == [None, None], "a worker exited while Redis was away"
    drill("ping", 2, drill_env, timeout=150)  # both still consume: two worker processes answer
    for worker in workers:
        assert "reconnected to the broker" in stack.log(worker), "a worker did not say it reconnected"
    spatial.forget_indexes()


def test_a_prefork_worker_rides_out_a_long_redis_outage_and_consumes_again_within_seconds(
        stack, sqlite_url, private_redis):
    """The compose file runs prefork workers; kombu's own pause between tries would grow to 30 s."""
    env = {"HAVEN_DATABASE_URL": sqlite_url, "HAVEN_REDIS_URL": private_redis.url}
    worker = stack.worker(env, queues="periodic", pool="prefork")
    drill_env = subprocess_env(**env)
    drill("ping", 1, drill_env)
    private_redis.down()
    time.sleep(25)
    answering_at = private_redis.up()
    drill("ping", 1, drill_env, timeout=60)
    answered_s = time.time() - answering_at
    assert worker.poll() is None, "the worker exited while Redis was away"
    log = stack.log(worker)
    assert "lost the broker connection; reconnecting" in log, "the worker should say it is reconnecting and that it is back"
    assert "reconnected to the broker" in log, "the worker should say it is reconnecting and that it is back"
    assert answered_s <= 10, f"the worker answered {answered_s:.1f} s after Redis was back"


def test_429_for_30_s_then_everything_goes_out_within_the_rate_limit(stack, haven_env, pg_clean_url,
                                                                      twilio_server):
    customers, rate = 300, 40
    spatial.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=rate)
    url = haven_env(pg_clean_url, **environment)
    add_book(url, customers)
    twilio_server.faults.callbacks = False
    env = {"HAVEN_DATABASE_URL": url, **environment}
    stack.worker(env)
    stack.worker(env)
    stack.beat(env)  # at 40/s a claimed batch waits ~20 s for its slots: its lease is renewed meanwhile
    ping(2)

    provider = twilio_server.provider
    provider.faults.status_429_until = time.time() + 30
    ingest(live_demo_cap(ORANGE, tag="429"), Origin(source="drill"), url)

    wait_until(lambda: notification_states(url) == {"sent": customers}, timeout=240, interval=1.0,
               message="everything handed over after the 429s")
    refused = [at for at, status, _ in provider.attempts if status == 429]
    assert max(refused) - min(refused) >= 25, "the provider should have refused for about 30 s"
    assert sorted(provider.per_recipient().values()) == [1] * customers, "somebody was missed or warned twice"
    peak = provider.peak_per_window(1.0)
    print(f"\n429 drill: {len(provider.attempts)} attempts ({len(refused)} refused), peak {peak}/s at a limit of {rate}/s")
    assert peak <= rate, f"peak {peak}/s over the limit of {rate}/s"
    with session_scope(url) as session:
        assert session.execute(select(func.max(Notification.attempts))).scalar_one() > 1, "nothing was retried"
        assert session.execute(select(func.sum(Notification.possible_duplicates))).scalar_one() == 0, (
            "a live worker's slow batch was taken from under it")
    spatial.forget_indexes()
