"""Tasks for the ingest queue: feed polling, chain and manual-warning expiry, and `queue_matching`, the effect
alerts.service hands new alerts to after their commit (wired in workers/wiring.py).

Thin wrappers: the operations live in alerts/service.py, the rules in alerts/reading/.
"""

from __future__ import annotations

import logging

from alerts import manual_service, service
from alerts.reading import chains
from store.db import session_scope
from store.types import utcnow
from workers.app import app, enqueue

log = logging.getLogger(__name__)

POLL_EVERY_S = 5.0
EXPIRE_EVERY_S = 60.0
MANUAL_EXPIRE_EVERY_S = 15.0


def queue_matching(alert_ids: list[int]) -> None:
    """Queue matching for committed alerts; a failing match never undoes or blocks the ingest."""
    from workers.match import match_alert

    for alert_id in alert_ids:
        try:
            enqueue(match_alert, alert_id)
        except Exception:
            log.exception("matching alert %s could not be queued or failed", alert_id)


@app.task(name="haven.ingest.poll_feeds")
def poll_feeds() -> list[dict]:
    """Poll every due feed once (beat runs this every few seconds; leases keep feeds from double polls)."""
    return service.poll_feeds()


@app.task(name="haven.ingest.expire_chains")
def expire_chains() -> list[int]:
    """Mark chains whose alert has lapsed (its expires, or 24 h without one) as expired."""
    with session_scope() as session:
        return chains.expire_lapsed(session, utcnow())


@app.task(name="haven.ingest.expire_manual_warnings")
def expire_manual_warnings() -> list[int]:
    """Expire, and audit, the manual warnings nobody released before their deadline (every read and decision
    expires them too; this writes the audit row soon after the deadline even when nobody looks)."""
    return manual_service.expire()


app.conf.beat_schedule["poll-feeds"] = {"task": "haven.ingest.poll_feeds", "schedule": POLL_EVERY_S}
app.conf.beat_schedule["expire-alert-chains"] = {"task": "haven.ingest.expire_chains", "schedule": EXPIRE_EVERY_S}
app.conf.beat_schedule["expire-manual-warnings"] = {"task": "haven.ingest.expire_manual_warnings",
                                                    "schedule": MANUAL_EXPIRE_EVERY_S}
