"""Polling QWeather's Weather Alert API v1 by point, with the real aiohttp client against the local
QWeather-compatible server (devtools/qweather_compatible.py): one point per county of the book, one alert
with the counties of every point that returned it, updates, cancels, silence that cancels nothing, 429
backoff, a bad key in feed health, and JWT authentication."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alerts.matching import spatial
from alerts.reading import feedstate
from alerts.reading.feeds import poll_due
from alerts.reading.qweather_points import points_json
from alerts.rules import FeedRules
from devtools.qweather_compatible import QWeatherServer, Running, gale_warning
from store.db import session_scope
from store.models import Alert, AlertChain, Feed
from store.models.alerts import FeedPoint
from tests.notify_support import add_book

KEY = "qw-test-key-0123456789"
LUCHENG, LONGWAN, OUHAI = ("330302", 28.07, 120.51), ("330303", 27.88, 120.83), ("330304", 27.98, 120.55)
BEIJING = (116.40, 39.90)  # outside the bundled gazetteer (four southern provinces)
CHINA = timezone(timedelta(hours=8))
SETTINGS = FeedRules("Haven-test/1.0 (ops@haven.example)", timeout_s=5.0, max_bytes=1 << 20, max_backoff_s=3600)


def _time(minutes: float = 0) -> str:
    moment = datetime.now(UTC).astimezone(CHINA).replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat(timespec="minutes")


@pytest.fixture
def qweather():
    server = QWeatherServer(api_key=KEY)
    running = Running(server)
    yield server
    running.close()


@pytest.fixture
def v1_feed(db_url, haven_env, qweather):
    """A qweather-v1 feed on the local server, and a book in three Wenzhou districts plus one asset in Beijing
    (on SQLite, then on PostgreSQL)."""
    haven_env(db_url, qweather_api_key=KEY, qweather_lang="zh")
    for n, (_, lat, lon) in enumerate((LUCHENG, LONGWAN, OUHAI)):
        add_book(db_url, 3, lon=lon, lat=lat, start=1 + 10 * n)
    add_book(db_url, 1, lon=BEIJING[0], lat=BEIJING[1], start=100)
    with session_scope(db_url) as session:
        feed = feedstate.add_feed(session, f"{qweather.base}/weatheralert/v1/current", "qweather-v1", "300s")
        feed_id = feed.id
    return db_url, feed_id


def poll(url: str, feed_id: int, force: bool = True) -> dict | None:
    results = asyncio.run(poll_due(url, feed_ids=[feed_id], force=force, settings=SETTINGS))
    return results[0] if results else None


def stored(url: str) -> list[tuple[str, str, list[str], str]]:
    with session_scope(url) as session:
        rows = session.execute(select(Alert).order_by(Alert.id)).scalars().all()
        return [(a.identifier, a.msg_type, sorted(g["value"] for g in a.normalized["infos"][0]["areas"][0]["geocodes"]),
                 session.get(AlertChain, a.chain_id).state) for a in rows]


def health(url: str, feed_id: int) -> dict:
    with session_scope(url) as session:
        feed = session.get(Feed, feed_id)
        return feedstate.feed_json(feed, datetime.now(UTC), points_json(session, [feed_id]).get(feed_id))["health"]


def test_points_are_the_book_counties_asked_with_two_decimals_and_the_lang(v1_feed, qweather):
    url, feed_id = v1_feed
    result = poll(url, feed_id)
    assert result["error"] is None, f"the round failed: {result['error']}"
    asked = sorted((r["lat"], r["lon"]) for r in qweather.requests)
    assert asked == sorted((f"{lat:.2f}", f"{lon:.2f}") for _, lat, lon in (LUCHENG, LONGWAN, OUHAI)), \
        "one point per district holding assets, coordinates with two decimals"
    assert {r["query"].get("lang") for r in qweather.requests} == {"zh"}, "the lang parameter is sent"
    assert {r["headers"].get("X-QW-Api-Key") for r in qweather.requests} == {KEY}, "the API key header is sent"
    state = health(url, feed_id)
    assert state["assets_outside_gazetteer"] == 2, "the Beijing car and home lie outside the bundled gazetteer"
    assert sorted(p["admin_code"] for p in state["points"]) == ["330302", "330303", "330304"]
    assert all(p["last_status"] == 200 and p["last_error"] is None for p in state["points"]), state["points"]


def test_two_points_of_one_city_returning_one_warning_store_one_alert_with_both_counties(v1_feed, qweather):
    url, feed_id = v1_feed
    orange = gale_warning("W-GALE-1", "orange", _time(-5), _time(600))
    qweather.set_alerts(LUCHENG[1], LUCHENG[2], [orange])
    qweather.set_alerts(LONGWAN[1], LONGWAN[2], [orange])
    result = poll(url, feed_id)
    assert len(result["new_alerts"]) == 1, f"one alert, not one per point: {result}"
    assert stored(url) == [("W-GALE-1", "Alert", ["330302", "330303"], "active")], \
        "the alert's area is the two counties whose points returned it"
    points = {p["admin_code"]: p["alerts"] for p in health(url, feed_id)["points"]}
    assert points == {"330302": ["W-GALE-1"], "330303": ["W-GALE-1"], "330304": []}, "each point's last answer"


def test_a_county_that_returns_the_alert_later_grows_its_area_once(v1_feed, qweather):
    url, feed_id = v1_feed
    orange = gale_warning("W-GALE-2", "orange", _time(-5), _time(600))
    qweather.set_alerts(LUCHENG[1], LUCHENG[2], [orange])
    first = poll(url, feed_id)
    assert stored(url) == [("W-GALE-2", "Alert", ["330302"], "active")]
    qweather.set_alerts(LONGWAN[1], LONGWAN[2], [orange])
    second = poll(url, feed_id)
    assert second["new_alerts"] == [], f"the stored alert grows instead of a second alert: {second}"
    assert second["grown_alerts"] == first["new_alerts"], f"the stored alert grows instead of a second alert: {second}"
    assert stored(url) == [("W-GALE-2", "Alert", ["330302", "330303"], "active")], "area grew by Longwan"
    third = poll(url, feed_id)
    assert (third["new_alerts"], third["grown_alerts"]) == ([], []), "seen again: nothing changes"
    assert stored(url) == [("W-GALE-2", "Alert", ["330302", "330303"], "active")]


def test_an_update_supersedes_the_warning_and_a_cancel_ends_the_chain(v1_feed, qweather):
    url, feed_id = v1_feed
    points = (LUCHENG, LONGWAN)
    for _, lat, lon in points:
        qweather.set_alerts(lat, lon, [gale_warning("W-GALE-3", "orange", _time(-30), _time(600))])
    poll(url, feed_id)
    for _, lat, lon in points:
        qweather.set_alerts(lat, lon, [gale_warning("W-GALE-4", "red", _time(-20), _time(600), code="update",
                                                    supersedes=["W-GALE-3"])])
    poll(url, feed_id)
    rows = stored(url)
    assert [r[:3] for r in rows] == [("W-GALE-3", "Alert", ["330302", "330303"]),
                                     ("W-GALE-4", "Update", ["330302", "330303"])], rows
    with session_scope(url) as session:
        alerts = session.execute(select(Alert).order_by(Alert.id)).scalars().all()
        assert alerts[0].chain_id == alerts[1].chain_id, "the update joins the warning's chain"
        assert alerts[1].max_severity == "Extreme", "red is Extreme"
    cancel_issued = _time(-10)
    qweather.set_alerts(LUCHENG[1], LUCHENG[2], [gale_warning("W-GALE-5", "red", cancel_issued, _time(600),
                                                              code="cancel", supersedes=["W-GALE-4"])])
    qweather.set_alerts(LONGWAN[1], LONGWAN[2], [])
    poll(url, feed_id)
    assert [r[1:] for r in stored(url)] == [("Alert", ["330302", "330303"], "cancelled"),
                                            ("Update", ["330302", "330303"], "cancelled"),
                                            ("Cancel", ["330302"], "cancelled")], "the cancel ends the chain"
    with session_scope(url) as session:
        cancel = session.execute(select(Alert).where(Alert.identifier == "W-GALE-5")).scalar_one()
        assert cancel.expires_at == datetime.fromisoformat(cancel_issued).astimezone(UTC) + timedelta(hours=1), \
            "a cancel expires one hour after it is issued"


def test_a_point_that_stops_returning_an_alert_cancels_nothing(v1_feed, qweather):
    url, feed_id = v1_feed
    for _, lat, lon in (LUCHENG, LONGWAN):
        qweather.set_alerts(lat, lon, [gale_warning("W-GALE-6", "orange", _time(-5), _time(600))])
    poll(url, feed_id)
    qweather.alerts.clear()
    result = poll(url, feed_id)
    assert result["error"] is None, 'fact: result["error"] is None'
    assert result["new_alerts"] == [], 'fact: result["new_alerts"] == []'
    assert stored(url) == [("W-GALE-6", "Alert", ["330302", "330303"], "active")], \
        "silence is not a cancel: the chain stays active until the provider cancels or it expires"
    assert {p["admin_code"]: p["alerts"] for p in health(url, feed_id)["points"]}["330302"] == [], \
        "the point's last answer is empty"


def test_a_429_stops_the_round_and_backs_the_feed_off(v1_feed, qweather, haven_env):
    url, feed_id = v1_feed
    haven_env(url, qweather_api_key=KEY, qweather_concurrency=1)
    qweather.status_429_next, qweather.retry_after_s = 1, 120
    result = poll(url, feed_id)
    assert qweather.hits() == 1, f"after a 429 no further point is asked in that round ({qweather.hits()} asked)"
    state = health(url, feed_id)
    assert state["status"] == "failing", state["last_error"]
    assert "HTTP 429" in state["last_error"], state["last_error"]
    assert result["error"], 'fact: result["error"]'
    assert "429" in result["error"], 'fact: "429" in result["error"]'
    assert state["next_poll_at"] >= datetime.now(UTC) + timedelta(seconds=500), "backed off (300 s x 2)"
    limited = [p for p in state["points"] if p["last_status"] == 429]
    assert len(limited) == 1, "the limited point honours Retry-After"
    assert limited[0]["next_poll_at"] >= datetime.now(UTC) + timedelta(seconds=110), "the limited point honours Retry-After"
    assert poll(url, feed_id, force=False) is None, "a backed-off feed is not due"
    assert qweather.hits() == 1


def test_a_bad_key_is_a_401_in_feed_health(v1_feed, qweather, haven_env):
    url, feed_id = v1_feed
    haven_env(url, qweather_api_key="not-the-key")
    poll(url, feed_id)
    state = health(url, feed_id)
    assert state["status"] == "failing", "a rejected key makes the feed fail"
    assert "HTTP 401" in state["last_error"], state["last_error"]
    assert "Unauthorized" in state["last_error"], state["last_error"]
    assert "HAVEN_QWEATHER_API_KEY" in state["last_error"], "the error says what to check"
    assert {p["last_status"] for p in state["points"]} == {401}
    assert all("401" in p["last_error"] for p in state["points"]), "each point shows its error"


def test_an_ed25519_jwt_authenticates_as_the_provider_documents(v1_feed, qweather, haven_env, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    url, feed_id = v1_feed
    private = Ed25519PrivateKey.generate()
    key_file = tmp_path / "ed25519-private.pem"
    key_file.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    qweather.api_key = None
    qweather.jwt_public_key = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    qweather.jwt_key_id, qweather.jwt_project_id = "KID123", "PROJ456"
    haven_env(url, qweather_jwt_key_id="KID123", qweather_jwt_project_id="PROJ456",
              qweather_jwt_private_key_path=str(key_file))
    result = poll(url, feed_id)
    assert result["error"] is None, f"the JWT was refused: {result['error']}"
    sent = qweather.requests[0]["headers"]
    assert sent["Authorization"].startswith("Bearer "), "one method, the JWT"
    assert "X-QW-Api-Key" not in sent, "one method, the JWT"


def test_a_fixed_point_list_replaces_the_book_counties(v1_feed, qweather, haven_env):
    url, feed_id = v1_feed
    haven_env(url, qweather_api_key=KEY, qweather_points="28.0712,120.5098;27.88,120.83,330303")
    poll(url, feed_id)
    assert sorted((r["lat"], r["lon"]) for r in qweather.requests) == [("27.88", "120.83"), ("28.07", "120.51")]
    assert sorted(p["admin_code"] for p in health(url, feed_id)["points"]) == ["330302", "330303"], \
        "a point without a code takes the county it lies in"


def test_the_feeds_api_shows_points_their_last_answer_and_a_bad_key(v1_feed, qweather, api_server, haven_env):
    from tests.support import make_user

    url, feed_id = v1_feed
    qweather.set_alerts(LUCHENG[1], LUCHENG[2], [gale_warning("W-GALE-7", "orange", _time(-5), _time(600))])
    api = api_server(url, qweather_api_key=KEY)
    supervisor = api.as_user(make_user(url, "supervisor"))
    assert supervisor.post(f"/v1/feeds/{feed_id}/poll").status_code == 200
    haven_env(url, qweather_api_key="wrong-key")  # the served API reads the settings anew: the key rotated away
    supervisor.post(f"/v1/feeds/{feed_id}/poll")
    [feed] = [f for f in supervisor.get("/v1/feeds").json()["feeds"] if f["id"] == feed_id]
    state = feed["health"]
    assert state["status"] == "failing", state["last_error"]
    assert "HTTP 401" in state["last_error"], state["last_error"]
    assert state["assets_outside_gazetteer"] == 2, "the reach gap is in feed health too"
    points = {p["admin_code"]: p for p in state["points"]}
    assert sorted(points) == ["330302", "330303", "330304"], "every point listed"
    assert all(p["last_status"] == 401 and "401" in p["last_error"] for p in points.values()), points
    assert points["330302"]["alerts"] == ["W-GALE-7"], "the last answer that was read stays visible"


def test_points_follow_the_book_when_it_changes(v1_feed, qweather):
    import time

    from geo.gazetteer import load_gazetteer

    url, feed_id = v1_feed
    with session_scope(url) as session:
        session.get(Feed, feed_id).every_s = 1.0
    poll(url, feed_id)
    assert len(health(url, feed_id)["points"]) == 3
    yongjia = load_gazetteer().seat("330324")
    add_book(url, 2, lon=yongjia.lon, lat=yongjia.lat, start=50)
    time.sleep(1.1)  # points are chosen again at most once per interval
    poll(url, feed_id)
    assert sorted(p["admin_code"] for p in health(url, feed_id)["points"]) == \
        ["330302", "330303", "330304", "330324"], "a county that gained assets gains a point"
    assert (f"{yongjia.lat:.2f}", f"{yongjia.lon:.2f}") in {(r["lat"], r["lon"]) for r in qweather.requests}, \
        "the new point is asked"


def test_the_api_host_setting_replaces_the_host_of_the_listed_feed_url(db_url, haven_env, qweather):
    haven_env(db_url, qweather_api_key=KEY, qweather_api_host=qweather.base,
              qweather_points="28.07,120.51,330302")
    with session_scope(db_url) as session:  # the URL as config/feeds.toml lists it
        feed_id = feedstate.add_feed(session, "https://your-api-host.qweatherapi.com/weatheralert/v1/current",
                                     "qweather-v1", "300s").id
    result = poll(db_url, feed_id)
    assert result["error"] is None, f"asked the configured host: {result}"
    assert qweather.hits() == 1, f"asked the configured host: {result}"


@pytest.mark.parametrize("variable, value", [("HAVEN_QWEATHER_POINTS", "28.07;120.51"),
                                             ("HAVEN_QWEATHER_API_HOST", "qweather host"),
                                             ("HAVEN_QWEATHER_CONCURRENCY", "0")])
def test_a_malformed_qweather_setting_stops_start_up_naming_the_variable(monkeypatch, variable, value):
    from config.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert variable in str(refused.value), f"the error names {variable}: {refused.value}"


def test_customers_a_grown_area_brings_in_are_warned_once_and_the_others_not_again(sqlite_url, haven_env, qweather):
    from alerts.service import match_alerts
    from store.models import Notification

    haven_env(sqlite_url, qweather_api_key=KEY, quiet_hours="00:00-00:00")
    spatial.forget_indexes()
    lucheng = add_book(sqlite_url, 3, lon=LUCHENG[2], lat=LUCHENG[1], start=1)
    longwan = add_book(sqlite_url, 3, lon=LONGWAN[2], lat=LONGWAN[1], start=11)
    with session_scope(sqlite_url) as session:
        feed_id = feedstate.add_feed(session, f"{qweather.base}/weatheralert/v1/current", "qweather-v1", "300s").id

    def warned() -> dict[str, int]:
        with session_scope(sqlite_url) as session:
            rows = session.execute(select(Notification.customer_id, Notification.kind)).all()
        counts: dict[str, int] = {}
        for customer_id, kind in rows:
            assert kind == "warning", f"only warnings expected, got {kind}"
            counts[customer_id] = counts.get(customer_id, 0) + 1
        return counts

    def round_() -> None:  # tasks run in-process here: matching and fan-out finish before this returns
        asyncio.run(poll_due(sqlite_url, feed_ids=[feed_id], force=True, settings=SETTINGS,
                             on_new_alerts=match_alerts))

    orange = gale_warning("W-GALE-8", "orange", _time(-5), _time(600))
    qweather.set_alerts(LUCHENG[1], LUCHENG[2], [orange])
    round_()
    assert warned() == dict.fromkeys(lucheng, 1), "first round: only Lucheng returned it"
    qweather.set_alerts(LONGWAN[1], LONGWAN[2], [orange])
    round_()
    assert warned() == dict.fromkeys(lucheng + longwan, 1), "Longwan's customers warned once, Lucheng's not again"
    round_()
    assert warned() == dict.fromkeys(lucheng + longwan, 1), "a round with nothing new sends nothing"
    spatial.forget_indexes()


def test_a_backlog_of_due_points_drains_over_rounds_not_in_one_burst(sqlite_url, haven_env, qweather):
    from alerts.reading.qweather_points import round_size

    assert round_size(3000, 300.0, 4) == 150, "3,000 points every 5 min: 50 a 5 s round, 150 at most"
    assert round_size(3, 300.0, 4) == 4, "never fewer than the concurrency"
    haven_env(sqlite_url, qweather_api_key=KEY, qweather_concurrency=1,
              qweather_points=";".join(f"{27.80 + i / 100:.2f},120.70" for i in range(30)))
    with session_scope(sqlite_url) as session:
        feed_id = feedstate.add_feed(session, f"{qweather.base}/weatheralert/v1/current", "qweather-v1", "300s").id
        session.flush()
    poll(url=sqlite_url, feed_id=feed_id, force=False)  # chooses the 30 points, spread over 300 s
    with session_scope(sqlite_url) as session:  # all of them overdue, as after a long backoff
        session.execute(FeedPoint.__table__.update().values(next_poll_at=datetime.now(UTC) - timedelta(hours=1)))
        session.get(Feed, feed_id).next_poll_at = None
    before = qweather.hits()
    poll(url=sqlite_url, feed_id=feed_id, force=False)
    assert qweather.hits() - before == 2, "30 points x 15 s / 300 s = 2 a round, not all 30 at once"
