"""`haven demo`: replay the bundled typhoon scenario end to end and print a summary (DESIGN.md, Interfaces: CLI).

The demo is a flat list of steps; each takes the shared `DemoRun` and prints what it did. Later work
appends its steps (warnings out, green channel) to STEPS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click

from cli.common import ensure_database
from cli.root import cli

DEMO_DIR = Path(__file__).resolve().parent.parent / "config" / "demo"
TYPHOON_CHAIN = ["01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml", "03-typhoon-infa-cancel.xml"]


@dataclass
class DemoRun:
    started_at: datetime
    alert_ids: list[int] = field(default_factory=list)
    chain_id: int | None = None
    facts: dict = field(default_factory=dict)


def load_demo_book(run: DemoRun) -> None:
    """The synthetic insured book (customers and assets along the China coast), unless one is loaded."""
    from config.seed import seed_demo_book

    loaded = seed_demo_book()
    click.echo("book: demo customers and assets loaded: " + (f"{loaded['customers']} customers, "
                                                            f"{loaded['assets']} assets" if loaded else "already there"))


def replay_typhoon_chain(run: DemoRun) -> None:
    """The CMA-style typhoon In-Fa chain: orange Alert, red Update (wider area), Cancel, sent from now on."""
    from alerts.dao.alerts_dao import alert_detail
    from alerts.reading.ingest import Origin
    from alerts.reading.replay import replay
    from alerts.service import ingest
    from store.db import session_scope

    messages = replay([(DEMO_DIR / name).read_bytes() for name in TYPHOON_CHAIN], run.started_at,
                      tag=run.started_at.strftime("%Y%m%dT%H%M%S"))
    for name, raw in zip(TYPHOON_CHAIN, messages, strict=True):
        result = ingest(raw, Origin(source=f"demo:{name}"))
        if result.problems:
            raise click.ClickException(f"{name}: {result.problems[0]}")
        run.alert_ids += result.new_alert_ids
        with session_scope() as session:
            detail = alert_detail(session, result.new_alert_ids[0])
        run.chain_id = detail["chain_id"]
        matched = "not matched yet" if detail["matched_assets"] is None else f"{detail['matched_assets']} assets inside"
        click.echo(f"alert {detail['id']}: {detail['msg_type']:<6} {detail['max_severity']:<8} "
                   f"{detail['infos'][0]['headline']}: {matched}; chain {detail['chain']['id']} is "
                   f"{detail['chain']['state']}")


def warnings_out(run: DemoRun) -> None:
    """Each alert's warnings, one per customer and channel, to the outbox: the reach report (cli/notify.py)."""
    from cli.notify import warnings_out_demo_step

    warnings_out_demo_step(run)


def green_channel(run: DemoRun) -> None:
    """The typhoon lands: CAT event, 300 claims, rescue and advances (greenchannel/demo.py)."""
    from cli.greenchannel import green_channel_demo_step

    green_channel_demo_step(run)


STEPS = [load_demo_book, replay_typhoon_chain, warnings_out, green_channel]


@cli.command()
def demo():
    """Replay the bundled typhoon scenario end to end and print a summary."""
    from store.types import utcnow

    ensure_database()
    run = DemoRun(started_at=utcnow())
    for step in STEPS:
        step(run)
    click.echo(f"demo done: {len(run.alert_ids)} alerts in chain {run.chain_id}")
