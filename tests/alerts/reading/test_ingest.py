"""Ingest and chains on SQLite and PostgreSQL: identity, dedupe, early references, cancel, lapse, quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from alerts.dao.alerts_dao import list_alerts, list_quarantine
from alerts.reading import chains
from alerts.reading.ingest import Origin, ingest_payload
from store.db import session_scope
from store.models import Alert, AlertChain, AlertReference, AuditEvent, QuarantinedMessage
from tests.support import FIXTURES, ROOT

CORPUS = FIXTURES / "alerts"
DEMO = ROOT / "config" / "demo"
ORANGE, RED, CANCEL = (DEMO / n for n in ("01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml",
                                          "03-typhoon-infa-cancel.xml"))
NOW = datetime(2021, 7, 24, 12, 0, tzinfo=UTC)


def ingest(url: str, path_or_raw, now: datetime = NOW, **origin):
    raw = path_or_raw.read_bytes() if isinstance(path_or_raw, Path) else path_or_raw
    with session_scope(url) as session:
        return ingest_payload(session, raw, Origin(source=str(path_or_raw)[:200], max_bytes=10**7, **origin), now)


def counts(url: str) -> dict:
    with session_scope(url) as session:
        return {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Alert, AlertChain, AlertReference, QuarantinedMessage)}


def chain_of(url: str, alert_id: int) -> dict:
    with session_scope(url) as session:
        alert = session.get(Alert, alert_id)
        chain = session.get(AlertChain, alert.chain_id)
        members = chains.chain_alerts(session, chain.id)
        current = session.get(Alert, chain.current_alert_id)
        return {"id": chain.id, "state": chain.state, "current": current.msg_type,
                "effective": chain.effective_alert_id, "max_severity": chain.max_severity,
                "members": [a.msg_type for a in members]}


def test_ingest_keeps_raw_bytes_and_normalized_and_reingest_changes_nothing(db_url):
    path = CORPUS / "cap-valid/is_imo_wind_polygon_2info-is-en_resource-digest.xml"
    first = ingest(db_url, path)
    assert len(first.new_alert_ids) == 1
    before = counts(db_url)
    with session_scope(db_url) as session:
        alert = session.get(Alert, first.new_alert_ids[0])
        assert alert.raw == path.read_bytes()
        assert alert.normalized["infos"][1]["language"] == "en-US", 'fact: alert.normalized["infos"][1]["language"] == "en-US"'
        assert alert.sent == "2021-09-10T13:30:26-00:00", 'fact: alert.sent == "2021-09-10T13:30:26-00:00"'
        chain_updated = session.get(AlertChain, alert.chain_id).updated_at
        audits = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    again = ingest(db_url, path, now=NOW + timedelta(hours=1))
    assert again.new_alert_ids == [], 'fact: again.new_alert_ids == []'
    assert again.duplicate_alert_ids == first.new_alert_ids, 'fact: again.duplicate_alert_ids == first.new_alert_ids'
    assert counts(db_url) == before
    with session_scope(db_url) as session:
        assert session.get(AlertChain, alert.chain_id).updated_at == chain_updated
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == audits


def test_chain_alert_update_cancel_in_order(db_url):
    orange = ingest(db_url, ORANGE).new_alert_ids[0]
    assert chain_of(db_url, orange)["state"] == "active"
    red = ingest(db_url, RED).new_alert_ids[0]
    chain = chain_of(db_url, red)
    assert chain["members"] == ["Alert", "Update"], 'fact: chain["members"] == ["Alert", "Update"]'
    assert chain["current"] == "Update", 'fact: chain["current"] == "Update"'
    assert chain["max_severity"] == "Extreme", 'fact: chain["max_severity"] == "Extreme"'
    assert chain["effective"] == red, 'fact: chain["effective"] == red'
    cancel = ingest(db_url, CANCEL, now=NOW + timedelta(days=3)).new_alert_ids[0]
    chain = chain_of(db_url, cancel)
    assert chain["state"] == "cancelled", 'fact: chain["state"] == "cancelled"'
    assert chain["current"] == "Cancel", 'fact: chain["current"] == "Cancel"'
    assert chain["effective"] == red, 'fact: chain["effective"] == red'
    assert chain_of(db_url, orange)["id"] == chain["id"]


def test_references_arriving_before_their_target_join_one_chain(db_url):
    cancel = ingest(db_url, CANCEL).new_alert_ids[0]
    red = ingest(db_url, RED).new_alert_ids[0]
    orange = ingest(db_url, ORANGE).new_alert_ids[0]
    chain = chain_of(db_url, orange)
    assert chain["id"] == chain_of(db_url, red)["id"] == chain_of(db_url, cancel)["id"]
    assert chain["members"] == ["Alert", "Update", "Cancel"], 'fact: chain["members"] == ["Alert", "Update", "Cancel"]'
    assert chain["state"] == "cancelled", 'fact: chain["state"] == "cancelled"'
    assert counts(db_url)["AlertChain"] == 1


def test_update_that_arrives_first_then_its_original(db_url):
    red = ingest(db_url, RED).new_alert_ids[0]
    orange = ingest(db_url, ORANGE).new_alert_ids[0]
    chain = chain_of(db_url, orange)
    assert chain["members"] == ["Alert", "Update"], 'fact: chain["members"] == ["Alert", "Update"]'
    assert chain["current"] == "Update", 'fact: chain["current"] == "Update"'
    assert chain["state"] == "active", 'fact: chain["state"] == "active"'
    assert chain["effective"] == red


def test_alert_without_expires_lapses_after_24_hours(db_url):
    raw = (CORPUS / "cap-valid/us_nws_cap11_flash-flood-watch_geocode-only.xml").read_bytes()
    sent = datetime(2010, 8, 30, 0, 0, tzinfo=UTC)
    no_expires = raw.replace(b"<expires>", b"<!--").replace(b"</expires>", b"-->")
    stored = ingest(db_url, no_expires, now=sent).new_alert_ids[0]
    with session_scope(db_url) as session:
        alert = session.get(Alert, stored)
        assert alert.expires_at - alert.sent_at == timedelta(hours=24)
        assert any(f["code"] == "default-lifetime" for f in alert.flags)
        lapse = alert.expires_at
        assert [a["id"] for a in list_alerts(session, active=True, now=lapse - timedelta(minutes=1))] == [stored]
        assert list_alerts(session, active=True, now=lapse + timedelta(minutes=1)) == []
        assert chains.expire_lapsed(session, lapse - timedelta(minutes=1)) == []
        assert chains.expire_lapsed(session, lapse + timedelta(minutes=1)) == [alert.chain_id]
    assert chain_of(db_url, stored)["state"] == "expired"


def test_invalid_message_is_quarantined_with_its_reason_once(db_url):
    path = CORPUS / "cap-invalid/eccc_update_empty-references.xml"
    first = ingest(db_url, path)
    assert first.new_alert_ids == [], 'fact: first.new_alert_ids == []'
    assert len(first.quarantine_ids) == 1, 'fact: len(first.quarantine_ids) == 1'
    second = ingest(db_url, path)
    assert second.quarantine_ids == first.quarantine_ids
    with session_scope(db_url) as session:
        listing = list_quarantine(session)
        row = session.get(QuarantinedMessage, first.quarantine_ids[0])
        assert row.raw == path.read_bytes(), 'fact: row.raw == path.read_bytes()'
        assert row.occurrences == 2, 'fact: row.occurrences == 2'
    assert listing["total"] == 1
    assert listing["messages"][0]["path"] == "/alert/references"
    assert "must reference at least one earlier message" in listing["messages"][0]["reason"]


def test_partly_invalid_collection_stores_the_good_parts(db_url):
    document = json.loads((CORPUS / "nws-geojson/point-phoenix_2024_heat-aq_urn-oid-ids_ends-null.json").read_text())
    document["features"][1]["properties"]["sent"] = "date:now"
    result = ingest(db_url, json.dumps(document).encode())
    assert len(result.new_alert_ids) == 1, 'fact: len(result.new_alert_ids) == 1'
    assert len(result.quarantine_ids) == 1, 'fact: len(result.quarantine_ids) == 1'
    assert "/features[2]/properties/sent" in result.problems[0]


def test_failed_signature_is_quarantined_and_a_feed_can_require_signatures(db_url):
    togo = ingest(db_url, CORPUS / "cap-valid/tg_anamet_heavy-rain_fr_2polygons_xmldsig-ecdsa.xml")
    assert togo.new_alert_ids == [], 'fact: togo.new_alert_ids == []'
    assert "XML signature verification failed" in togo.problems[0], 'fact: "XML signature verification failed" in togo.problems[0]'
    from alerts.reading.feedstate import add_feed

    with session_scope(db_url) as session:
        feed_id = add_feed(session, "https://feeds.example.org/cap", "cap-xml", "60s", require_signature=True).id
    with session_scope(db_url) as session:
        from store.models import Feed

        feed = session.get(Feed, feed_id)
        unsigned = ingest_payload(session, (CORPUS / "cap-valid/is_imo_wind_polygon_2info-is-en_resource-digest.xml")
                                  .read_bytes(), Origin(feed=feed, max_bytes=10**7), NOW)
        signed = ingest_payload(session, (CORPUS / "cap-valid/us_ipaws_montgomery-md_lae_polygon_derefuri-jpeg_xmldsig"
                                          ".xml").read_bytes(), Origin(feed=feed, max_bytes=10**7), NOW)
    assert unsigned.new_alert_ids == [], 'fact: unsigned.new_alert_ids == []'
    assert "requires a verified XML signature" in unsigned.problems[0], 'fact: "requires a verified XML signature" in unsigned.problems[0]'
    assert len(signed.new_alert_ids) == 1
    with session_scope(db_url) as session:
        assert session.get(Alert, signed.new_alert_ids[0]).signature == "verified"


def test_all_clear_update_and_qweather_cancel_end_their_chains(db_url):
    ended = ingest(db_url, CORPUS / "cap-update-cancel/ca_eccc_tstorm-watch-ended_update_2refs_en-fr_polygons.xml")
    assert chain_of(db_url, ended.new_alert_ids[0])["state"] == "cancelled"
    warning = json.loads((CORPUS / "china/qweather_getWarningNow-zh.json").read_text())
    first = ingest(db_url, json.dumps(warning).encode(), admin_code="310000").new_alert_ids[0]
    cancel = dict(warning["warning"][0], id="10102010020230403160000500681617", status="cancel",
                  related=warning["warning"][0]["id"], pubTime="2023-04-03T16:00+08:00")
    second = ingest(db_url, json.dumps({**warning, "warning": [cancel]}).encode(), admin_code="310000")
    chain = chain_of(db_url, second.new_alert_ids[0])
    assert chain["id"] == chain_of(db_url, first)["id"], 'fact: chain["id"] == chain_of(db_url, first)["id"]'
    assert chain["state"] == "cancelled", 'fact: chain["state"] == "cancelled"'
    with session_scope(db_url) as session:
        stored = session.get(Alert, first)
        assert stored.normalized["infos"][0]["areas"][0]["geocodes"] == [{"name": "CN-ADCODE", "value": "310000"}]
        assert session.get(Alert, second.new_alert_ids[0]).normalized["infos"][0]["expires"] == "2023-04-03T17:00+08:00"


def test_new_typhoon_positions_continue_the_same_chain(db_url):
    track = json.loads((CORPUS / "china/qweather_getStormTrack.json").read_text())
    first = ingest(db_url, json.dumps(track).encode(), storm_id="NP_2101").new_alert_ids[0]
    later = dict(track, now=dict(track["now"], pubTime="2024-05-30T08:00+08:00", type="TY"))
    second = ingest(db_url, json.dumps(later).encode(), storm_id="NP_2101").new_alert_ids[0]
    chain = chain_of(db_url, second)
    assert chain["id"] == chain_of(db_url, first)["id"], 'fact: chain["id"] == chain_of(db_url, first)["id"]'
    assert chain["members"] == ["Alert", "Alert"], 'fact: chain["members"] == ["Alert", "Alert"]'


def test_ingest_queues_matching_after_commit(db_url, haven_env):
    haven_env(db_url)
    from alerts.service import ingest as ingest_and_match

    result = ingest_and_match(ORANGE.read_bytes(), Origin(source="test"), db_url)
    with session_scope(db_url) as session:
        alert = session.get(Alert, result.new_alert_ids[0])
        assert alert.matched_at is not None, 'fact: alert.matched_at is not None'
        assert alert.area_geojson["type"] in ("Polygon", "MultiPolygon"), 'fact: alert.area_geojson["type"] in ("Polygon", "MultiPolygon")'
