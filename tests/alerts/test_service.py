"""alerts/service.py: an operation commits first, then hands its effects to what the root wired."""

from alerts import service
from alerts.reading.ingest import Origin
from alerts.reading.replay import replay
from store.db import session_scope
from store.models import Alert
from store.types import utcnow
from tests.support import ROOT
from workers.wiring import wire

ORANGE = ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml"


def test_matching_is_queued_only_for_new_alerts_and_only_after_their_commit(haven_env, sqlite_url):
    haven_env(sqlite_url)
    seen_committed: list[tuple[int, bool]] = []

    def match_alerts(alert_ids):
        # A second session sees only committed rows: the effect must never see an alert still in flight.
        with session_scope(sqlite_url) as session:
            seen_committed.extend((i, session.get(Alert, i) is not None) for i in alert_ids)

    raw = replay([ORANGE.read_bytes()], utcnow(), tag="SERVICE")[0]
    try:
        service.configure(service.Effects(match_alerts=match_alerts))
        first = service.ingest(raw, Origin(source="test"))
        again = service.ingest(raw, Origin(source="test"))
    finally:
        wire()
    assert len(first.new_alert_ids) == 1, f"the alert was stored: {first.as_dict()}"
    assert again.duplicate_alert_ids == first.new_alert_ids, "the second ingest found the same alert"
    assert seen_committed == [(first.new_alert_ids[0], True)], \
        f"matching was asked once, for the new alert, after its commit: {seen_committed}"


def test_ingest_and_show_answers_the_stored_alert_as_the_api_shows_it(haven_env, sqlite_url):
    haven_env(sqlite_url)
    shown = service.ingest_and_show(replay([ORANGE.read_bytes()], utcnow(), tag="SHOW")[0], Origin(source="test"))
    assert len(shown["stored"]) == 1, f"one alert stored: {shown}"
    assert shown["alerts"][0]["id"] == shown["stored"][0], "the stored alert is shown"
    assert shown["alerts"][0]["msg_type"] == "Alert", "shown as the normalized alert"
