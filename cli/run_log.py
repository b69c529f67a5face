"""What `haven run` prints while it serves: one line per warning stored and per claim, rescue job,
payment or CAT event change, read from the database (alerts and the audit trail) every few seconds, so
a warning or a claim made by any process shows up. Periodic tasks that found nothing to do stay quiet."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select

from store.db import session_scope
from store.models import Alert, AuditEvent, User

log = logging.getLogger("haven.events")
POLL_S = 2.0
ENTITIES = {"claim": "claim", "rescue_job": "rescue job", "payment": "payment", "cat_event": "CAT event"}
# Routine bookkeeping that would drown the story: leases come and go with every "take next".
QUIET_ACTIONS = {"leased", "released", "lease_expired"}


def _headline(alert: Alert) -> str:
    infos = (alert.normalized or {}).get("infos") or []
    return str((infos[0].get("headline") or infos[0].get("event") or "") if infos else "")[:120]


def warning_line(alert: Alert) -> str:
    reach = "" if alert.matched_assets is None else f"; {alert.matched_assets:,} insured assets inside"
    return (f"warning {alert.id}: {alert.msg_type} ({alert.max_severity or 'no severity'}) from {alert.sender}: "
            f"{_headline(alert)}{reach}")


def audit_line(event: AuditEvent, names: dict[int, str]) -> str:
    moved = f" {event.from_state} -> {event.to_state}" if event.from_state and event.to_state else \
        (f" -> {event.to_state}" if event.to_state else "")
    who = f" by {names.get(event.actor_id, f'user {event.actor_id}')}" if event.actor_id else ""
    note = f": {event.note[:100]}" if event.note else ""
    return f"{ENTITIES[event.entity]} {event.entity_id}: {event.action.replace('_', ' ')}{moved}{who}{note}"


class EventLog:
    """Polls from where the database stood at start; stop() ends the thread."""

    def __init__(self, poll_s: float = POLL_S):
        self.poll_s = poll_s
        self.stopped = threading.Event()
        with session_scope() as session:
            self.alert_id = session.scalar(select(func.max(Alert.id))) or 0
            self.audit_id = session.scalar(select(func.max(AuditEvent.id))) or 0
        self.thread = threading.Thread(target=self._run, name="haven-event-log", daemon=True)

    def start(self) -> EventLog:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.poll_s):
            try:
                self.print_new()
            except Exception:  # a busy or restarting database: the next round tries again
                log.debug("event log round failed", exc_info=True)

    def print_new(self) -> int:
        printed = 0
        with session_scope() as session:
            alerts = list(session.scalars(select(Alert).where(Alert.id > self.alert_id).order_by(Alert.id).limit(200)))
            for alert in alerts:
                log.info(warning_line(alert))
                self.alert_id, printed = alert.id, printed + 1
            events = list(session.scalars(select(AuditEvent).where(AuditEvent.id > self.audit_id)
                                          .order_by(AuditEvent.id).limit(500)))
            actors = {e.actor_id for e in events if e.actor_id}
            names = dict(session.execute(select(User.id, User.name).where(User.id.in_(actors))).all()) if actors else {}
            for event in events:
                self.audit_id = event.id
                if event.entity in ENTITIES and event.action not in QUIET_ACTIONS:
                    log.info(audit_line(event, names))
                    printed += 1
        return printed
