"""Tasks for the ingest queue: feed polling, chain expiry, and the ingest-then-match adapter.

Thin wrappers: the rules live in alerts.ingest, alerts.feedstate, alerts.feeds and alerts.chains.
A new alert is committed first, then `workers.match.match_alert` is queued with its id.
"""

from __future__ import annotations

import asyncio
import logging

from alerts import chains
from alerts.ingest import IngestResult, Origin
from alerts.ingest import ingest_payload as store_payload
from store.db import session_scope
from store.types import utcnow
from workers.app import app, enqueue

log = logging.getLogger(__name__)

POLL_EVERY_S = 5.0
EXPIRE_EVERY_S = 60.0


def queue_matching(alert_ids: list[int]) -> None:
    """Queue matching for committed alerts; a failing match never undoes or blocks the ingest."""
    from workers.match import match_alert

    for alert_id in alert_ids:
        try:
            enqueue(match_alert, alert_id)
        except Exception:
            log.exception("matching alert %s could not be queued or failed", alert_id)


def ingest_payload(raw: bytes, origin: Origin, database_url: str | None = None) -> IngestResult:
    """Store one received document (commit), then queue matching for each new alert."""
    with session_scope(database_url) as session:
        result = store_payload(session, raw, origin)
    queue_matching(result.new_alert_ids)
    return result


def poll_feeds_now(database_url: str | None = None, feed_ids: list[int] | None = None, force: bool = False) -> list[dict]:
    from alerts.feeds import poll_due

    return asyncio.run(poll_due(database_url, feed_ids=feed_ids, force=force, on_new_alerts=queue_matching))


@app.task(name="haven.ingest.poll_feeds")
def poll_feeds() -> list[dict]:
    """Poll every due feed once (beat runs this every few seconds; leases keep feeds from double polls)."""
    return poll_feeds_now()


@app.task(name="haven.ingest.expire_chains")
def expire_chains() -> list[int]:
    """Mark chains whose alert has lapsed (its expires, or 24 h without one) as expired."""
    with session_scope() as session:
        return chains.expire_lapsed(session, utcnow())


app.conf.beat_schedule["poll-feeds"] = {"task": "haven.ingest.poll_feeds", "schedule": POLL_EVERY_S}
app.conf.beat_schedule["expire-alert-chains"] = {"task": "haven.ingest.expire_chains", "schedule": EXPIRE_EVERY_S}
