"""Store what arrives: raw and normalized side by side, deduped, chained, or quarantined with its reason.

Identity is (sender, identifier, sent); ingesting a message
already stored changes nothing. The raw payload is kept byte for byte (for a document holding several
alerts, each row keeps the whole document it came from). Nothing is silently dropped: a message that
fails validation, or whose XML signature fails, is quarantined with its reason, once per distinct body.

Plain functions over a Session; the caller commits and then queues matching for `IngestResult.new_alert_ids`
(workers.ingest.ingest_payload does both).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.reading import chains
from alerts.reading.errors import MessageInvalid
from alerts.reading.parse import parse_message
from alerts.reading.parsed import ParsedAlert
from alerts.reading.times import to_utc
from store.audit import record
from store.models.alerts import Alert, AlertReference, Feed, QuarantinedMessage
from store.types import utcnow

DEFAULT_LIFETIME_H = 24.0


@dataclass
class IngestResult:
    new_alert_ids: list[int] = field(default_factory=list)
    duplicate_alert_ids: list[int] = field(default_factory=list)
    quarantine_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)  # an index's entries (fetching their links is the poller's)
    format: str | None = None
    document_error: str | None = None  # the whole document was unreadable (a feed counts that as a failure)

    def merge(self, other: IngestResult) -> IngestResult:
        self.new_alert_ids += other.new_alert_ids
        self.duplicate_alert_ids += other.duplicate_alert_ids
        self.quarantine_ids += other.quarantine_ids
        self.problems += other.problems
        return self

    def as_dict(self) -> dict:
        return {"format": self.format, "stored": self.new_alert_ids, "duplicates": self.duplicate_alert_ids,
                "quarantined": self.quarantine_ids, "problems": self.problems, "entries": len(self.entries)}


@dataclass
class Origin:
    """Where a payload came from and how to read it."""

    source: str | None = None  # file path or URL
    content_type: str | None = None
    feed: Feed | None = None
    admin_code: str | None = None
    storm_id: str | None = None
    storm_name: str | None = None
    max_bytes: int | None = None
    lifetime_h: float = DEFAULT_LIFETIME_H


def ingest_payload(session: Session, raw: bytes, origin: Origin, now: datetime | None = None) -> IngestResult:
    """Parse one received document and store each alert in it (or quarantine it, or its bad parts)."""
    now = now or utcnow()
    result = IngestResult()
    feed = origin.feed
    try:
        message = parse_message(raw, origin.content_type, max_bytes=origin.max_bytes,
                                admin_code=origin.admin_code or (feed.admin_code if feed else None),
                                storm_id=origin.storm_id, storm_name=origin.storm_name or (feed.name if feed else None))
    except MessageInvalid as exc:
        result.document_error = str(exc)
        result.quarantine_ids.append(quarantine(session, raw, exc, origin, now).id)
        result.problems.append(exc.summary())
        return result
    result.format, result.entries = message.format, message.entries or []
    for rejected in message.rejected:
        result.quarantine_ids.append(quarantine(session, raw, rejected, origin, now).id)
        result.problems.append(rejected.summary())
    for parsed in message.alerts:
        result.merge(store_alert(session, parsed, raw, origin, now))
    return result


def _signature_refusal(parsed: ParsedAlert, feed: Feed | None) -> MessageInvalid | None:
    if parsed.signature == "failed":
        return MessageInvalid("/alert/Signature", parsed.signature_detail or "XML signature verification failed")
    if feed is not None and feed.require_signature and parsed.signature != "verified":
        return MessageInvalid("/alert", f"feed {feed.id} requires a verified XML signature; this alert is "
                                        f"{parsed.signature}" + (f" ({parsed.signature_detail})"
                                                                 if parsed.signature_detail else ""))
    return None


def _expiry(parsed: ParsedAlert, sent_at: datetime, lifetime_h: float) -> tuple[datetime, dict | None]:
    stated = [to_utc(t) for t in [info.get("expires") for info in parsed.alert["infos"]] + [parsed.valid_until] if t]
    if stated:
        return max(stated), None
    lapse = sent_at + timedelta(hours=lifetime_h)
    return lapse, {"code": "default-lifetime", "path": "/alert",
                   "detail": f"no expires: lapses {lifetime_h:g} h after sent, at {lapse.isoformat()}"}


def find_alert(session: Session, sender: str, identifier: str, sent: str) -> Alert | None:
    return session.execute(select(Alert).where(Alert.sender == sender, Alert.identifier == identifier,
                                               Alert.sent == sent)).scalar_one_or_none()


def store_alert(session: Session, parsed: ParsedAlert, raw: bytes, origin: Origin, now: datetime) -> IngestResult:
    result = IngestResult(format=parsed.format)
    normalized = parsed.alert
    existing = find_alert(session, normalized["sender"], normalized["identifier"], normalized["sent"])
    if existing is not None:
        result.duplicate_alert_ids.append(existing.id)
        return result
    refusal = _signature_refusal(parsed, origin.feed)
    if refusal is not None:
        result.quarantine_ids.append(quarantine(session, raw, refusal, origin, now).id)
        result.problems.append(refusal.summary())
        return result
    chains.lock_chains(session)
    sent_at = to_utc(normalized["sent"])
    expires_at, lifetime_flag = _expiry(parsed, sent_at, origin.lifetime_h)
    alert = Alert(sender=normalized["sender"], identifier=normalized["identifier"], sent=normalized["sent"],
                  sent_at=sent_at, status=normalized["status"], msg_type=normalized["msg_type"],
                  scope=normalized["scope"], max_severity=parsed.max_severity, expires_at=expires_at,
                  received_at=now, source=origin.source, feed_id=origin.feed.id if origin.feed else None,
                  format=parsed.format, raw=raw, normalized=normalized,
                  flags=parsed.flags + ([lifetime_flag] if lifetime_flag else []),
                  signature=parsed.signature, ends_chain=parsed.ends_chain)
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:  # the same message, stored a moment ago by another worker
        existing = find_alert(session, normalized["sender"], normalized["identifier"], normalized["sent"])
        result.duplicate_alert_ids.append(existing.id)
        return result
    for reference in normalized["references"]:
        session.add(AlertReference(alert_id=alert.id, ref_sender=reference["sender"],
                                   ref_identifier=reference["identifier"], ref_sent=reference.get("sent") or ""))
    session.flush()
    chain = chains.attach(session, alert, normalized["references"], now)
    record(session, "alert", alert.id, "ingested", to_state=chain.state,
           data={"chain_id": chain.id, "msg_type": alert.msg_type, "source": origin.source})
    result.new_alert_ids.append(alert.id)
    return result


def quarantine(session: Session, raw: bytes, problem: MessageInvalid, origin: Origin,
               now: datetime) -> QuarantinedMessage:
    """Keep a refused message with its reason; the same body refused for the same reason is one row."""
    digest = hashlib.sha256(raw).hexdigest()
    row = session.execute(select(QuarantinedMessage).where(
        QuarantinedMessage.digest == digest, QuarantinedMessage.path == problem.path[:500])).scalar_one_or_none()
    if row is not None:
        row.occurrences += 1
        row.last_seen_at = now
        return row
    row = QuarantinedMessage(received_at=now, last_seen_at=now, source=origin.source,
                             feed_id=origin.feed.id if origin.feed else None, path=problem.path[:500],
                             reason=problem.summary(), raw=raw, content_type=origin.content_type, digest=digest,
                             occurrences=1)
    session.add(row)
    session.flush()
    record(session, "quarantine", row.id, "quarantined", note=problem.reason[:500])
    return row

