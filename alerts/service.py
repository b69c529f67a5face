"""The warnings' operations for the adapters (web routes, tasks, the CLI): each opens its transaction, and
after the commit hands what must follow (matching new alerts, applying stored receipts) to the effects
the composition root wired with `configure` (docs/architecture.md, "The layers").

Without wired effects nothing is queued: the rows are committed, and the sweeps pick them up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from alerts.dao import alerts_dao
from alerts.reading.ingest import IngestResult, Origin
from alerts.reading.ingest import ingest_payload as store_payload
from store.db import session_scope
from store.models.alerts import Alert

log = logging.getLogger(__name__)

AlertIds = Callable[[list[int]], None]


@dataclass
class Effects:
    match_alerts: AlertIds | None = None  # queue matching for committed alerts
    drain_receipts: Callable[[], None] | None = None  # apply stored provider receipts soon


_EFFECTS = Effects()


def configure(effects: Effects) -> None:
    """Called by each composition root: what follows a commit."""
    _EFFECTS.match_alerts = effects.match_alerts
    _EFFECTS.drain_receipts = effects.drain_receipts


def match_alerts(alert_ids: list[int]) -> None:
    """After the commit of new (or grown) alerts: queue their matching; a failure never undoes the ingest."""
    if not alert_ids:
        return
    if _EFFECTS.match_alerts is None:
        log.warning("no matching wired; alerts %s wait for the sweep", alert_ids)
        return
    _EFFECTS.match_alerts(alert_ids)


def drain_receipts() -> None:
    if _EFFECTS.drain_receipts is not None:
        _EFFECTS.drain_receipts()


def ingest(raw: bytes, origin: Origin, database_url: str | None = None) -> IngestResult:
    """Store one received document (commit), then queue matching for each new alert."""
    with session_scope(database_url) as session:
        result = store_payload(session, raw, origin)
    match_alerts(result.new_alert_ids)
    return result


def ingest_and_show(raw: bytes, origin: Origin) -> dict:
    """ingest, answered as the API shows it: the outcome and each stored (or already known) alert."""
    result = ingest(raw, origin)
    with session_scope() as session:
        alerts = [alerts_dao.alert_json(session.get(Alert, i))
                  for i in result.new_alert_ids + result.duplicate_alert_ids]
    return {**result.as_dict(), "alerts": alerts}


def poll_feeds(database_url: str | None = None, feed_ids: list[int] | None = None, force: bool = False) -> list[dict]:
    """Poll the due feeds (or these, at once with force) and queue matching for what they brought."""
    from alerts.reading.feeds import poll_due

    return asyncio.run(poll_due(database_url, feed_ids=feed_ids, force=force, on_new_alerts=match_alerts))
