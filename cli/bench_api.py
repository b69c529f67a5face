"""`haven bench metrics|memory`: the API under scrapes and under hostile clients, on a served process.

Both start `haven serve` on a fresh PostgreSQL database of their own, talk to it over real HTTP, and
drop the database afterwards. `metrics`: 20 alerts with big polygons stored, ten parallel /metrics
scrapers, and a customer reading a claim; its latency with and without the scrapes. `memory`: rounds of
bad requests of many kinds; the server's resident memory after each round.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import click

from cli.bench import bench
from store.db import scratch_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = os.environ.get("HAVEN_TEST_DATABASE_URL",
                                   "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres")
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CLAIM_READ_GOAL_MS = 200.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_api(database_url: str, **variables: str):
    """Yield (base_url, pid) of `haven serve` running on database_url; stopped afterwards."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HAVEN_")}
    env.update({"HAVEN_DATABASE_URL": database_url, "HAVEN_BIND": f"127.0.0.1:{port}", "HAVEN_LOG_LEVEL": "ERROR",
                "PYTHONPATH": str(ROOT), **variables})
    # A file, not a pipe: a pipe nobody reads fills up with logged errors and then blocks the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_for_health(f"http://127.0.0.1:{port}", process, log)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_health(base: str, process: subprocess.Popen, log) -> None:
    import requests

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise click.ClickException(f"haven serve exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException("haven serve did not answer /healthz within 60 s")
        time.sleep(0.2)


def make_key(database_url: str, role: str, customer_id: str | None = None) -> str:
    from store.db import session_scope
    from store.users import create_user

    with session_scope(database_url) as session:
        return create_user(session, role, f"bench {role}", customer_id)[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _figures(samples_s: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples_s)
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)], 1), "max_ms": round(ms[-1], 1)}


# --- metrics -----------------------------------------------------------------------------------

def big_polygon_cap(number: int, points: int, tag: str) -> bytes:
    """A valid CAP 1.2 alert whose one polygon has `points` vertices (a ring around Wenzhou)."""
    ring = []
    for k in range(points - 1):
        angle = 2 * math.pi * k / (points - 1)
        ring.append(f"{28.0 + 0.5 * math.sin(angle):.6f},{120.7 + 0.5 * math.cos(angle):.6f}")
    ring.append(ring[0])
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP12}"><identifier>BENCH-{tag}-{number}'
            f"</identifier><sender>bench@haven.example</sender><sent>2026-07-24T10:{number % 60:02d}:00+08:00</sent>"
            "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info><language>en-US</language>"
            "<category>Met</category><event>Typhoon</event><urgency>Expected</urgency><severity>Severe</severity>"
            "<certainty>Likely</certainty><expires>2099-01-01T00:00:00+08:00</expires>"
            f"<headline>Bench warning {number}</headline><area><areaDesc>Wenzhou coast</areaDesc>"
            f"<polygon>{' '.join(ring)}</polygon></area></info></alert>").encode()


def _seed_book_and_notifications(url: str, alert_ids: list[int], per_alert: int) -> None:
    """One customer with one vehicle, and `per_alert` handed-over notifications for each alert."""
    import random
    from datetime import timedelta

    from sqlalchemy import insert, select

    from book.dao import upsert_assets, upsert_customers
    from store.db import session_scope
    from store.models import Alert, Notification

    with session_scope(url) as session:
        upsert_customers(session, [{"customer_id": "C1", "name": "Bench", "phone": "+8613800000001"}])
        upsert_assets(session, [{"asset_id": "A1", "customer_id": "C1", "kind": "vehicle", "lon": 120.7, "lat": 28.0}])
        received = dict(session.execute(select(Alert.id, Alert.received_at).where(Alert.id.in_(alert_ids))).all())
        rng = random.Random(7)
        rows = [{"idempotency_key": f"bench:{alert_id}:{n}", "customer_id": "C1", "alert_id": alert_id,
                 "channel": "sms", "kind": "warning", "recipient": "+8613800000001", "body": "bench",
                 "state": "sent", "sent_at": received[alert_id] + timedelta(seconds=rng.uniform(0.2, 14))}
                for alert_id in alert_ids for n in range(per_alert)]
        session.execute(insert(Notification), rows)


def _claim(base: str, customer_key: str) -> int:
    import requests

    response = requests.post(f"{base}/v1/claims", headers={"Authorization": f"Bearer {customer_key}"},
                             json={"asset_id": "A1", "loss_at": "2026-07-25T14:10:00+08:00",
                                   "description": "car flooded to the doors"}, timeout=30)
    if response.status_code != 201:
        raise click.ClickException(f"could not file the bench claim: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def _read_claims(base: str, key: str, claim_id: int, seconds: float, pause_s: float = 0.05) -> list[float]:
    import requests

    session, latencies = requests.Session(), []
    session.headers["Authorization"] = f"Bearer {key}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = session.get(f"{base}/v1/claims/{claim_id}", timeout=120)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise click.ClickException(f"claim read answered {response.status_code}: {response.text[:300]}")
        time.sleep(pause_s)
    return latencies


def _scrape(base: str, stop: threading.Event, latencies: list[float], headers: dict) -> None:
    import requests

    session = requests.Session()
    while not stop.is_set():
        started = time.perf_counter()
        response = session.get(f"{base}/metrics", headers=headers, timeout=300)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"/metrics answered {response.status_code}")


def run_metrics_bench(admin_url: str, alerts: int, points: int, scrapers: int, seconds: float,
                      per_alert: int, progress=lambda message: None) -> dict:
    import requests

    tag = uuid.uuid4().hex[:6]
    with scratch_database(admin_url, f"haven_bench_metrics_{tag}") as url, served_api(url) as (base, pid):
        admin_key = make_key(url, "admin")
        progress(f"storing {alerts} alerts of {points:,} polygon points each")
        sizes, alert_ids = [], []
        for number in range(alerts):
            raw = big_polygon_cap(number, points, tag)
            sizes.append(len(raw))
            response = requests.post(f"{base}/v1/alerts?confirm=true", data=raw, timeout=300,
                                     headers={"Authorization": f"Bearer {admin_key}",
                                              "Content-Type": "application/cap+xml"})
            if response.status_code != 201:
                raise click.ClickException(f"alert {number} was refused: {response.status_code} {response.text[:300]}")
            alert_ids.extend(response.json()["stored"])
        _seed_book_and_notifications(url, alert_ids, per_alert)
        customer_key = make_key(url, "customer", "C1")
        claim_id = _claim(base, customer_key)
        auth = {"Authorization": f"Bearer {admin_key}"}
        one = requests.get(f"{base}/metrics", timeout=300)
        started = time.perf_counter()
        page = requests.get(f"{base}/v1/alerts?limit=100", headers=auth, timeout=300)
        list_s = time.perf_counter() - started
        started = time.perf_counter()
        with_geometry = requests.get(f"{base}/v1/alerts?limit=25&include=geometry", headers=auth, timeout=300)
        geometry_s = time.perf_counter() - started

        progress(f"baseline: a customer reads claim {claim_id} for {seconds:g} s, no scrapes")
        baseline = _read_claims(base, customer_key, claim_id, seconds)
        progress(f"{scrapers} parallel /metrics scrapers, the same claim reads for {seconds:g} s")
        stop, scrape_latencies = threading.Event(), []
        threads = [threading.Thread(target=_scrape, args=(base, stop, scrape_latencies, {}), daemon=True)
                   for _ in range(scrapers)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the scrapers are under way before the first read
        loaded = _read_claims(base, customer_key, claim_id, seconds)
        stop.set()
        for thread in threads:
            thread.join(300)
        rss = rss_mb(pid)
    baseline_figures, loaded_figures = _figures(baseline), _figures(loaded)
    return {
        "alerts": alerts, "polygon_points": points, "alert_body_bytes": max(sizes), "notifications": per_alert * alerts,
        "metrics_bytes": len(one.content),
        "alert_list": {"limit": 100, "status": page.status_code, "bytes": len(page.content), "seconds": round(list_s, 3),
                       "alerts": len(page.json().get("alerts", []))},
        "alert_list_with_geometry": {"limit": 25, "status": with_geometry.status_code,
                                     "bytes": len(with_geometry.content), "seconds": round(geometry_s, 3)},
        "claim_read_baseline": baseline_figures,
        "claim_read_during_scrapes": loaded_figures,
        "scrapers": scrapers, "scrapes": _figures(scrape_latencies),
        "goal_ms": CLAIM_READ_GOAL_MS,
        "goal_met": loaded_figures.get("max_ms", math.inf) < CLAIM_READ_GOAL_MS,
        "server_rss_mb": round(rss, 1),
    }


@bench.command("metrics")
@click.option("--alerts", default=20, show_default=True, help="Large alerts stored before the scrapes.")
@click.option("--points", default=20_000, show_default=True, help="Vertices of each alert's polygon.")
@click.option("--scrapers", default=10, show_default=True, help="Parallel /metrics scrapers.")
@click.option("--seconds", default=10.0, show_default=True, help="How long each phase reads the claim.")
@click.option("--notifications", "per_alert", default=1000, show_default=True,
              help="Handed-over notifications stored per alert (the hand-over gauges aggregate them).")
@click.option("--database-url", default=DEFAULT_ADMIN_URL, show_default=True,
              help="A PostgreSQL server URL; the bench creates and drops a database of its own there.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_metrics(alerts, points, scrapers, seconds, per_alert, database_url, as_json):
    """A claim read's latency while parallel /metrics scrapes run, against a baseline without them."""
    result = run_metrics_bench(database_url, alerts, points, scrapers, seconds, per_alert,
                               progress=lambda m: click.echo(f"... {m}", err=True))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    base, loaded, scrapes = result["claim_read_baseline"], result["claim_read_during_scrapes"], result["scrapes"]
    click.echo(f"{result['alerts']} alerts of {result['polygon_points']:,} points ({result['alert_body_bytes']:,} bytes "
               f"each), {result['notifications']:,} notifications; /metrics is {result['metrics_bytes']:,} bytes")
    for label, figures in (("claim read, no scrapes", base), (f"claim read, {result['scrapers']} scrapers", loaded),
                           ("one /metrics scrape", scrapes)):
        click.echo(f"{label:<28} n={figures['n']:<5} p50 {figures.get('p50_ms')} ms  p95 {figures.get('p95_ms')} ms  "
                   f"max {figures.get('max_ms')} ms")
    listing, geometry = result["alert_list"], result["alert_list_with_geometry"]
    click.echo(f"GET /v1/alerts?limit=100: {listing['bytes']:,} bytes in {listing['seconds']} s; "
               f"?include=geometry&limit=25: {geometry['bytes']:,} bytes in {geometry['seconds']} s")
    click.echo(f"goal: every claim read under {CLAIM_READ_GOAL_MS:g} ms during the scrapes: "
               f"{'met' if result['goal_met'] else 'NOT met'}")


# --- memory ------------------------------------------------------------------------------------

def _bad_requests(admin_key: str, round_number: int, count: int):
    """(method, path, headers, body) of `count` hostile or careless requests, of many kinds, each one new."""
    import random

    rng = random.Random(round_number)
    auth = {"Authorization": f"Bearer {admin_key}"}
    junk = "x" * 200_000
    for n in range(count):
        unique = f"{round_number}-{n}-{rng.getrandbits(40):x}"
        kind = n % 12
        if kind == 0:
            yield "GET", f"/no/such/{unique}", {}, None
        elif kind == 1:
            yield f"FOO{unique.replace('-', '')[:12].upper()}", "/v1/alerts", auth, None
        elif kind == 2:
            yield "PATCH", "/v1/rescue/providers/\u00b9", auth, b"{}"
        elif kind == 3:
            yield "GET", f"/v1/claims/{10**12 + n}", auth, None
        elif kind == 4:  # a polygon of 20,000 random points that does not close: refused and quarantined
            points = " ".join(f"{28 + rng.random():.5f},{120 + rng.random():.5f}" for _ in range(20_000))
            yield "POST", "/v1/alerts?confirm=true", {**auth, "Content-Type": "application/cap+xml"}, (
                f'<alert xmlns="{CAP12}"><identifier>FUZZ-{unique}</identifier><sender>f@x</sender>'
                "<sent>2026-07-24T10:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>"
                "<scope>Public</scope><info><category>Met</category><event>x</event><urgency>Expected</urgency>"
                "<severity>Severe</severity><certainty>Likely</certainty><area><areaDesc>x</areaDesc>"
                f"<polygon>{points} 1,2</polygon></area></info></alert>").encode()
        elif kind == 5:
            yield "POST", "/v1/users", {**auth, "Content-Type": "application/json"}, ("{" + junk + unique).encode()
        elif kind == 6:
            yield "POST", "/webhooks/twilio/status", {"Content-Type": "multipart/form-data"}, unique.encode()
        elif kind == 7:
            yield "POST", "/v1/assets/import", {**auth, "Content-Type": "text/csv"}, (
                f"asset_id,customer_id,lon,lat,address\nA-{unique},C1,120.1,28.1,{junk}\n").encode()
        elif kind == 8:
            yield "GET", f"/v1/alerts?limit={unique}&cursor={unique}&include={unique}", auth, None
        elif kind == 9:
            yield "GET", f"/v1/me?{'&'.join(f'p{i}={unique}' for i in range(50))}", {"Authorization": f"Bearer hv_{unique}"}, None
        elif kind == 10:
            yield "POST", "/v1/claims", {**auth, "Content-Type": "application/json", "Idempotency-Key": unique}, (
                json.dumps({"asset_id": unique, "loss_at": "yesterday", "estimate": "1e400"}).encode())
        else:
            yield "POST", "/webhooks/twilio/inbound", {"Content-Type": "application/x-www-form-urlencoded",
                                                       "X-Twilio-Signature": unique}, f"From={unique}&Body=STOP".encode()


def _send_all(base: str, requests_list: list, threads: int) -> dict[int | str, int]:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    statuses: dict[int | str, int] = {}
    local = threading.local()

    def send(item):
        method, path, headers, body = item
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            return session.request(method, base + path, headers=headers, data=body, timeout=60).status_code
        except requests.RequestException as exc:  # counted: a request the server never answered is a finding
            local.session = None
            return f"no answer ({type(exc).__name__}) to {method} {path.split('?')[0][:40]}"

    with ThreadPoolExecutor(threads) as pool:
        for status in pool.map(send, requests_list):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def run_memory_bench(admin_url: str, rounds: int, per_round: int, threads: int, progress=lambda m: None) -> dict:
    tag = uuid.uuid4().hex[:6]
    with scratch_database(admin_url, f"haven_bench_memory_{tag}") as url, served_api(url) as (base, pid):
        admin_key = make_key(url, "admin")
        started_mb = rss_mb(pid)
        samples, statuses = [], {}
        for round_number in range(rounds):
            batch = list(_bad_requests(admin_key, round_number, per_round))
            for status, n in _send_all(base, batch, threads).items():
                statuses[status] = statuses.get(status, 0) + n
            samples.append(round(rss_mb(pid), 1))
            progress(f"round {round_number + 1}/{rounds}: {per_round} bad requests, server RSS {samples[-1]} MB")
    settled = samples[min(1, len(samples) - 1)]  # after the first round: pools, caches and imports are warm
    return {"rounds": rounds, "requests": rounds * per_round, "threads": threads, "rss_start_mb": round(started_mb, 1),
            "rss_after_each_round_mb": samples, "rss_after_warm_up_mb": settled, "rss_max_mb": max(samples),
            "rss_end_mb": samples[-1], "growth_after_warm_up_mb": round(samples[-1] - settled, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)}, "server_errors": sum(
                n for status, n in statuses.items() if not isinstance(status, int) or status >= 500)}


@bench.command("memory")
@click.option("--rounds", default=10, show_default=True)
@click.option("--requests", "per_round", default=600, show_default=True, help="Bad requests per round.")
@click.option("--threads", default=8, show_default=True, help="Clients sending at once.")
@click.option("--database-url", default=DEFAULT_ADMIN_URL, show_default=True,
              help="A PostgreSQL server URL; the bench creates and drops a database of its own there.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_memory(rounds, per_round, threads, database_url, as_json):
    """The served API's resident memory over rounds of bad requests of many kinds (it should stay flat)."""
    result = run_memory_bench(database_url, rounds, per_round, threads,
                              progress=lambda m: click.echo(f"... {m}", err=True))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['requests']:,} bad requests from {threads} clients; statuses {result['statuses']}")
    click.echo(f"RSS: start {result['rss_start_mb']} MB, after the first round {result['rss_after_warm_up_mb']} MB, "
               f"max {result['rss_max_mb']} MB, end {result['rss_end_mb']} MB "
               f"(growth after warm-up {result['growth_after_warm_up_mb']} MB)")
