"""Polling QWeather's Weather Alert API v1 by point (feed kind qweather-v1; the rules are alerts.qweather_points).

`GET {host}/weatheralert/v1/current/{lat}/{lon}?lang=..` with the coordinate in two decimals, as the
provider documents it. Within the provider's limits:
- each point has its own schedule, and new points are spread over the feed's interval, so a round asks
  only the points that are due; at most HAVEN_QWEATHER_CONCURRENCY requests run at once;
- conditional requests: If-None-Match when the provider sent an ETag, and an answer whose metadata.tag
  did not change is not read again;
- a 429 or 5xx stops the round (points not yet asked wait), backs the feed off exponentially (Retry-After
  is honoured) and counts as a failure in feed health, like a 401 from a bad key;
- authentication is the `X-QW-Api-Key` header, or an Ed25519-signed JWT (header alg EdDSA + kid, payload
  sub, iat, exp) sent as `Authorization: Bearer`, made with PyJWT.

The API host is a setting (every account has its own): HAVEN_QWEATHER_API_HOST replaces the scheme and host
of the feed's URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from sqlalchemy import func, select

from alerts import rules
from alerts.reading import feedstate, qweather_points
from alerts.reading.qweather_points import PointAnswer, PointSnapshot
from alerts.rules import QWeatherRules
from store.db import session_scope
from store.models.alerts import Feed, FeedPoint
from store.types import utcnow

PATH = "/weatheralert/v1/current"
JWT_LIFETIME_S = 900
JWT_CLOCK_SKEW_S = 30  # the provider's own examples date iat 30 s back
RETRY_STATUSES = {429, 500, 502, 503, 504}


class CredentialsMissing(RuntimeError):
    pass


@dataclass
class Credentials:
    """An API key, or the parts of an Ed25519 JWT credential."""

    api_key: str | None = None
    key_id: str | None = None
    project_id: str | None = None
    private_key_pem: bytes | None = None
    _token: str | None = None
    _token_until: float = 0.0

    @classmethod
    def from_rules(cls, qweather: QWeatherRules) -> Credentials:
        if qweather.jwt_private_key_path:
            path = Path(qweather.jwt_private_key_path)
            if not path.is_file():
                raise CredentialsMissing(f"HAVEN_QWEATHER_JWT_PRIVATE_KEY_PATH: {path} is not a file")
            if not (qweather.jwt_key_id and qweather.jwt_project_id):
                raise CredentialsMissing("a QWeather JWT needs HAVEN_QWEATHER_JWT_KEY_ID and "
                                         "HAVEN_QWEATHER_JWT_PROJECT_ID beside the private key")
            return cls(key_id=qweather.jwt_key_id, project_id=qweather.jwt_project_id,
                       private_key_pem=path.read_bytes())
        if qweather.api_key:
            return cls(api_key=qweather.api_key)
        raise CredentialsMissing("no QWeather credentials: set HAVEN_QWEATHER_API_KEY, or the JWT credential "
                                 "(HAVEN_QWEATHER_JWT_KEY_ID, _PROJECT_ID, _PRIVATE_KEY_PATH)")

    def headers(self) -> dict[str, str]:
        # The provider warns that two authentication methods at once may fail: send exactly one.
        if self.private_key_pem is None:
            return {"X-QW-Api-Key": self.api_key or ""}
        now = time.time()
        if self._token is None or now > self._token_until - 60:
            import jwt

            issued = int(now) - JWT_CLOCK_SKEW_S
            self._token = jwt.encode({"sub": self.project_id, "iat": issued, "exp": issued + JWT_LIFETIME_S},
                                     self.private_key_pem, algorithm="EdDSA", headers={"kid": self.key_id})
            self._token_until = issued + JWT_LIFETIME_S
        return {"Authorization": f"Bearer {self._token}"}


@cache
def _credentials(qweather: QWeatherRules) -> Credentials:
    return Credentials.from_rules(qweather)


def credentials() -> Credentials:
    """The configured credentials, kept per process so a JWT is signed once per lifetime, not per request."""
    return _credentials(rules.current().qweather)


def base_url(feed_url: str, api_host: str | None) -> str:
    """The feed's URL up to /weatheralert/v1/current, on the configured host when one is set."""
    parts = urlsplit(feed_url)
    path = parts.path.rstrip("/")
    if not path.endswith(PATH):
        path = path + PATH if PATH not in path else path[: path.index(PATH) + len(PATH)]
    if api_host:
        host = urlsplit(api_host)
        parts = parts._replace(scheme=host.scheme, netloc=host.netloc)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def point_url(base: str, point: PointSnapshot, lang: str | None) -> str:
    url = f"{base}/{point.lat:.2f}/{point.lon:.2f}"
    return f"{url}?lang={lang}" if lang else url


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _problem(body: bytes) -> str:
    """The provider's error body in a few words: v2 {"error": {"title", "detail"}} or v1 {"code"}."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
        return f": {error.get('title') or ''} {error.get('detail') or ''}".rstrip()
    if isinstance(document, dict) and "code" in document:
        return f": provider code {document['code']}"
    return ""


async def ask(http: aiohttp.ClientSession, point: PointSnapshot, url: str, headers: dict, timeout_s: float,
              max_bytes: int) -> PointAnswer:
    """One request; never raises: trouble comes back as the answer's error."""
    answer = PointAnswer(point, url)
    sent = dict(headers)
    if point.etag:
        sent["If-None-Match"] = point.etag
    try:
        async with http.get(url, headers=sent, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            answer.status, answer.etag = response.status, response.headers.get("ETag")
            body = await response.content.read(max_bytes + 1)
            if response.status == 304:
                answer.unchanged = True
            elif len(body) > max_bytes:
                answer.error = f"answer exceeds {max_bytes} bytes (HAVEN_MAX_BODY_BYTES)"
            elif response.status != 200:
                answer.error = f"HTTP {response.status} {response.reason or ''}".strip() + _problem(body)
                if response.status == 401:
                    answer.error += " (check HAVEN_QWEATHER_API_KEY or the JWT credential)"
                answer.retry_after_s = _retry_after(response.headers.get("Retry-After"))
            else:
                answer.body = body
    except TimeoutError:
        answer.error = f"timed out after {timeout_s:g} s"
    except aiohttp.ClientError as exc:
        answer.error = f"{type(exc).__name__}: {exc}"
    return answer


def _read_tag(answer: PointAnswer) -> list[str] | None:
    """The answer's metadata.tag and alert ids; an unchanged tag means nothing new to read."""
    try:
        document = json.loads(answer.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    answer.tag = str(metadata["tag"]) if metadata.get("tag") else None
    if answer.tag and answer.tag == answer.point.last_tag:
        answer.unchanged = True
    alerts = document.get("alerts")
    return [str(a.get("id")) for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else None


@cache
def _gazetteer(path: str | None):
    from config.settings import VAR_DIR
    from geo.gazetteer import load_gazetteer

    return load_gazetteer(path, cache_dir=VAR_DIR / "cache")


def configured_gazetteer():
    return _gazetteer(rules.current().qweather.gazetteer_path)


def prepare_points(db_url: str | None, feed_id: int, force: bool, refresh: bool = False) -> dict:
    """Recompute the points if the book changed; return the due ones and the reach figures."""
    qweather = rules.current().qweather
    now = utcnow()
    with session_scope(db_url) as session:
        feed = session.get(Feed, feed_id)
        changed = qweather_points.refresh_points(session, feed, configured_gazetteer(), qweather.points,
                                                 now, force=refresh)
        total = session.execute(select(func.count(FeedPoint.id)).where(FeedPoint.feed_id == feed_id)).scalar_one()
        due = qweather_points.due_points(session, feed_id, now, force, limit=qweather_points.round_size(
            total, feed.every_s, qweather.concurrency))
        return {"due": due, "changed": changed, "assets_outside_gazetteer": feed.assets_outside_gazetteer or 0,
                "url": feed.url}


def _finish_round(db_url: str | None, snapshot: feedstate.FeedSnapshot, answers: list[PointAnswer],
                  alert_ids: dict[int, list[str] | None], settings, lang: str | None,
                  stopped: str | None, duration: float) -> dict:
    now = utcnow()
    with session_scope(db_url) as session:
        feed = session.get(Feed, snapshot.id)
        outcome = qweather_points.ingest_round(session, feed, answers, lang, settings.max_bytes,
                                               settings.lifetime_h, now)
        for answer in answers:
            qweather_points.record_point(session, answer, now, snapshot.every_s, settings.max_backoff_s,
                                         alert_ids.get(answer.point.id))
        failed = [a for a in answers if a.error]
        if failed:
            first = failed[0]
            error = (f"{len(failed)} of {len(answers)} point(s) failed; ({first.point.lat:.2f}, "
                     f"{first.point.lon:.2f}) {first.point.admin_code}: {first.error}")
            if stopped:
                error = f"{stopped}; {error}"
            feedstate.record_failure(session, snapshot.id, now, status=first.status, error=error,
                                     duration_s=duration, max_backoff_s=settings.max_backoff_s)
        else:
            feedstate.record_success(session, snapshot.id, now, status=200, etag=None, last_modified=None,
                                     changed=bool(outcome.ingest.new_alert_ids or outcome.grown_alert_ids),
                                     new_alerts=len(outcome.ingest.new_alert_ids), duration_s=duration)
            # The next round is when the next point is due (they are spread over the interval).
            due = qweather_points.next_point_due(session, snapshot.id)
            if due is not None:
                feed.next_poll_at = max(min(due, feed.next_poll_at), now)
        return {"new_alerts": outcome.ingest.new_alert_ids, "grown": outcome.grown_alert_ids,
                "quarantined": outcome.ingest.quarantine_ids, "error": feed.last_error if failed else None,
                "failed_points": len(failed)}


async def poll_point_feed(http: aiohttp.ClientSession, snapshot: feedstate.FeedSnapshot, settings,
                          db_url: str | None, on_new_alerts: Callable[[list[int]], None], force: bool = False) -> dict:
    """One round of a qweather-v1 feed: ask the due points, store what they answered, keep health."""
    qweather = rules.current().qweather
    started = time.monotonic()
    lang = qweather.lang or None
    result = {"feed_id": snapshot.id, "url": snapshot.url, "status": None, "error": None, "new_alerts": [],
              "quarantined": [], "points_asked": 0, "duration_s": 0.0}
    try:
        prepared = await asyncio.to_thread(prepare_points, db_url, snapshot.id, force)
        headers = {"User-Agent": settings.user_agent, "Accept": "application/json",
                   **credentials().headers()}
    except Exception as exc:  # no credentials, unreadable gazetteer: the feed fails, the poller lives on
        error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(_record_setup_failure, db_url, snapshot.id, error, settings.max_backoff_s)
        return {**result, "error": error}
    result["assets_outside_gazetteer"] = prepared["assets_outside_gazetteer"]
    base = base_url(prepared["url"], qweather.api_host)
    limit = asyncio.Semaphore(qweather.concurrency)
    stop: list[str] = []

    async def one(point: PointSnapshot) -> PointAnswer | None:
        async with limit:
            if stop:  # the provider asked us to slow down: the points not yet asked wait for the next round
                return None
            answer = await ask(http, point, point_url(base, point, lang), headers, settings.timeout_s,
                               settings.max_bytes)
            if answer.status in RETRY_STATUSES:
                stop.append(f"HTTP {answer.status}: round stopped, feed backs off")
            return answer

    answers = [a for a in await asyncio.gather(*(one(p) for p in prepared["due"])) if a is not None]
    alert_ids = {a.point.id: _read_tag(a) for a in answers if a.body is not None}
    try:
        outcome = await asyncio.to_thread(_finish_round, db_url, snapshot, answers, alert_ids, settings, lang,
                                          stop[0] if stop else None, round(time.monotonic() - started, 3))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(_record_setup_failure, db_url, snapshot.id, error, settings.max_backoff_s)
        return {**result, "error": error}
    to_match = outcome["new_alerts"] + outcome["grown"]
    if to_match:
        await asyncio.to_thread(on_new_alerts, to_match)
    statuses = sorted({a.status for a in answers if a.status is not None})
    return {**result, "status": statuses[-1] if statuses else None, "error": outcome["error"],
            "new_alerts": outcome["new_alerts"], "grown_alerts": outcome["grown"],
            "quarantined": outcome["quarantined"], "points_asked": len(answers),
            "failed_points": outcome["failed_points"], "duration_s": round(time.monotonic() - started, 3)}


def _record_setup_failure(db_url: str | None, feed_id: int, error: str, max_backoff_s: float) -> None:
    with session_scope(db_url) as session:
        feedstate.record_failure(session, feed_id, utcnow(), status=None, error=error, duration_s=0.0,
                                 max_backoff_s=max_backoff_s)
