"""`haven` commands for the green channel: `haven bench dispatch`, and the demo's green-channel step."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import click
import numpy as np

from cli.bench import bench
from cli.common import progress

# Bases spread like the demo book's Zhejiang and northern Fujian cities (WGS-84 [lon, lat]).
BENCH_CITIES = [(120.155, 30.274), (121.550, 29.874), (120.699, 27.994), (119.647, 29.079), (121.420, 28.656),
                (120.755, 30.746), (120.580, 30.030), (120.088, 30.894), (122.207, 29.985), (119.296, 26.074),
                (119.548, 26.666), (119.007, 25.454)]
PROVIDER_KINDS = (("flatbed", 0.65), ("tow", 0.25), ("boat", 0.1))
JOB_NEEDS = (("flatbed", 0.55), ("tow", 0.4), ("boat", 0.05))


def _scatter(rng: np.random.Generator, count: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    city = rng.integers(len(BENCH_CITIES), size=count)
    centres = np.array(BENCH_CITIES)[city]
    return (centres[:, 0] + rng.normal(0, spread, count)).round(5), (centres[:, 1] + rng.normal(0, spread, count)).round(5)


def _pick(rng: np.random.Generator, table, count: int) -> list[str]:
    names, shares = zip(*table, strict=True)
    return list(rng.choice(names, size=count, p=shares))


def _seed_surge(url: str, n_jobs: int, n_providers: int, seed: int, now) -> None:
    from greenchannel.rescue import DEFAULT_CAPABILITIES
    from store.db import session_scope
    from store.models import RescueJob, RescueProvider

    rng = np.random.default_rng(seed)
    p_lon, p_lat = _scatter(rng, n_providers, 0.12)
    kinds = _pick(rng, PROVIDER_KINDS, n_providers)
    # Fleets of 3 to 5 trucks: enough slots between them for every job of the surge.
    capacity = rng.integers(3, 6, size=n_providers)
    j_lon, j_lat = _scatter(rng, n_jobs, 0.15)
    needs = _pick(rng, JOB_NEEDS, n_jobs)
    urgency = rng.choice([0, 1, 2], size=n_jobs, p=[0.5, 0.4, 0.1])
    with session_scope(url) as session, progress(n_providers + n_jobs, "seeding the surge", "rows") as bar:
        session.add_all(RescueProvider(name=f"Bench fleet {i + 1}", kind=kinds[i],
                                       capabilities=DEFAULT_CAPABILITIES[kinds[i]], capacity=int(capacity[i]),
                                       active_jobs=0, available=True, lon=float(p_lon[i]), lat=float(p_lat[i]),
                                       location_at=now - timedelta(minutes=2), created_at=now, updated_at=now)
                        for i in range(n_providers))
        bar.update(n_providers)
        session.add_all(RescueJob(lon=float(j_lon[i]), lat=float(j_lat[i]), needs=needs[i], urgency=int(urgency[i]),
                                  state="created", created_at=now + timedelta(milliseconds=i), updated_at=now)
                        for i in range(n_jobs))
        bar.update(n_jobs)


def _greedy_baseline(url: str, now):
    """The same pending jobs and free providers, assigned nearest-first in urgency order."""
    from sqlalchemy import select

    from greenchannel import rescue
    from store.db import session_scope
    from store.models import RescueJob, RescueProvider

    with session_scope(url) as session:
        jobs = list(session.scalars(select(RescueJob).where(RescueJob.state == "created")
                                    .order_by(RescueJob.urgency.desc(), RescueJob.created_at, RescueJob.id)))
        providers = list(session.scalars(select(RescueProvider).order_by(RescueProvider.id)))
    started = time.perf_counter()
    plan = rescue.plan_greedy([j.lon for j in jobs], [j.lat for j in jobs], [j.needs for j in jobs],
                              [j.urgency for j in jobs], [p.lon for p in providers], [p.lat for p in providers],
                              [p.capabilities for p in providers], [p.capacity - p.active_jobs for p in providers])
    return plan, time.perf_counter() - started


@bench.command("dispatch")
@click.option("--jobs", "n_jobs", default=1000, show_default=True, help="Pending rescue jobs in the surge.")
@click.option("--providers", "n_providers", default=300, show_default=True, help="Tow, flatbed and boat fleets.")
@click.option("--seed", default=20210725, show_default=True)
@click.option("--database-url", default=None,
              help="A scratch database to run on (default: a new SQLite file in a temporary folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_dispatch(n_jobs, n_providers, seed, database_url, as_json):
    """Assign a surge of pending rescue jobs in one batch (linear_sum_assignment) against greedy nearest-first."""
    from config import get_settings
    from greenchannel import rescue
    from greenchannel.rules import GreenChannelRules
    from store.db import session_scope, upgrade
    from store.types import utcnow

    scratch = None
    if database_url is None:
        scratch = tempfile.TemporaryDirectory(prefix="haven-bench-dispatch-")
        database_url = f"sqlite:///{Path(scratch.name) / 'bench.sqlite3'}"
    upgrade(database_url)
    now = utcnow()
    _seed_surge(database_url, n_jobs, n_providers, seed, now)
    greedy, greedy_seconds = _greedy_baseline(database_url, now)
    started = time.perf_counter()
    with session_scope(database_url) as session:
        result = rescue.dispatch_pending(session, GreenChannelRules.from_settings(get_settings()).rescue, now)
    batch_seconds = time.perf_counter() - started
    figures = {
        "database": database_url.split(":", 1)[0], "pending_jobs": result.pending,
        "free_providers": result.free_providers, "free_slots": result.free_slots, "surge": result.surge,
        "offered": result.offered, "batch_seconds": round(batch_seconds, 3),
        "assignment_seconds": round(result.plan_seconds, 3), "total_km": round(result.total_km, 1),
        "greedy_offered": len(greedy.pairs), "greedy_total_km": round(greedy.total_km, 1),
        "greedy_seconds": round(greedy_seconds, 3),
        "saving_pct": round(100 * (1 - result.total_km / greedy.total_km), 1) if greedy.total_km else None,
        "goal_met": batch_seconds <= 1.0,
    }
    if scratch is not None:
        scratch.cleanup()
    if as_json:
        click.echo(json.dumps(figures))
        return
    f = figures
    click.echo(f"dispatch surge: {f['pending_jobs']:,} pending jobs, {f['free_providers']} free providers "
               f"({f['free_slots']:,} truck slots), database {f['database']}")
    click.echo(f"  one batch (linear_sum_assignment): {f['offered']:,} offers in {f['batch_seconds']:.3f} s "
               f"(assignment {f['assignment_seconds']:.3f} s; the rest is reading, locking and writing the offers)")
    click.echo(f"  total distance: batch {f['total_km']:,.1f} km; greedy nearest-first {f['greedy_total_km']:,.1f} km "
               f"for {f['greedy_offered']:,} offers; the batch saves {f['saving_pct']}%")
    click.echo(f"  goal <= 1 s for the batch: {'met' if f['goal_met'] else 'NOT met'}")


def green_channel_demo_step(run) -> None:
    """`haven demo`, after the warnings: the CAT event, 300 claims, rescues and advances (greenchannel/demo.py)."""
    from greenchannel import service
    from greenchannel.demo import run_story
    from workers.greenchannel import wire_green_channel

    wire_green_channel()
    run.facts["green_channel"] = run_story(service.run_unit, run.chain_id, run.started_at, say=click.echo,
                                           rules=service.rules())
