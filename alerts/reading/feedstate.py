"""Feeds as Haven keeps them: registration, due polls, the per-feed lock, backoff and health.

Issue 3, Polling. Plain functions over a Session (the HTTP side is alerts.feeds). Health reads:
`disabled`, `pending` (never polled), `silent` (no successful poll for three intervals, whatever the
reason: the agency hangs, or our poller stopped), `failing` (the last poll failed), else `ok`.
Errors back off exponentially: every_s x 2^failures, capped (HAVEN_FEED_MAX_BACKOFF_S).
Health also counts index entries without a CAP link, and for point-polled feeds (qweather-v1) the book
assets that lie outside the gazetteer (no county, so no point and no warning) and each point's last answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.audit import record
from store.models.alerts import Feed, FeedEntry, FeedHealth, FeedKind
from store.retry import Backoff

FEED_KINDS = tuple(FeedKind)
INDEX_KINDS = (FeedKind.CAP_ATOM, FeedKind.CAP_RSS)
POINT_KINDS = (FeedKind.QWEATHER_V1,)
SILENT_AFTER_INTERVALS = 3
MIN_SILENCE_S = 30.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


class FeedRejected(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def parse_every(value: str | float | int) -> float:
    """'60s', '5m', '1h', '500ms' or a number of seconds -> seconds (at least 1 s)."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise FeedRejected(f"every {value!r} is not a duration like 60s, 5m or 1h", "every")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    if seconds < 1:
        raise FeedRejected("every must be at least 1 second", "every")
    return seconds


def add_feed(session: Session, url: str, kind: str, every: str | float = 60.0, *, enabled: bool = True,
             require_signature: bool = False, admin_code: str | None = None, name: str | None = None,
             actor_id: int | None = None) -> Feed:
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FeedRejected(f"url {url!r} is not an http(s) URL", "url")
    if kind not in FEED_KINDS:
        raise FeedRejected(f"kind {kind!r} is not one of {', '.join(FEED_KINDS)}", "kind")
    if admin_code is not None and not re.fullmatch(r"\d{6}", admin_code):
        raise FeedRejected("admin_code must be a 6-digit administrative division code (CN-ADCODE)", "admin_code")
    feed = Feed(url=url, kind=kind, every_s=parse_every(every), enabled=enabled, require_signature=require_signature,
                admin_code=admin_code, name=name, consecutive_failures=0, alerts_seen=0)
    try:
        with session.begin_nested():
            session.add(feed)
            session.flush()
    except IntegrityError:
        raise FeedRejected(f"a feed with url {url!r} already exists", "url") from None
    record(session, "feed", feed.id, "added", actor_id=actor_id, data={"url": url, "kind": kind})
    return feed


def health(feed: Feed, now: datetime) -> dict:
    silence = max(SILENT_AFTER_INTERVALS * feed.every_s, MIN_SILENCE_S)
    silent_for = (now - (feed.last_success_at or feed.created_at)).total_seconds()
    if not feed.enabled:
        status = FeedHealth.DISABLED
    elif feed.last_polled_at is None:
        status = FeedHealth.PENDING
    elif silent_for > silence:
        status = FeedHealth.SILENT
    elif feed.consecutive_failures:
        status = FeedHealth.FAILING
    else:
        status = FeedHealth.OK
    return {"status": status, "last_polled_at": feed.last_polled_at, "last_success_at": feed.last_success_at,
            "last_changed_at": feed.last_changed_at, "last_error_at": feed.last_error_at,
            "last_error": feed.last_error, "last_status": feed.last_status,
            "consecutive_failures": feed.consecutive_failures, "alerts_seen": feed.alerts_seen,
            "silent_for_s": round(silent_for, 1),
            "next_poll_at": feed.next_poll_at, "last_duration_s": feed.last_duration_s,
            "entries_without_cap_link": feed.entries_without_cap_link,
            "assets_outside_gazetteer": feed.assets_outside_gazetteer}


def feed_json(feed: Feed, now: datetime, points: list[dict] | None = None) -> dict:
    found = {"id": feed.id, "url": feed.url, "kind": feed.kind, "name": feed.name, "every_s": feed.every_s,
             "enabled": feed.enabled, "require_signature": feed.require_signature, "admin_code": feed.admin_code,
             "created_at": feed.created_at, "health": health(feed, now)}
    if feed.kind in POINT_KINDS:
        found["health"]["points"] = points or []
    return found


def count_missing_links(entries: list[dict]) -> int:
    return sum(1 for e in entries if any(f.get("code") == "missing-cap-link" for f in e.get("flags", [])))


def list_feeds(session: Session) -> list[Feed]:
    return list(session.execute(select(Feed).order_by(Feed.id)).scalars())


@dataclass(frozen=True)
class FeedSnapshot:
    """What a poll needs, detached from the session (polls run outside any transaction)."""

    id: int
    url: str
    kind: str
    every_s: float
    etag: str | None
    last_modified: str | None


def claim_due(session: Session, now: datetime, lease_s: float, feed_ids: list[int] | None = None,
              force: bool = False) -> list[FeedSnapshot]:
    """Take the per-feed lock (a lease) on every enabled feed that is due; a feed being polled is skipped."""
    query = select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id)
    if feed_ids is not None:
        query = query.where(Feed.id.in_(feed_ids))
    if not force:
        query = query.where(or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now))
    claimed = []
    for feed in session.execute(query).scalars().all():
        took = session.execute(update(Feed).where(
            Feed.id == feed.id, or_(Feed.lease_until.is_(None), Feed.lease_until < now))
            .values(lease_until=now + timedelta(seconds=lease_s))).rowcount
        if took:
            claimed.append(FeedSnapshot(feed.id, feed.url, feed.kind, feed.every_s, feed.etag, feed.last_modified))
    return claimed


def backoff_s(every_s: float, failures: int, cap_s: float) -> float:
    """The feed's interval doubled per failure in a row, up to the cap."""
    return Backoff(every_s, cap_s).wait_s(failures + 1)


def record_success(session: Session, feed_id: int, now: datetime, *, status: int, etag: str | None,
                   last_modified: str | None, changed: bool, new_alerts: int, duration_s: float) -> None:
    feed = session.get(Feed, feed_id)
    feed.last_polled_at = feed.last_success_at = now
    feed.last_status, feed.last_duration_s = status, duration_s
    feed.consecutive_failures = 0
    if changed:
        feed.last_changed_at = now
        feed.etag, feed.last_modified = etag, last_modified
    feed.alerts_seen = (feed.alerts_seen or 0) + new_alerts
    feed.next_poll_at = now + timedelta(seconds=feed.every_s)
    feed.lease_until = None


def record_failure(session: Session, feed_id: int, now: datetime, *, status: int | None, error: str,
                   duration_s: float, max_backoff_s: float) -> None:
    feed = session.get(Feed, feed_id)
    feed.last_polled_at = feed.last_error_at = now
    feed.last_status, feed.last_duration_s = status, duration_s
    feed.last_error = error[:2000]
    feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
    feed.next_poll_at = now + timedelta(seconds=backoff_s(feed.every_s, feed.consecutive_failures, max_backoff_s))
    feed.lease_until = None


def unseen_entries(session: Session, feed_id: int, entries: list[dict]) -> list[dict]:
    """Entries not handled before (by id and updated): a changed entry counts as new."""
    digests = {_entry_digest(e): e for e in entries}
    if not digests:
        return []
    seen = set(session.execute(select(FeedEntry.digest).where(
        FeedEntry.feed_id == feed_id, FeedEntry.digest.in_(list(digests)))).scalars())
    return [entry for digest, entry in digests.items() if digest not in seen]


def mark_entries_seen(session: Session, feed_id: int, entries: list[dict], now: datetime) -> None:
    for entry in entries:
        try:
            with session.begin_nested():
                session.add(FeedEntry(feed_id=feed_id, digest=_entry_digest(entry),
                                      entry_id=(entry.get("id") or "")[:2000], seen_at=now))
        except IntegrityError:
            continue


def _entry_digest(entry: dict) -> str:
    key = f"{entry.get('id') or entry.get('cap_url')}|{entry.get('updated') or ''}|{entry.get('cap_url') or ''}"
    return hashlib.sha256(key.encode()).hexdigest()
