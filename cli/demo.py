"""`haven demo`: replay the bundled typhoon scenario end to end and print a summary.

The demo is a flat list of steps; each takes the shared `DemoRun` and prints what it did. The story
happens in the past: the red warning (landfall) was sent STORY_SPAN ago, the green channel's clock runs
from there up to now, and the all-clear is sent now, so nothing is dated ahead of the clock. It runs once a day (Beijing date):
a second run that day says so and changes nothing, so no customer is warned twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from cli.common import ensure_database
from cli.root import cli

DEMO_DIR = Path(__file__).resolve().parent.parent / "config" / "demo"
TYPHOON_CHAIN = ["01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml", "03-typhoon-infa-cancel.xml"]
BEIJING = timezone(timedelta(hours=8))


@dataclass
class DemoRun:
    started_at: datetime
    alert_ids: list[int] = field(default_factory=list)
    chain_id: int | None = None
    facts: dict = field(default_factory=dict)
    tag: str = ""


def replay_tag(now: datetime) -> str:
    """One demo storm per Beijing day: its messages' identifiers carry the date."""
    return now.astimezone(BEIJING).strftime("%Y%m%d")


def _identifier(raw: bytes) -> str:
    return re.search(rb"<identifier>([^<]+)</identifier>", raw).group(1).decode()


def already_ran(tag: str) -> str | None:
    """What today's demo left, when it already ran today; None otherwise."""
    from sqlalchemy import func, select

    from store.db import session_scope
    from store.models import Alert, CatEvent, CatEventChain, Claim

    first = _identifier((DEMO_DIR / TYPHOON_CHAIN[0]).read_bytes())
    with session_scope() as session:
        alert = session.scalar(select(Alert).where(Alert.identifier == f"{first}-{tag}").order_by(Alert.id).limit(1))
        if alert is None:
            return None
        event = session.scalar(select(CatEvent).join(CatEventChain, CatEventChain.cat_event_id == CatEvent.id)
                               .where(CatEventChain.chain_id == alert.chain_id)) if alert.chain_id else None
        if event is None:
            return f"its warnings (chain {alert.chain_id}) are stored"
        claims = session.scalar(select(func.count()).select_from(Claim).where(Claim.cat_event_id == event.id))
        return f"{event.code} is {event.status} with {claims:,} claims"


def load_demo_book(run: DemoRun) -> None:
    """The synthetic insured book (customers and assets along the China coast), unless one is loaded."""
    from config.seed import seed_demo_book

    loaded = seed_demo_book()
    click.echo("book: demo customers and assets loaded: " + (f"{loaded['customers']:,} customers, "
                                                            f"{loaded['assets']:,} assets" if loaded else "already there"))


def demo_users(run: DemoRun) -> None:
    """The users `haven run` signs in (created here when the demo runs first), so the story is theirs."""
    from config import get_settings
    from config.seed import create_demo_users, demo_keys_path

    keys_path = demo_keys_path(get_settings())
    sign_ins = keys_path.with_name("demo-users.txt")
    if create_demo_users(keys_path):
        from identity.service import give_demo_users_passwords

        give_demo_users_passwords(sign_ins)
        click.echo(f"people: the demo users were created; their sign-ins are in {sign_ins}")
    run.facts["sign_ins"] = sign_ins


def replay_typhoon_chain(run: DemoRun) -> None:
    """The CMA-style typhoon In-Fa chain: the orange Alert 8 hours before landfall, the red Update at landfall
    (STORY_SPAN ago), and the all-clear now. The CAT event stays open: losses keep being reported."""
    from alerts.dao.alerts_dao import alert_detail
    from alerts.reading.ingest import Origin
    from alerts.reading.replay import replay
    from alerts.reading.times import parse_time
    from alerts.service import ingest
    from greenchannel.demo import STORY_SPAN
    from store.db import session_scope

    raws = [(DEMO_DIR / name).read_bytes() for name in TYPHOON_CHAIN]
    sent = [parse_time(re.search(rb"<sent>([^<]+)</sent>", raw).group(1).decode()) for raw in raws]
    landfall = run.started_at - STORY_SPAN
    messages = replay(raws, landfall, tag=run.tag,
                      sent_at=[landfall - (sent[1] - sent[0]), landfall, run.started_at])
    for name, raw in zip(TYPHOON_CHAIN, messages, strict=True):
        result = ingest(raw, Origin(source=f"demo:{name}"))
        if result.problems:
            raise click.ClickException(f"{name}: {result.problems[0]}")
        if not result.new_alert_ids:
            continue
        run.alert_ids += result.new_alert_ids
        with session_scope() as session:
            detail = alert_detail(session, result.new_alert_ids[0])
        run.chain_id = detail["chain_id"]
        matched = "not matched yet" if detail["matched_assets"] is None \
            else f"{detail['matched_assets']:,} insured assets inside its area"
        sent_at = datetime.fromisoformat(str(detail["sent"])).astimezone(BEIJING)
        click.echo(f"alert {detail['id']}: {detail['msg_type']} ({detail['max_severity']}) sent "
                   f"{sent_at:%Y-%m-%d %H:%M} Beijing time (UTC+8): {detail['infos'][0]['headline']}; {matched}; "
                   f"chain {detail['chain']['id']} is {detail['chain']['state']}")
    run.started_at = landfall


def warnings_out(run: DemoRun) -> None:
    """Each alert's warnings, one per customer and channel, to the outbox: the reach report (cli/notify.py)."""
    from cli.notify import warnings_out_demo_step

    warnings_out_demo_step(run)


def green_channel(run: DemoRun) -> None:
    """The typhoon lands: CAT event, 300 claims, rescue and advances (greenchannel/demo.py)."""
    from cli.greenchannel import green_channel_demo_step

    green_channel_demo_step(run)


STEPS = [load_demo_book, demo_users, replay_typhoon_chain, warnings_out, green_channel]


@cli.command()
def demo():
    """Replay the bundled typhoon scenario end to end and print a summary (once a day)."""
    from store.types import utcnow

    ensure_database()
    now = utcnow()
    run = DemoRun(started_at=now, tag=replay_tag(now))
    left = already_ran(run.tag)
    if left is not None:
        click.echo(f"The demo already ran today ({now.astimezone(BEIJING):%Y-%m-%d}, Beijing time): {left}. "
                   "Nothing was sent again. Sign in to the console to work the storm, or run `haven demo` "
                   "tomorrow for a new one.")
        return
    for step in STEPS:
        step(run)
    click.echo(f"demo done: {len(run.alert_ids)} alerts in chain {run.chain_id}")
    sign_ins = run.facts.get("sign_ins")
    if sign_ins is not None and Path(sign_ins).exists():
        click.echo(f"Sign in at the console with a line of {sign_ins} (username password role); the customer "
                   "signs in with the phone number on its line and the code from the outbox.")
