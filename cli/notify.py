"""`haven bench fanout`: the warnings-out performance goals of issue 5, measured on this machine.

Each scenario gets its own PostgreSQL database with a synthetic book (one insured vehicle per customer,
scattered inside the demo typhoon's orange warning area), two Celery worker processes on Redis, and
the Twilio-compatible server (devtools/twilio_compatible.py, run as its own process like a real provider,
with 100 ms latency). The orange warning is replayed as published now and ingested; the figures come
from the database (Alert.received_at -> Notification.sent_at, the provider's answer) and from what the
provider saw (arrival times, messages per number). Quiet hours are switched off: they would hold the
messages by design, which is not what is measured. The priority scenario flags every tenth customer
vulnerable and measures whether their SMS reach the provider before anyone else's (issue 16).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click

from cli.bench import bench
from cli.common import progress
from store.db import scratch_database

ROOT = Path(__file__).resolve().parent.parent
ORANGE_ALERT = ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml"
ACCOUNT_SID = "AC" + "be7c4f00" * 4
AUTH_TOKEN = uuid.uuid4().hex
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
QUEUES = "ingest,match,notify-sms,notify-push,receipts,periodic"
_VERBOSE = bool(os.environ.get("HAVEN_BENCH_VERBOSE"))  # the workers' own logs on stderr


@dataclass(frozen=True)
class Scenario:
    name: str
    customers: int
    rate_per_s: float
    vulnerable_every: int = 0  # every n-th customer flagged vulnerable (0: none)


def _admin_url() -> str:
    url = os.environ.get("HAVEN_DATABASE_URL", "")
    return url if url.startswith("postgresql") else os.environ.get("HAVEN_BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)


def _vulnerable(n: int, every: int) -> bool:
    return bool(every) and n % every == 0


def _phone(n: int) -> str:
    return f"+861709{n:07d}"


def _book(url: str, customers: int, area, vulnerable_every: int = 0) -> None:
    """`customers` customers with one vehicle each at random points inside `area` (PostgreSQL COPY),
    every `vulnerable_every`-th flagged vulnerable."""
    import numpy as np
    import shapely

    from store.db import get_engine
    from store.types import utcnow

    rng = np.random.default_rng(20210725)
    minx, miny, maxx, maxy = area.bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < customers:
        x, y = rng.uniform(minx, maxx, customers * 2), rng.uniform(miny, maxy, customers * 2)
        inside = shapely.contains_xy(area, x, y)
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    # A book imported yesterday, as a real one is: the matcher's index re-reads only rows changed recently.
    now = utcnow() - timedelta(days=1)
    connection = get_engine(url).raw_connection()
    try:
        cursor = connection.cursor()
        with cursor.copy("COPY customers (customer_id, phone, locale, time_zone, vulnerable, sms_opt_out, "
                         "push_opt_out, created_at, updated_at) FROM STDIN") as copy:
            for n in range(1, customers + 1):
                copy.write_row((f"B{n:07d}", _phone(n), "zh-CN" if n % 10 else "en", "Asia/Shanghai",
                                _vulnerable(n, vulnerable_every), False, False, now, now))
        with cursor.copy("COPY assets (asset_id, customer_id, kind, lon, lat, address, updated_at) FROM STDIN") as copy:
            for n in range(1, customers + 1):
                copy.write_row((f"BA{n:08d}", f"B{n:07d}", "vehicle", round(float(lon[n - 1]), 6),
                                round(float(lat[n - 1]), 6), "浙江省温州市滨海大道1号", now))
        connection.commit()
    finally:
        connection.close()


class _Provider:
    """The Twilio-compatible server as its own process (python -m devtools.twilio_compatible)."""

    def __init__(self, latency_ms: float):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.twilio_compatible", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
             "--latency-ms", str(latency_ms), "--no-callbacks"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.base_url = f"http://127.0.0.1:{json.loads(self.process.stdout.readline())['port']}"

    def stats(self) -> dict:
        import requests

        return requests.get(self.base_url + "/_stats", timeout=60).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def _start_workers(url: str, provider: _Provider, scenario: Scenario, workers: int, threads: int,
                   redis_url: str, prefix: str) -> list[subprocess.Popen]:
    env = dict(os.environ, HAVEN_DATABASE_URL=url, HAVEN_REDIS_URL=redis_url, HAVEN_REDIS_KEY_PREFIX=prefix,
               HAVEN_SMS_CHANNEL="twilio", TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               TWILIO_FROM="+15005550006", HAVEN_TWILIO_API_BASE_URL=provider.base_url,
               HAVEN_PUBLIC_BASE_URL="http://127.0.0.1:9", HAVEN_SMS_RATE_PER_S=str(scenario.rate_per_s),
               HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_LOG_LEVEL="WARNING")
    pool = ["-P", "threads", "-c", str(threads)] if threads > 1 else ["-c", "1"]
    return [subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", QUEUES, *pool,
                              "-n", f"bench-{n}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "WARNING",
                              "--without-gossip", "--without-mingle", "--without-heartbeat"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr if _VERBOSE else
                             subprocess.DEVNULL)
            for n in range(workers)]


def _wait_for_workers(count: int) -> None:
    from workers.system import ping

    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise click.ClickException(f"only {len(seen)} of {count} workers started")
        seen |= {ping.apply_async(args=("bench",)).get(timeout=120)["worker_pid"] for _ in range(count * 2)}


def _warm_up(url: str, raw: bytes, workers: int, threads: int) -> None:
    """Test messages of the same area, until every worker process has matched one: each builds its book
    index, as a long-running worker has. Nobody is warned (status Test)."""
    from sqlalchemy import func, select

    from alerts.reading.ingest import Origin
    from alerts.service import ingest
    from store.db import session_scope
    from store.models import Alert

    test = raw.replace(b"<status>Actual</status>", b"<status>Test</status>")
    count = 8 * workers * max(threads, 1)  # enough that no process is left out
    for n in range(count):
        ingest(test.replace(b"-BENCH-", f"-WARMUP{n}-".encode()), Origin(source="bench:warm-up"), url)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with session_scope(url) as session:
            if session.execute(select(func.count()).select_from(Alert).where(
                    Alert.status == "Test", Alert.matched_at.is_not(None))).scalar_one() >= count:
                return
        time.sleep(0.5)
    raise click.ClickException("the workers did not finish warming up")


def _handed_over(url: str) -> int:
    from sqlalchemy import func, select

    from store.db import session_scope
    from store.models import Notification

    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(Notification)
                               .where(Notification.sent_at.is_not(None))).scalar_one()


def _run(scenario: Scenario, admin_url: str, redis_url: str, workers: int, threads: int, latency_ms: float) -> dict:
    from shapely.geometry import shape

    from alerts.notifying.ratelimit import peak_in_window
    from alerts.notifying.reach import reach_report
    from alerts.reading.ingest import Origin
    from alerts.reading.parse import parse_message
    from alerts.reading.replay import replay
    from alerts.service import ingest
    from store.db import session_scope
    from store.types import utcnow

    raw = replay([ORANGE_ALERT.read_bytes()], utcnow(), tag=f"BENCH-{scenario.name}-{uuid.uuid4().hex[:6]}")[0]
    polygon = parse_message(raw).alerts[0].alert["infos"][0]["areas"][0]["polygons"][0]
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(admin_url, f"haven_bench_fanout_{scenario.name}"))
        _book(url, scenario.customers, shape({"type": "Polygon", "coordinates": [polygon]}), scenario.vulnerable_every)
        provider = _Provider(latency_ms)
        stack.callback(provider.stop)
        processes = _start_workers(url, provider, scenario, workers, threads, redis_url,
                                   os.environ["HAVEN_REDIS_KEY_PREFIX"])
        stack.callback(_stop, processes)
        _wait_for_workers(workers)
        _warm_up(url, raw, workers, threads)

        cpu_before = {"workers": sum(_cpu_seconds(p.pid) for p in processes),
                      "provider": _cpu_seconds(provider.process.pid)}
        database_before = _database_cpu_seconds(url)
        result = ingest(raw, Origin(source=f"bench:{scenario.name}"), url)
        [alert_id] = result.new_alert_ids
        bar = progress(scenario.customers, f"{scenario.name}: handed to the provider", unit="SMS")
        deadline, done = time.monotonic() + 600, 0
        while done < scenario.customers and time.monotonic() < deadline:
            time.sleep(0.5)
            now_done = _handed_over(url)
            bar.update(now_done - done)
            done = now_done
        bar.close()
        with session_scope(url) as session:
            report = reach_report(session, alert_id)
            timeline = _timeline(session, alert_id)
        stats = provider.stats()
        priority = {}
        if scenario.vulnerable_every:
            with session_scope(url) as session:
                priority = _vulnerable_first(session, alert_id, stats["accepted"], scenario)
        cpu = {"workers": round(sum(_cpu_seconds(p.pid) for p in processes) - cpu_before["workers"], 1),
               "provider": round(_cpu_seconds(provider.process.pid) - cpu_before["provider"], 1),
               "postgresql": round(sum(seconds - database_before.get(pid, 0.0)
                                       for pid, seconds in _database_cpu_seconds(url).items()), 1)}
    per_number: dict[str, int] = {}
    for number, _ in stats["accepted"]:
        per_number[number] = per_number.get(number, 0) + 1
    handover = report["handover"]
    return {
        "scenario": scenario.name, "customers": scenario.customers, "rate_limit_per_s": scenario.rate_per_s,
        "handed_over": handover["handed_over"], "first_s": handover["first_s"], "median_s": handover["median_s"],
        "p99_s": handover["p99_s"], "all_s": handover["last_s"], "share_within_10s": handover["share_within_goal"],
        "throughput_per_s": round(handover["handed_over"] / handover["last_s"], 1) if handover["last_s"] else None,
        "provider_peak_per_1s": peak_in_window([at for at, _ in stats["attempts"]], 1.0),
        "exactly_one_each": len(per_number) == scenario.customers and set(per_number.values()) == {1},
        "duplicates": sum(count - 1 for count in per_number.values()),
        "missing": scenario.customers - len(per_number),
        "timeline_s": timeline,
        "cpu_s": cpu,
    } | priority


def _vulnerable_first(session, alert_id: int, accepted: list, scenario: Scenario) -> dict:
    """Did the vulnerable customers' SMS reach the provider before anyone else's?

    `in_flight_allowance`: the other customers' messages in batches a worker had claimed before the last
    vulnerable message was claimed. Such a batch was already taken up for sending (it holds rate-limit
    slots alongside the vulnerable ones), so its messages may legitimately arrive in between; the fan-out
    queues nobody else until the vulnerable batches are claimed, so on a quiet system it is 0.
    `vulnerable_first_share`: the vulnerable customers whose SMS the provider accepted before the first
    other customer's outside that allowance (the strict share, allowance or not, is given too).
    `last_vulnerable_s`: from the alert's arrival to the provider accepting the last vulnerable SMS.
    """
    from sqlalchemy import func, select

    from store.models import Alert, Customer, Notification

    claimed = Notification.sending_at
    last_vulnerable_claim, last_vulnerable_sent = session.execute(
        select(func.max(claimed), func.max(Notification.sent_at)).join(Customer, Customer.customer_id == Notification.customer_id)
        .where(Notification.alert_id == alert_id, Customer.vulnerable.is_(True))).one()
    ahead = set(session.execute(
        select(Notification.recipient).join(Customer, Customer.customer_id == Notification.customer_id)
        .where(Notification.alert_id == alert_id, Customer.vulnerable.is_(False), claimed < last_vulnerable_claim)
    ).scalars()) if last_vulnerable_claim else set()
    received_at = session.get(Alert, alert_id).received_at
    vulnerable = {_phone(n) for n in range(1, scenario.customers + 1) if _vulnerable(n, scenario.vulnerable_every)}
    arrivals: dict[str, float] = {}
    for number, at in accepted:
        arrivals.setdefault(number, at)
    vulnerable_at = [at for number, at in arrivals.items() if number in vulnerable]
    others_at = [at for number, at in arrivals.items() if number not in vulnerable]
    first_other = min(others_at, default=float("inf"))
    first_other_beyond = min((at for number, at in arrivals.items() if number not in vulnerable and number not in ahead),
                             default=float("inf"))
    count = len(vulnerable) or 1  # one never handed over counts as not first
    return {"vulnerable": len(vulnerable), "in_flight_allowance": len(ahead),
            "vulnerable_first_share": round(sum(at < first_other_beyond for at in vulnerable_at) / count, 4),
            "vulnerable_first_share_strict": round(sum(at < first_other for at in vulnerable_at) / count, 4),
            "last_vulnerable_s": round((last_vulnerable_sent - received_at).total_seconds(), 3)
            if last_vulnerable_sent else None}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            pending += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _database_cpu_seconds(url: str) -> dict[int, float]:
    """CPU so far of each PostgreSQL backend connected to this database (a server on this machine; else none)."""
    from sqlalchemy import text

    from store.db import session_scope

    with session_scope(url) as session:
        pids = session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        return {pid: _cpu_seconds(pid) for pid in pids if Path(f"/proc/{pid}").exists()}


def _timeline(session, alert_id: int) -> dict:
    """When each step of the pipeline began and ended, in seconds after the alert arrived."""
    from sqlalchemy import func, select

    from alerts.notifying.fanout import FAN_OUT_DONE
    from store.models import Alert, AuditEvent, Notification

    alert = session.get(Alert, alert_id)
    fanned_out = session.execute(select(func.max(AuditEvent.at)).where(
        AuditEvent.entity == "alert", AuditEvent.entity_id == str(alert_id), AuditEvent.action == FAN_OUT_DONE)).scalar()
    rows = session.execute(select(func.min(Notification.created_at),
                                  func.min(Notification.sending_at), func.max(Notification.sending_at),
                                  func.min(Notification.sent_at), func.max(Notification.sent_at))
                           .where(Notification.alert_id == alert_id)).one()
    names = ("fan_out_began", "claimed_first", "claimed_last", "handed_first", "handed_last")
    figures = {"matched": alert.matched_at}
    figures.update(zip(names, rows, strict=True))
    figures["all_saved_and_queued"] = fanned_out
    return {name: round((at - alert.received_at).total_seconds(), 3) if at else None for name, at in figures.items()}


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@bench.command("fanout")
@click.option("--customers", default=100_000, show_default=True, help="Customers for the throughput figure.")
@click.option("--share-customers", default=10_000, show_default=True, help="Customers for the 10 s share.")
@click.option("--rate-customers", default=3_000, show_default=True, help="Customers for the rate-limit figure.")
@click.option("--rate", default=200.0, show_default=True,
              help="HAVEN_SMS_RATE_PER_S for the rate-limit and priority figures.")
@click.option("--priority-customers", default=3_000, show_default=True,
              help="Customers for the most-exposed-first figure (every tenth vulnerable).")
@click.option("--workers", default=2, show_default=True, help="Celery worker processes.")
@click.option("--threads", default=4, show_default=True, help="Task threads per worker process (1: prefork).")
@click.option("--latency-ms", default=100.0, show_default=True, help="The provider's answer time.")
@click.option("--only", type=click.Choice(["throughput", "share", "rate", "priority"]), multiple=True,
              help="Run only these scenarios.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def fanout(customers, share_customers, rate_customers, rate, priority_customers, workers, threads, latency_ms, only,
           as_json):
    """Warning fan-out: ingest -> every customer's SMS handed to a Twilio-compatible provider (issue 5 goals)."""
    from config import reset_settings

    redis_url = os.environ.get("HAVEN_REDIS_URL") or "redis://127.0.0.1:6379/0"
    # Set before the Celery app is first imported: this process queues the ingest on the bench's Redis.
    os.environ.update(HAVEN_REDIS_URL=redis_url, HAVEN_REDIS_KEY_PREFIX=f"haven-bench-{os.getpid()}:")
    reset_settings()
    scenarios = [Scenario("throughput", customers, 1_000_000.0), Scenario("share", share_customers, 1_000_000.0),
                 Scenario("rate", rate_customers, rate), Scenario("priority", priority_customers, rate, vulnerable_every=10)]
    results = [_run(s, _admin_url(), redis_url, workers, threads, latency_ms)
               for s in scenarios if not only or s.name in only]
    if as_json:
        click.echo(json.dumps({"workers": workers, "threads": threads, "latency_ms": latency_ms,
                               "results": results}, indent=2))
        return
    for r in results:
        click.echo(f"{r['scenario']}: {r['customers']} customers, rate limit {r['rate_limit_per_s']:g}/s")
        click.echo(f"  ingest -> all handed to the provider: {r['all_s']} s ({r['throughput_per_s']}/s)")
        click.echo(f"  first SMS handed over after ingest: {r['first_s']} s; median {r['median_s']} s; "
                   f"p99 {r['p99_s']} s")
        click.echo(f"  share handed over within 10 s: {r['share_within_10s']:.2%}")
        click.echo(f"  provider's peak over any 1 s window: {r['provider_peak_per_1s']}")
        click.echo(f"  exactly one SMS per customer: {'yes' if r['exactly_one_each'] else 'NO'} "
                   f"(duplicates {r['duplicates']}, missing {r['missing']})")
        click.echo("  timeline (s after ingest): " + ", ".join(f"{k} {v}" for k, v in r["timeline_s"].items()))
        if "vulnerable_first_share" in r:
            click.echo(f"  vulnerable customers handed over before the first other customer: "
                       f"{r['vulnerable_first_share']:.2%} of {r['vulnerable']} (goal 100%; apart from "
                       f"{r['in_flight_allowance']} others' messages in batches already in flight; strictly "
                       f"{r['vulnerable_first_share_strict']:.2%})")
            click.echo(f"  last vulnerable customer handed over {r['last_vulnerable_s']} s after ingest (goal <= 2 s)")
        click.echo(f"  CPU used: workers {r['cpu_s']['workers']} s, provider {r['cpu_s']['provider']} s, "
                   f"PostgreSQL {r['cpu_s']['postgresql']} s (its backends for this database)")


class _PrivateRedis:
    """A redis-server of the drill's own on a free port, without persistence, that it may kill and restart
    (never the shared one)."""

    def __init__(self):
        import shutil
        import socket

        binary = shutil.which("redis-server")
        if not binary:
            raise click.ClickException("haven bench drill needs redis-server (apt-get install redis-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.up()

    def up(self) -> float:
        """Start it (empty); returns the time.time() at which it answers."""
        import redis

        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return time.time()
            except redis.RedisError:
                time.sleep(0.02)
        raise click.ClickException("the drill's redis-server did not start")

    def down(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _drill_env(url: str, provider: _Provider, redis_url: str, prefix: str, lease_s: float | None) -> dict:
    env = dict(os.environ, HAVEN_DATABASE_URL=url, HAVEN_REDIS_URL=redis_url, HAVEN_REDIS_KEY_PREFIX=prefix,
               HAVEN_SMS_CHANNEL="twilio", TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               TWILIO_FROM="+15005550006", HAVEN_TWILIO_API_BASE_URL=provider.base_url,
               HAVEN_PUBLIC_BASE_URL="http://127.0.0.1:9", HAVEN_SMS_RATE_PER_S="1000000",
               HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_LOG_LEVEL="WARNING")
    if lease_s:
        env["HAVEN_DELIVERY_LEASE_S"] = str(lease_s)
    return env


def _spawn(command: list[str], env: dict, log_dir: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log_path = log_dir / f"{name}.log"
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=log_path.open("w")), log_path


def _drill_worker(env: dict, threads: int, queues: str, log_dir: Path, name: str):
    return _spawn([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues, "-P", "threads",
                   "-c", str(threads), "-n", f"drill-{name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "WARNING",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"], env, log_dir, name)


def _kill_9(process: subprocess.Popen) -> None:
    import signal

    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        os.kill(int(child), signal.SIGKILL)
    process.kill()
    process.wait(10)


def _first_handovers(provider: _Provider) -> tuple[dict[str, float], int]:
    """Each number's first acceptance (time.time()), and how many acceptances came on top."""
    first: dict[str, float] = {}
    accepted = provider.stats()["accepted"]
    for number, at in accepted:
        first.setdefault(number, at)
    return first, len(accepted) - len(first)


def _run_drill(kind: str, customers: int, admin_url: str, redis: _PrivateRedis, workers: int, threads: int,
               latency_ms: float, lease_s: float | None, goal_s: float) -> dict:
    import tempfile

    from shapely.geometry import shape
    from sqlalchemy import func, select

    from alerts.notifying.reach import reach_report
    from alerts.reading.ingest import Origin
    from alerts.reading.parse import parse_message
    from alerts.reading.replay import replay
    from alerts.service import ingest
    from store.db import session_scope
    from store.models import FanOutLease, Notification
    from store.types import utcnow

    raw = replay([ORANGE_ALERT.read_bytes()], utcnow(), tag=f"DRILL-{kind}-{uuid.uuid4().hex[:6]}")[0]
    polygon = parse_message(raw).alerts[0].alert["infos"][0]["areas"][0]["polygons"][0]
    all_queues = QUEUES + ",greenchannel"
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="haven-drill-")))
        url = stack.enter_context(scratch_database(admin_url, f"haven_bench_drill_{kind}"))
        _book(url, customers, shape({"type": "Polygon", "coordinates": [polygon]}))
        provider = _Provider(latency_ms)
        stack.callback(provider.stop)
        env = _drill_env(url, provider, redis.url, os.environ["HAVEN_REDIS_KEY_PREFIX"], lease_s)
        # In the kill drill the doomed worker is the only one on the match queue: it runs the fan-out.
        spawned = [_drill_worker(env, threads, all_queues if n == 0 or kind == "redis" else
                                 all_queues.replace("match,", ""), log_dir, f"worker-{n}") for n in range(workers)]
        spawned.append(_spawn([sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "WARNING",
                               "--schedule", str(log_dir / "beat-schedule")], env, log_dir, "beat"))
        stack.callback(_stop, [process for process, _ in spawned])
        _wait_for_workers(workers)

        def saved_and_running() -> tuple[int, bool]:
            with session_scope(url) as session:
                return (session.execute(select(func.count()).select_from(Notification)).scalar_one(),
                        bool(session.execute(select(func.count()).select_from(FanOutLease)
                                             .where(FanOutLease.finished_at.is_(None))).scalar_one()))

        [alert_id] = ingest(raw, Origin(source=f"bench:drill:{kind}"), url).new_alert_ids
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the fault strikes a quarter of the way through the fan-out
            saved, running = saved_and_running()
            if saved >= customers // 4 and running or saved >= customers:
                break
            time.sleep(0.02)
        fan_out_running = saved_and_running()[1]
        if kind == "kill":
            _kill_9(spawned[0][0])
            fault_over_at = time.time()
            spawned.append(_drill_worker(env, threads, all_queues, log_dir, "replacement"))
            stack.callback(_stop, [spawned[-1][0]])
        else:
            redis.down()
            time.sleep(3.0)
            fault_over_at = redis.up()
        bar = progress(customers, f"drill {kind}: handed to the provider", unit="SMS")
        done, deadline = 0, time.monotonic() + goal_s + 120
        while time.monotonic() < deadline:
            first, _ = _first_handovers(provider)
            bar.update(len(first) - done)
            done = len(first)
            if done >= customers:
                break
            time.sleep(0.5)
        bar.close()
        first, duplicates = _first_handovers(provider)
        with session_scope(url) as session:
            report = reach_report(session, alert_id)
            runs = session.execute(select(FanOutLease.runs).where(FanOutLease.alert_id == alert_id)).scalar()
        # After the fault: the survivors (and the replacement) still take tasks, shown by a ping round trip.
        try:
            _wait_for_workers(workers)
            consuming = workers
        except click.ClickException:
            consuming = None
        reconnected = sum("reconnected to the broker" in path.read_text(errors="replace")
                          for _, path in spawned[:workers])
    last = max(first.values()) if first else None
    return {"drill": kind, "customers": customers, "fan_out_running_at_fault": fan_out_running,
            "recovered_s": round(last - fault_over_at, 1) if last and len(first) == customers else None,
            "goal_s": goal_s, "missing": customers - len(first), "duplicates": duplicates,
            "reported_possible_duplicates": report["possible_duplicates"], "fan_out_runs": runs,
            "workers_consuming": consuming,
            "workers_reconnected": reconnected if kind == "redis" else None}


@bench.command("drill")
@click.option("--customers", default=6_000, show_default=True, help="Customers warned in each drill.")
@click.option("--workers", default=2, show_default=True, help="Celery worker processes (thread pools).")
@click.option("--threads", default=4, show_default=True, help="Task threads per worker process.")
@click.option("--latency-ms", default=100.0, show_default=True, help="The provider's answer time.")
@click.option("--lease-s", type=float, default=None, help="HAVEN_DELIVERY_LEASE_S for the workers (default: its own).")
@click.option("--only", type=click.Choice(["kill", "redis"]), multiple=True, help="Run only these drills.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def drill(customers, workers, threads, latency_ms, lease_s, only, as_json):
    """Fault drills: kill -9 of the worker running a fan-out, and Redis restarted empty mid fan-out.
    Prints how long after the fault every customer had been handed over, and who was missed or sent twice."""
    from config import reset_settings

    redis = _PrivateRedis()
    try:
        # Set before the Celery app is first imported: this process queues the ingest on the drill's Redis.
        os.environ.update(HAVEN_REDIS_URL=redis.url, HAVEN_REDIS_KEY_PREFIX=f"haven-drill-{os.getpid()}:")
        reset_settings()
        results = [_run_drill(kind, customers, _admin_url(), redis, workers, threads, latency_ms, lease_s, 60.0)
                   for kind in ("kill", "redis") if not only or kind in only]
    finally:
        redis.stop()
    if as_json:
        click.echo(json.dumps({"workers": workers, "threads": threads, "latency_ms": latency_ms,
                               "results": results}, indent=2))
        return
    for r in results:
        fault = "kill -9 of the fan-out's worker" if r["drill"] == "kill" else "Redis restarted without persistence"
        after = "the kill" if r["drill"] == "kill" else "Redis answered again"
        click.echo(f"{r['drill']}: {fault}, {r['customers']} customers "
                   f"(fan-out {'still running' if r['fan_out_running_at_fault'] else 'finished'} at the fault)")
        recovered = f"{r['recovered_s']} s" if r["recovered_s"] is not None else "NOT within the drill"
        click.echo(f"  everyone handed over {recovered} after {after} (goal {r['goal_s']:g} s)")
        click.echo(f"  missing {r['missing']}, duplicate SMS {r['duplicates']} "
                   f"({r['reported_possible_duplicates']} counted as possible duplicates); fan-out runs {r['fan_out_runs']}")
        click.echo(f"  worker processes answering a ping afterwards: {r['workers_consuming'] or 'FEWER THAN ' + str(workers)}"
                   + (f", {r['workers_reconnected']} said they reconnected" if r["workers_reconnected"] is not None
                      else ""))


STATE_WORDS = {"created": "held for quiet hours"}  # a saved row not queued yet is one waiting for morning


def _first_release(session, alert_id: int) -> str:
    """When the first held message of an alert goes out, in its customer's time zone."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from store.models import Customer, Notification

    row = session.execute(
        select(Notification.not_before, Customer.time_zone).join(Customer, Customer.customer_id == Notification.customer_id)
        .where(Notification.alert_id == alert_id, Notification.state == "created", Notification.not_before.is_not(None))
        .order_by(Notification.not_before).limit(1)).first()
    if row is None:
        return "the next sweep"
    try:
        zone = ZoneInfo(row.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{row.not_before.astimezone(zone):%Y-%m-%d %H:%M} ({row.time_zone or 'UTC'})"


def _why_cancelled(session, alert_id: int) -> list[tuple[str, int]]:
    from sqlalchemy import func, select

    from store.models import Notification

    return [(why or "no reason recorded", count) for why, count in session.execute(
        select(Notification.last_error, func.count()).where(Notification.alert_id == alert_id,
                                                            Notification.state == "cancelled")
        .group_by(Notification.last_error).order_by(func.count().desc()))]


def warnings_out_demo_step(run) -> None:
    """`haven demo`: what each alert of the chain sent (to the outbox by default) and how fast."""
    from sqlalchemy import select

    from alerts.notifying.reach import reach_report
    from store.db import session_scope
    from store.models import Notification

    with session_scope() as session:
        for alert_id in run.alert_ids:
            report = reach_report(session, alert_id)
            handover = report["handover"]
            states = {}
            for by_state in report["by_channel"].values():
                for state, count in by_state.items():
                    states[state] = states.get(state, 0) + count
            channels = ", ".join(f"{sum(s.values())} {channel}" for channel, s in sorted(report["by_channel"].items()))
            click.echo(f"warnings for alert {alert_id} ({report['msg_type']}): {channels or 'none'} to "
                       f"{report['customers']} customers; " + ", ".join(f"{n} {STATE_WORDS.get(s, s)}"
                                                                        for s, n in sorted(states.items())))
            if states.get("created"):
                click.echo(f"  held for quiet hours, to go out from {_first_release(session, alert_id)}")
            if states.get("cancelled"):
                click.echo("  cancelled: " + "; ".join(f"{count} {why}" for why, count in _why_cancelled(session, alert_id)))
            if handover["immediate"]:
                click.echo(f"  handed over within 10 s: {handover['share_within_goal']:.1%} (first {handover['first_s']} s, "
                           f"median {handover['median_s']} s, p99 {handover['p99_s']} s); held for quiet hours: "
                           f"{report['held_for_quiet_hours']}")
            sample = session.execute(select(Notification.body).where(Notification.alert_id == alert_id)
                                     .order_by(Notification.id).limit(1)).scalar_one_or_none()
            if sample:
                click.echo(f"  e.g. {sample}")
