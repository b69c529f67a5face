"""The poller with the real aiohttp client against a local aiohttp feed server (127.0.0.1) replaying corpus files:
conditional GET and 304, 500s and backoff, timeouts, truncated XML, entries changing between polls, a feed
that goes silent, the per-feed lock, and one slow feed never delaying the others."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.reading import feedstate
from alerts.reading.feeds import poll_due
from alerts.rules import FeedRules
from store.db import session_scope
from store.models import Alert, Feed, QuarantinedMessage
from store.types import utcnow
from tests.support import FIXTURES

CORPUS = FIXTURES / "alerts"
USER_AGENT = "Haven-test/1.0 (ops@haven.example)"
CAP_A = CORPUS / "cap-valid/is_imo_wind_polygon_2info-is-en_resource-digest.xml"
CAP_B = CORPUS / "cap-update-cancel/mx_smn_tropical-storm_update_es-419_multiline-polygon.xml"
CAP_C = CORPUS / "cap-valid/au_bom_thunderstorm_geocode-only_cap-prefix.xml"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    delay_s: float = 0.0
    content_type: str = "application/xml"


@dataclass
class FeedServer:
    """A local agency: routes can be changed between polls; every request is recorded."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        if route.delay_s:
            await asyncio.sleep(route.delay_s)
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return web.Response(status=304, headers={"ETag": route.etag})
        headers = {"ETag": route.etag} if route.etag else {}
        return web.Response(status=route.status, body=route.body, headers=headers, content_type=route.content_type)


@pytest.fixture
def feed_server():
    server = FeedServer()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    ready = threading.Event()

    async def start():
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def settings(timeout_s: float = 2.0, max_bytes: int = 5 * 1024 * 1024) -> FeedRules:
    return FeedRules(user_agent=USER_AGENT, timeout_s=timeout_s, max_bytes=max_bytes, max_backoff_s=40.0)


def add(url: str, feed_url: str, kind: str = "cap-xml", every: str = "10s") -> int:
    with session_scope(url) as session:
        return feedstate.add_feed(session, feed_url, kind, every).id


def poll(url: str, timeout_s: float = 2.0, **kwargs) -> dict[int, dict]:
    results = asyncio.run(poll_due(url, force=True, settings=settings(timeout_s), **kwargs))
    return {r["feed_id"]: r for r in results}


def feed_state(url: str, feed_id: int, at=None) -> tuple[Feed, dict]:
    with session_scope(url) as session:
        feed = session.get(Feed, feed_id)
        return feed, feedstate.health(feed, at or utcnow())


def test_conditional_get_answers_304_and_sends_the_user_agent(db_url, feed_server):
    feed_server.routes["/cap.xml"] = Route(CAP_A.read_bytes(), etag='"v1"')
    feed_id = add(db_url, feed_server.url("/cap.xml"))
    first = poll(db_url)[feed_id]
    assert first["status"] == 200, 'fact: first["status"] == 200'
    assert len(first["new_alerts"]) == 1, 'fact: len(first["new_alerts"]) == 1'
    second = poll(db_url)[feed_id]
    assert second["status"] == 304, 'fact: second["status"] == 304'
    assert second["new_alerts"] == [], 'fact: second["new_alerts"] == []'
    assert second["error"] is None, 'fact: second["error"] is None'
    _, headers = feed_server.requests[-1]
    assert headers["If-None-Match"] == '"v1"', 'fact: headers["If-None-Match"] == \'"v1"\''
    assert headers["User-Agent"] == USER_AGENT, 'fact: headers["User-Agent"] == USER_AGENT'
    feed, health = feed_state(db_url, feed_id)
    assert health["status"] == "ok", 'fact: health["status"] == "ok"'
    assert health["alerts_seen"] == 1, 'fact: health["alerts_seen"] == 1'
    assert feed.etag == '"v1"', 'fact: feed.etag == \'"v1"\''


def test_server_errors_back_off_exponentially_with_a_cap_then_recover(sqlite_url, feed_server):
    feed_server.routes["/cap.xml"] = Route(b"oops", status=500)
    feed_id = add(sqlite_url, feed_server.url("/cap.xml"), every="10s")
    gaps = []
    for _ in range(4):
        started = utcnow()
        assert poll(sqlite_url)[feed_id]["error"] == "HTTP 500 Internal Server Error"
        feed, health = feed_state(sqlite_url, feed_id)
        gaps.append(round((feed.next_poll_at - started).total_seconds() / 10) * 10)
    assert gaps == [20, 40, 40, 40]  # 10 s x 2^n, capped at 40 s
    assert health["status"] == "failing", 'fact: health["status"] == "failing"'
    assert health["consecutive_failures"] == 4, 'fact: health["consecutive_failures"] == 4'
    assert health["last_error"] == "HTTP 500 Internal Server Error"
    feed_server.routes["/cap.xml"] = Route(CAP_A.read_bytes())
    assert poll(sqlite_url)[feed_id]["error"] is None
    feed, health = feed_state(sqlite_url, feed_id)
    assert health["status"] == "ok", 'fact: health["status"] == "ok"'
    assert health["consecutive_failures"] == 0, 'fact: health["consecutive_failures"] == 0'
    assert (feed.next_poll_at - utcnow()).total_seconds() == pytest.approx(10, abs=2)


def test_a_slow_feed_times_out_without_delaying_the_others(sqlite_url, feed_server):
    feed_server.routes["/slow.xml"] = Route(CAP_A.read_bytes(), delay_s=5)
    feed_server.routes["/fast.xml"] = Route(CAP_B.read_bytes())
    slow = add(sqlite_url, feed_server.url("/slow.xml"))
    fast = add(sqlite_url, feed_server.url("/fast.xml"))
    started = time.monotonic()
    results = poll(sqlite_url, timeout_s=1.0)
    assert time.monotonic() - started < 3.0
    assert results[slow]["error"] == "timed out after 1 s", 'fact: results[slow]["error"] == "timed out after 1 s"'
    assert results[slow]["status"] is None, 'fact: results[slow]["status"] is None'
    assert results[fast]["error"] is None, 'fact: results[fast]["error"] is None'
    assert len(results[fast]["new_alerts"]) == 1, 'fact: len(results[fast]["new_alerts"]) == 1'
    assert results[fast]["duration_s"] < 0.5
    assert feed_state(sqlite_url, slow)[1]["status"] == "failing"


def test_truncated_xml_is_quarantined_and_counts_as_a_failed_poll(sqlite_url, feed_server):
    raw = CAP_A.read_bytes()
    feed_server.routes["/cap.xml"] = Route(raw[: len(raw) // 2])
    feed_id = add(sqlite_url, feed_server.url("/cap.xml"))
    result = poll(sqlite_url)[feed_id]
    assert result["error"].startswith("unreadable content (quarantined): /: not well-formed XML")
    with session_scope(sqlite_url) as session:
        row = session.get(QuarantinedMessage, result["quarantined"][0])
        assert row.feed_id == feed_id, 'fact: row.feed_id == feed_id'
        assert row.raw == raw[: len(raw) // 2], 'fact: row.raw == raw[: len(raw) // 2]'
        assert row.source == feed_server.url("/cap.xml"), 'fact: row.source == feed_server.url("/cap.xml")'
    assert feed_state(sqlite_url, feed_id)[1]["consecutive_failures"] == 1


def index_atom(base: str, entries: list[tuple[str, str, str]]) -> bytes:
    items = "".join(f"<entry><id>{eid}</id><title>{eid}</title><updated>{updated}</updated>"
                    f'<link href="{base}{path}" type="application/cap+xml"/></entry>' for eid, updated, path in entries)
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>{base}/index.atom</id>'
            f"<title>local agency</title><updated>2024-01-01T00:00:00Z</updated>{items}</feed>").encode()


def test_index_entries_changing_between_polls_fetch_only_new_or_changed_cap(db_url, feed_server):
    for name, path in (("/cap/a.xml", CAP_A), ("/cap/b.xml", CAP_B), ("/cap/c.xml", CAP_C)):
        feed_server.routes[name] = Route(path.read_bytes())
    base = feed_server.base
    feed_server.routes["/index.atom"] = Route(index_atom(base, [("a", "2024-01-01T00:00:00Z", "/cap/a.xml"),
                                                                ("b", "2024-01-01T00:00:00Z", "/cap/b.xml")]))
    feed_id = add(db_url, feed_server.url("/index.atom"), kind="cap-atom")
    first = poll(db_url)[feed_id]
    assert len(first["new_alerts"]) == 2, 'fact: len(first["new_alerts"]) == 2'
    assert feed_server.hits("/cap/a.xml") == feed_server.hits("/cap/b.xml") == 1, 'fact: feed_server.hits("/cap/a.xml") == feed_server.hits("/cap/b.xml") == 1'
    assert poll(db_url)[feed_id]["new_alerts"] == []
    assert feed_server.hits("/cap/a.xml") == 1, 'fact: feed_server.hits("/cap/a.xml") == 1'
    assert feed_server.hits("/cap/b.xml") == 1, 'fact: feed_server.hits("/cap/b.xml") == 1'  # nothing refetched
    feed_server.routes["/index.atom"] = Route(index_atom(base, [("b", "2024-01-02T00:00:00Z", "/cap/b.xml"),
                                                                ("c", "2024-01-02T00:00:00Z", "/cap/c.xml")]))
    third = poll(db_url)[feed_id]
    assert len(third["new_alerts"]) == 1  # c is new; b changed but its CAP is the same message (deduped)
    assert feed_server.hits("/cap/b.xml") == 2, 'fact: feed_server.hits("/cap/b.xml") == 2'
    assert feed_server.hits("/cap/c.xml") == 1, 'fact: feed_server.hits("/cap/c.xml") == 1'
    assert feed_server.hits("/cap/a.xml") == 1
    with session_scope(db_url) as session:
        assert len(session.execute(select(Alert.id).where(Alert.feed_id == feed_id)).all()) == 3
    assert feed_state(db_url, feed_id)[1]["alerts_seen"] == 3


def test_a_feed_that_goes_silent_shows_in_its_health(sqlite_url, feed_server):
    feed_server.routes["/cap.xml"] = Route(CAP_A.read_bytes())
    feed_id = add(sqlite_url, feed_server.url("/cap.xml"), every="10s")
    assert poll(sqlite_url)[feed_id]["error"] is None
    feed_server.routes["/cap.xml"] = Route(CAP_A.read_bytes(), delay_s=3)  # the agency stops answering
    assert poll(sqlite_url, timeout_s=0.5)[feed_id]["error"] == "timed out after 0.5 s"
    feed, health = feed_state(sqlite_url, feed_id)
    assert health["status"] == "failing", 'fact: health["status"] == "failing"'
    assert health["last_error"] == "timed out after 0.5 s", 'fact: health["last_error"] == "timed out after 0.5 s"'
    later = feed.last_success_at + timedelta(seconds=31)
    _, health = feed_state(sqlite_url, feed_id, at=later)
    assert health["status"] == "silent", 'fact: health["status"] == "silent"'
    assert health["silent_for_s"] == pytest.approx(31, abs=0.1), 'fact: health["silent_for_s"] == pytest.approx(31, abs=0.1)'
    assert health["last_success_at"] == feed.last_success_at


def test_one_feed_is_never_polled_twice_at_once(db_url, feed_server):
    feed_server.routes["/cap.xml"] = Route(CAP_A.read_bytes(), delay_s=1.0)
    feed_id = add(db_url, feed_server.url("/cap.xml"))

    async def two_pollers():
        return await asyncio.gather(poll_due(db_url, force=True, settings=settings()),
                                    poll_due(db_url, force=True, settings=settings()))

    first, second = asyncio.run(two_pollers())
    assert sorted([len(first), len(second)]) == [0, 1]
    assert feed_server.hits("/cap.xml") == 1
    assert feed_state(db_url, feed_id)[0].lease_until is None  # released after the poll


def test_oversized_answer_is_refused(sqlite_url, feed_server):
    feed_server.routes["/big.xml"] = Route(b"<alert>" + b"x" * 5000 + b"</alert>")
    feed_id = add(sqlite_url, feed_server.url("/big.xml"))
    results = asyncio.run(poll_due(sqlite_url, force=True, settings=settings(max_bytes=4000)))
    assert results[0]["feed_id"] == feed_id, 'fact: results[0]["feed_id"] == feed_id'
    assert results[0]["error"] == "body exceeds 4000 bytes (HAVEN_MAX_BODY_BYTES)", 'fact: results[0]["error"] == "body exceeds 4000 bytes (HAVEN_MAX_BODY_BYTES)"'
