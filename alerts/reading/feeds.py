"""The aiohttp poller (docs/architecture.md).

Every due feed is polled concurrently with conditional GET (If-None-Match / If-Modified-Since), a
timeout, a body cap and the configured User-Agent (NWS requires one), so one slow or failing feed never
delays the others. Each feed holds a lease while it is polled (alerts.reading.feedstate.claim_due): two pollers
never poll one feed at once. Index feeds (cap-atom, cap-rss) then fetch the CAP behind each new or
changed entry; fat feeds that embed the CAP need no second request. Storage and health bookkeeping run
in threads (blocking database work), and the caller learns about new alerts through `on_new_alerts`
(workers.ingest queues matching), so this module never touches Celery. Point-polled feeds (qweather-v1)
ask many coordinates per round: alerts.qweather_polling does their round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import aiohttp

from alerts import rules
from alerts.reading import feedstate
from alerts.reading.ingest import IngestResult, Origin, ingest_payload
from alerts.rules import FeedRules
from store.db import session_scope
from store.models.alerts import Feed
from store.types import utcnow

LINKED_FETCH_CONCURRENCY = 4
ACCEPT = "application/cap+xml, application/atom+xml, application/rss+xml, application/geo+json, " \
         "application/json;q=0.9, application/xml;q=0.9, */*;q=0.5"


@dataclass
class Fetched:
    url: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status in (200, 304)


async def fetch(http: aiohttp.ClientSession, url: str, settings: FeedRules, etag: str | None = None,
                last_modified: str | None = None) -> Fetched:
    """One GET; never raises: network trouble, timeouts and oversize bodies come back as `error`."""
    headers = {"User-Agent": settings.user_agent, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = time.monotonic()
    result = Fetched(url)
    try:
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
                            allow_redirects=True) as response:
            result.status = response.status
            result.etag, result.last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            result.content_type = response.headers.get("Content-Type")
            if response.status == 200:
                body = await response.content.read(settings.max_bytes + 1)
                if len(body) > settings.max_bytes:
                    result.error = f"body exceeds {settings.max_bytes} bytes (HAVEN_MAX_BODY_BYTES)"
                else:
                    result.body = body
            elif response.status != 304:
                result.error = f"HTTP {response.status} {response.reason or ''}".strip()
    except TimeoutError:
        result.error = f"timed out after {settings.timeout_s:g} s"
    except aiohttp.ClientError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def _origin(feed: Feed, url: str, content_type: str | None, settings: FeedRules) -> Origin:
    storm_id = parse_qs(urlparse(feed.url).query).get("stormid", [None])[0] if feed.kind == "typhoon-track" else None
    return Origin(source=url, content_type=content_type, feed=feed, storm_id=storm_id, max_bytes=settings.max_bytes,
                  lifetime_h=settings.lifetime_h)


def _ingest(db_url: str | None, feed_id: int, fetched: Fetched, settings: FeedRules) -> IngestResult:
    with session_scope(db_url) as session:
        feed = session.get(Feed, feed_id)
        result = ingest_payload(session, fetched.body, _origin(feed, fetched.url, fetched.content_type, settings))
        if result.format in ("atom", "rss"):
            feed.entries_without_cap_link = feedstate.count_missing_links(result.entries)
        if result.entries:
            result.entries = feedstate.unseen_entries(session, feed_id, result.entries)
        return result


def _ingest_linked(db_url: str | None, feed_id: int, pairs: list[tuple[dict, Fetched]],
                   settings: FeedRules) -> tuple[IngestResult, list[str]]:
    """Store the CAP fetched for each entry; an entry counts as handled once its CAP was read (or refused)."""
    total, errors = IngestResult(), []
    with session_scope(db_url) as session:
        feed = session.get(Feed, feed_id)
        handled = []
        for entry, fetched in pairs:
            if fetched.error or fetched.body is None:
                errors.append(f"{fetched.url}: {fetched.error or 'no body'}")
                continue
            total.merge(ingest_payload(session, fetched.body, _origin(feed, fetched.url, fetched.content_type,
                                                                      settings)))
            handled.append(entry)
        feedstate.mark_entries_seen(session, feed_id, handled, utcnow())
    return total, errors


def _finish(db_url: str | None, snapshot: feedstate.FeedSnapshot, fetched: Fetched, error: str | None,
            new_alerts: int, settings: FeedRules) -> None:
    with session_scope(db_url) as session:
        if error:
            feedstate.record_failure(session, snapshot.id, utcnow(), status=fetched.status, error=error,
                                     duration_s=fetched.duration_s, max_backoff_s=settings.max_backoff_s)
        else:
            feedstate.record_success(session, snapshot.id, utcnow(), status=fetched.status,
                                     etag=fetched.etag, last_modified=fetched.last_modified,
                                     changed=fetched.status == 200, new_alerts=new_alerts,
                                     duration_s=fetched.duration_s)


async def poll_feed(http: aiohttp.ClientSession, snapshot: feedstate.FeedSnapshot, settings: FeedRules,
                    db_url: str | None, on_new_alerts: Callable[[list[int]], None], force: bool = False) -> dict:
    if snapshot.kind in feedstate.POINT_KINDS:
        from alerts.reading.qweather_polling import poll_point_feed

        return await poll_point_feed(http, snapshot, settings, db_url, on_new_alerts, force=force)
    fetched = await fetch(http, snapshot.url, settings, snapshot.etag, snapshot.last_modified)
    error, result = fetched.error, IngestResult()
    if fetched.status == 200 and error is None:
        try:
            result = await asyncio.to_thread(_ingest, db_url, snapshot.id, fetched, settings)
            if result.document_error:
                error = f"unreadable content (quarantined): {result.document_error}"
            linked = [e for e in result.entries if e.get("cap_url") and "alert" not in e]
            if linked and snapshot.kind in feedstate.INDEX_KINDS:
                limit = asyncio.Semaphore(LINKED_FETCH_CONCURRENCY)

                async def one(entry):
                    async with limit:
                        return entry, await fetch(http, entry["cap_url"], settings)

                pairs = await asyncio.gather(*(one(e) for e in linked))
                more, link_errors = await asyncio.to_thread(_ingest_linked, db_url, snapshot.id, pairs, settings)
                result.merge(more)
                if link_errors and not error:
                    error = f"{len(link_errors)} linked CAP message(s) not fetched: {link_errors[0]}"
            if result.new_alert_ids:  # in the embedded default matching runs right here: keep it off the loop
                await asyncio.to_thread(on_new_alerts, result.new_alert_ids)
        except Exception as exc:  # a broken feed must never take the poller down
            error = f"{type(exc).__name__}: {exc}"
    await asyncio.to_thread(_finish, db_url, snapshot, fetched, error, len(result.new_alert_ids), settings)
    return {"feed_id": snapshot.id, "url": snapshot.url, "status": fetched.status, "error": error,
            "new_alerts": result.new_alert_ids, "quarantined": result.quarantine_ids,
            "duration_s": fetched.duration_s}


def _claim(db_url: str | None, settings: FeedRules, feed_ids, force) -> list[feedstate.FeedSnapshot]:
    with session_scope(db_url) as session:
        return feedstate.claim_due(session, utcnow(), lease_s=settings.timeout_s * 4 + 60, feed_ids=feed_ids,
                                   force=force)


async def poll_due(db_url: str | None = None, *, feed_ids: list[int] | None = None, force: bool = False,
                   on_new_alerts: Callable[[list[int]], None] = lambda ids: None,
                   settings: FeedRules | None = None) -> list[dict]:
    """Poll every due (or, with force, every enabled) feed once, all at the same time."""
    settings = settings or rules.current().feeds
    snapshots = await asyncio.to_thread(_claim, db_url, settings, feed_ids, force)
    if not snapshots:
        return []
    connector = aiohttp.TCPConnector(limit=32, limit_per_host=4)
    async with aiohttp.ClientSession(connector=connector) as http:
        return list(await asyncio.gather(*(poll_feed(http, s, settings, db_url, on_new_alerts, force)
                                           for s in snapshots)))


async def fetch_url(url: str, settings: FeedRules | None = None) -> Fetched:
    """A single GET with the poller's headers and limits (`haven alerts ingest URL`)."""
    async with aiohttp.ClientSession() as http:
        return await fetch(http, url, settings or rules.current().feeds)
