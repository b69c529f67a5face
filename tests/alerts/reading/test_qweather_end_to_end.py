"""QWeather Weather Alert API v1 end to end on PostgreSQL with real Celery workers: the local QWeather-compatible
server returns an orange gale warning at two district points of Wenzhou, then an update to red, then a cancel.
Exactly the customers with assets in those two districts get one warning, one escalation and one all-clear,
by SMS through the Twilio-compatible server; the customers of a third district get nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from alerts.matching import spatial
from alerts.reading import feedstate
from alerts.service import poll_feeds
from devtools.qweather_compatible import QWeatherServer, Running, gale_warning
from store.db import session_scope
from store.models import Notification
from tests.notify_support import add_book, twilio_server_fixture, wait_for_workers  # noqa: F401
from tests.support import wait_until

KEY = "qw-e2e-key"
LUCHENG, LONGWAN, OUHAI = (28.07, 120.51), (27.88, 120.83), (27.98, 120.55)
CHINA = timezone(timedelta(hours=8))
PER_DISTRICT = 4


def _time(minutes: float) -> str:
    moment = datetime.now(UTC).astimezone(CHINA).replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat(timespec="minutes")


def _sent(url: str, kind: str) -> dict[str, int]:
    with session_scope(url) as session:
        rows = session.execute(select(Notification.customer_id, func.count()).where(
            Notification.kind == kind, Notification.state.in_(("sent", "delivered"))).group_by(
            Notification.customer_id)).all()
    return dict(rows)


def test_orange_then_red_then_cancel_at_two_district_points_warns_exactly_their_customers(
        haven_env, celery_worker, pg_clean_url, twilio_server):
    url = pg_clean_url
    spatial.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=500)
    haven_env(url, qweather_api_key=KEY, qweather_lang="zh", **environment)
    inside = []
    for start, (lat, lon) in ((1, LUCHENG), (11, LONGWAN)):
        inside += add_book(url, PER_DISTRICT, lon=lon, lat=lat, start=start)
    outside = add_book(url, PER_DISTRICT, lon=OUHAI[1], lat=OUHAI[0], start=21)
    server = QWeatherServer(api_key=KEY)
    running = Running(server)
    try:
        with session_scope(url) as session:
            feed_id = feedstate.add_feed(session, f"{server.base}/weatheralert/v1/current", "qweather-v1", "300s").id
        celery_worker(url, concurrency=2, **environment)
        wait_for_workers()

        steps = [
            ("warning", gale_warning("E2E-GALE-1", "orange", _time(-30), _time(600))),
            ("escalation", gale_warning("E2E-GALE-2", "red", _time(-20), _time(600), code="update",
                                        supersedes=["E2E-GALE-1"])),
            ("all_clear", gale_warning("E2E-GALE-3", "red", _time(-10), _time(600), code="cancel",
                                       supersedes=["E2E-GALE-2"])),
        ]
        for kind, entry in steps:
            for lat, lon in (LUCHENG, LONGWAN):
                server.set_alerts(lat, lon, [entry])
            [result] = poll_feeds(url, feed_ids=[feed_id], force=True)
            assert result["error"] is None, f"one alert from two points: {result}"
            assert len(result["new_alerts"]) == 1, f"one alert from two points: {result}"
            wait_until(lambda kind=kind: len(_sent(url, kind)) == len(inside), timeout=90,
                       message=f"every customer of the two districts sent the {kind}")
    finally:
        running.close()
    expected = dict.fromkeys(inside, 1)
    for kind in ("warning", "escalation", "all_clear"):
        assert _sent(url, kind) == expected, f"exactly one {kind} for each customer of Lucheng and Longwan"
    with session_scope(url) as session:
        reached = set(session.execute(select(Notification.customer_id)).scalars())
    assert reached.isdisjoint(outside), "no message at all for the customers of Ouhai, where no point returned it"
    phones = twilio_server.provider.per_recipient()
    assert len(phones) == len(inside), f"the provider got three SMS for each of the {len(inside)} customers: {phones}"
    assert set(phones.values()) == {3}, f"the provider got three SMS for each of the {len(inside)} customers: {phones}"
    spatial.forget_indexes()
