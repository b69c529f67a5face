"""`haven bench failover`: SMS failover between two providers (issue 16), measured on this machine.

A warning fan-out at 200 SMS/s with two local providers, each its own process as a real provider is: A, the
Twilio-compatible server (preferred, all traffic at rest), and B, the Aliyun-compatible one (standby), both
answering in 100 ms. Ten seconds into the fan-out A starts answering in 5 s ("slow"), or answering half its
requests with 500 ("errors"). Real Celery workers on a scratch PostgreSQL database and Redis, with the
failover settings at their defaults, and the fan-out bench's helpers (cli/notify.py) for the book, the
workers and the warm-up.

The figures come from what the providers saw: each number's first request (to A or B) is the routing of a
new message; `switch_s` is how long after the fault until at least 95% of the new messages of the next
10 s went to B. `missing` counts customers neither provider accepted, `duplicates` the
acceptances beyond one per customer, and `in_flight` the messages being handed to A when the fault began
(claimed, not answered): what a duplicate could at most come from.
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

import click

from cli.bench import bench
from cli.common import progress
from cli.notify import (
    ORANGE_ALERT,
    ROOT,
    Scenario,
    _admin_url,
    _book,
    _Provider,
    _start_workers,
    _stop,
    _wait_for_workers,
    _warm_up,
)
from store.db import scratch_database

FAULTS = {"slow": {"latency_s": 5.0}, "errors": {"status_500_share": 0.5}}
FAULT_WORDS = {"slow": "A answers in 5 s", "errors": "A answers half its requests with 500"}
FAULT_AFTER_S = 10.0
SHARE_GOAL = 0.95
SWITCH_GOAL_S = 60.0
SUSTAINED_S = 10
ALIYUN_KEY_ID, ALIYUN_SECRET, ALIYUN_SIGN = "LTAI5tHavenBenchKey01", uuid.uuid4().hex, "海文保险"
# The Aliyun-compatible server's approved warning templates (devtools/aliyun_compatible.py default_templates).
ALIYUN_TEMPLATES = {"warning": {"zh-CN": {"code": "SMS_900000001", "params": ["hazard", "level", "place", "hotline"]},
                                "en": {"code": "SMS_900000002", "params": ["hazard", "level", "place", "hotline"]}}}


class _AliyunProvider(_Provider):
    """The Aliyun-compatible server as its own process (python -m devtools.aliyun_compatible); the same
    /_stats and stop as the Twilio-compatible one's."""

    def __init__(self, latency_ms: float):  # another server than the parent starts; the same handling
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.aliyun_compatible", "--access-key-id", ALIYUN_KEY_ID,
             "--access-key-secret", ALIYUN_SECRET, "--sign-name", ALIYUN_SIGN, "--latency-ms", str(latency_ms)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.base_url = f"http://127.0.0.1:{json.loads(self.process.stdout.readline())['port']}"


@dataclass(frozen=True)
class FirstRequests:
    """Each number's first request: when (time.time()) and to which provider ("A" or "B")."""

    at: dict[str, float]
    to: dict[str, str]

    @classmethod
    def of(cls, a_stats: dict, b_stats: dict) -> FirstRequests:
        at: dict[str, float] = {}
        to: dict[str, str] = {}
        requests = [(when, _number(number), "A") for (when, _), number in
                    zip(a_stats["attempts"], a_stats["attempt_numbers"], strict=True)]
        requests += [(when, _number(number), "B") for number, when in b_stats["accepted"]]
        for when, number, provider in sorted(requests):
            if number not in at:
                at[number], to[number] = when, provider
        return cls(at, to)

    def switch_s(self, fault_at: float) -> float | None:
        """Seconds after the fault until the new messages of the next SUSTAINED_S went >= 95% to B.

        (Later, A gets a trickle again as it drifts back on probation: that is the recovery being tried,
        not traffic failing to move.)"""
        after = sorted((when - fault_at, self.to[number] == "B") for number, when in self.at.items()
                       if when >= fault_at)
        for second in range(int(after[-1][0]) + 1 if after else 0):
            window = [to_b for at, to_b in after if second <= at < second + SUSTAINED_S]
            if window and sum(window) / len(window) >= SHARE_GOAL:
                return float(second)
        return None


def _number(recipient: str) -> str:
    """One form for both providers' records: Aliyun takes a mainland number without +86."""
    return recipient.removeprefix("+86")


def _set_faults(base_url: str, faults: dict) -> None:
    import requests

    requests.post(base_url + "/_faults", json=faults, timeout=10).raise_for_status()


def _in_flight_on_a(url: str) -> int:
    from sqlalchemy import func, select

    from store.db import session_scope
    from store.models import Notification

    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(Notification).where(
            Notification.state == "sending", Notification.provider == "twilio")).scalar_one()


def _run(mode: str, customers: int, rate: float, admin_url: str, redis_url: str, workers: int, threads: int,
         latency_ms: float) -> dict:
    from shapely.geometry import shape

    from alerts.reading.ingest import Origin
    from alerts.reading.parse import parse_message
    from alerts.reading.replay import replay
    from alerts.service import ingest
    from store.types import utcnow

    raw = replay([ORANGE_ALERT.read_bytes()], utcnow(), tag=f"BENCH-failover-{mode}-{uuid.uuid4().hex[:6]}")[0]
    polygon = parse_message(raw).alerts[0].alert["infos"][0]["areas"][0]["polygons"][0]
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(admin_url, f"haven_bench_failover_{mode}"))
        _book(url, customers, shape({"type": "Polygon", "coordinates": [polygon]}))
        provider_a = _Provider(latency_ms)
        stack.callback(provider_a.stop)
        provider_b = _AliyunProvider(latency_ms)
        stack.callback(provider_b.stop)
        # The workers take these from this process's environment (cli/notify.py _start_workers).
        os.environ.update(HAVEN_SMS_PROVIDERS="twilio,aliyun", HAVEN_ALIYUN_ACCESS_KEY_ID=ALIYUN_KEY_ID,
                          HAVEN_ALIYUN_ACCESS_KEY_SECRET=ALIYUN_SECRET, HAVEN_ALIYUN_SIGN_NAME=ALIYUN_SIGN,
                          HAVEN_ALIYUN_TEMPLATES=json.dumps(ALIYUN_TEMPLATES),
                          HAVEN_ALIYUN_ENDPOINT=provider_b.base_url)
        processes = _start_workers(url, provider_a, Scenario(f"failover-{mode}", customers, rate), workers, threads,
                                   redis_url, os.environ["HAVEN_REDIS_KEY_PREFIX"])
        stack.callback(_stop, processes)
        _wait_for_workers(workers)
        _warm_up(url, raw, workers, threads)

        ingest(raw, Origin(source=f"bench:failover:{mode}"), url)
        started = time.monotonic()
        fault_at = in_flight = None
        bar = progress(customers, f"failover {mode}: handed to A or B", unit="SMS")
        done, deadline = 0, started + FAULT_AFTER_S + customers / rate * 3 + 120
        while done < customers and time.monotonic() < deadline:
            if fault_at is None and time.monotonic() - started >= FAULT_AFTER_S:
                _set_faults(provider_a.base_url, FAULTS[mode])
                fault_at = time.time()
                in_flight = _in_flight_on_a(url)
                bar.set_postfix_str(FAULT_WORDS[mode])
            time.sleep(0.5)
            accepted = len(set(_accepted_numbers(provider_a.stats(), provider_b.stats())))
            bar.update(accepted - done)
            done = accepted
        bar.close()
        a_stats, b_stats = provider_a.stats(), provider_b.stats()
    first = FirstRequests.of(a_stats, b_stats)
    accepted = _accepted_numbers(a_stats, b_stats)
    on_b = {_number(number) for number, _ in b_stats["accepted"]}
    after_fault = [n for n, when in first.at.items() if fault_at is not None and when >= fault_at]
    return {"mode": mode, "fault": FAULT_WORDS[mode], "customers": customers, "rate_per_s": rate,
            "switch_s": first.switch_s(fault_at) if fault_at is not None else None,
            "missing": customers - len(set(accepted)), "duplicates": len(accepted) - len(set(accepted)),
            "in_flight": in_flight, "new_after_fault": len(after_fault),
            "new_after_fault_to_b": sum(first.to[n] == "B" for n in after_fault),
            "retried_on_b": sum(1 for n in on_b if first.to.get(n) == "A")}


def _accepted_numbers(a_stats: dict, b_stats: dict) -> list[str]:
    return [_number(number) for number, _ in a_stats["accepted"]] + [_number(p) for p, _ in b_stats["accepted"]]


@bench.command("failover")
@click.option("--mode", type=click.Choice(sorted(FAULTS)), multiple=True,
              help="The fault on A: slow (answers in 5 s, the default) or errors (50% 500); repeat for both.")
@click.option("--customers", default=6_000, show_default=True, help="Customers warned in each run.")
@click.option("--rate", default=200.0, show_default=True, help="HAVEN_SMS_RATE_PER_S (each provider's limit).")
@click.option("--workers", default=2, show_default=True, help="Celery worker processes.")
@click.option("--threads", default=4, show_default=True, help="Task threads per worker process.")
@click.option("--latency-ms", default=100.0, show_default=True, help="Both providers' answer time before the fault.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def failover(mode, customers, rate, workers, threads, latency_ms, as_json):
    """SMS failover: A slows down or fails 10 s into a fan-out at 200/s; how soon new messages go through B,
    and who was missed or sent twice."""
    from config import reset_settings

    modes = list(dict.fromkeys(mode)) or ["slow"]
    redis_url = os.environ.get("HAVEN_REDIS_URL") or "redis://127.0.0.1:6379/0"
    # Set before the Celery app is first imported: this process queues the ingest on the bench's Redis.
    os.environ.update(HAVEN_REDIS_URL=redis_url, HAVEN_REDIS_KEY_PREFIX=f"haven-bench-failover-{os.getpid()}:")
    reset_settings()
    results = {m: _run(m, customers, rate, _admin_url(), redis_url, workers, threads, latency_ms) for m in modes}
    if as_json:
        first = results[modes[0]]
        click.echo(json.dumps({"switch_s": first["switch_s"], "missing": first["missing"],
                               "duplicates": first["duplicates"], "in_flight": first["in_flight"],
                               "mode": modes[0], "modes": results}, indent=2))
        return
    for r in results.values():
        click.echo(f"{r['mode']}: {r['fault']} {FAULT_AFTER_S:g} s into a fan-out to {r['customers']} customers "
                   f"at {r['rate_per_s']:g}/s")
        switched = f"{r['switch_s']:g} s" if r["switch_s"] is not None else "NOT within the run"
        click.echo(f"  at least {SHARE_GOAL:.0%} of new messages through B after {switched} (goal <= {SWITCH_GOAL_S:g} s); "
                   f"{r['new_after_fault_to_b']} of the {r['new_after_fault']} new after the fault went to B")
        click.echo(f"  missing {r['missing']}, duplicates {r['duplicates']} (in flight on A at the fault: "
                   f"{r['in_flight']}); retried on B after A failed them: {r['retried_on_b']}")
