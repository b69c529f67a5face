"""Areas from outside: circles past the radius limit are refused, empty polygons are skipped with a flag,
and one stored alert with a broken area never takes the map, the alert view or its chain's Cancel down.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import shapely
from sqlalchemy import update

from alerts.matching import spatial
from alerts.reading.errors import MessageInvalid
from alerts.reading.parse import parse_message
from book.dao import upsert_assets, upsert_customers
from geo.areas import alert_geometry
from geo.gazetteer import Gazetteer
from geo.index import AssetIndex
from store.db import session_scope
from store.models import Alert
from store.types import utcnow
from tests.support import FIXTURES, haven, make_user, subprocess_env

BLIZZARD = FIXTURES / "cap-handwritten" / "nws_cap11_blizzard-warning_4-ugc-zones_empty-polygon.xml"
NWS_DAMAGED = FIXTURES / "alerts" / "cap-invalid" / "nws_cap11_empty-enums_bad-polygons_empty-references.xml"
WENZHOU = (120.7, 28.0)


def cap(area: str, identifier: str = "T-1", msg_type: str = "Alert", references: str = "",
        sent: str | None = None, expires: str | None = None) -> bytes:
    sent = sent or utcnow().replace(microsecond=0).isoformat()
    refs = f"<references>{references}</references>" if references else ""
    until = f"<expires>{expires}</expires>" if expires else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
            f"<identifier>{identifier}</identifier><sender>ops@example.org</sender><sent>{sent}</sent>"
            f"<status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}<info>"
            f"<category>Met</category><event>Storm</event><urgency>Expected</urgency><severity>Severe</severity>"
            f"<certainty>Likely</certainty>{until}<headline>Storm {identifier}</headline>"
            f"<area><areaDesc>Somewhere</areaDesc>{area}</area></info></alert>").encode()


def refusal(raw: bytes) -> MessageInvalid:
    with pytest.raises(MessageInvalid) as caught:
        parse_message(raw)
    return caught.value


# --- circles past the limit ----------------------------------------------------------------------

def test_a_billion_km_radius_is_refused_naming_the_circle_and_the_limit():
    problem = refusal(cap("<circle>28.0,120.7 1000000000</circle>"))
    assert str(problem) == "/alert/info[1]/area[1]/circle[1]: radius 1000000000 km is above the 3000 km limit", \
        f"the refusal should name the circle and the limit, got {problem}"


@pytest.mark.parametrize("radius, words", [
    ("3000.5", "radius 3000.5 km is above the 3000 km limit"),
    ("20100", "radius 20100 km is above the 3000 km limit"),
    ("-5", "radius -5 km is negative"),
    ("NaN", "radius 'NaN' is not a finite number of km"),
    ("inf", "radius 'inf' is not a finite number of km"),
    ("1e9", "radius '1e9' is not a plain decimal number of km (no sign, no exponent)"),
    ("ten", "radius 'ten' is not a number of km"),
])
def test_radius_out_of_range_is_refused_with_the_reason(radius, words):
    problem = refusal(cap(f"<circle>28.0,120.7 50</circle><circle>28.0,120.7 {radius}</circle>"))
    assert problem.path == "/alert/info[1]/area[1]/circle[2]", f"wrong element named: {problem.path}"
    assert problem.reason == words, f"radius {radius}: expected {words!r}, got {problem.reason!r}"


def test_radius_at_the_limit_is_accepted_and_drawn():
    parsed = parse_message(cap("<circle>28.0,120.7 3000</circle>")).alerts[0]
    assert parsed.alert["infos"][0]["areas"][0]["circles"] == [{"center": [120.7, 28.0], "radius_km": 3000.0}]
    area = alert_geometry(parsed.alert).geometry
    assert shapely.intersects_xy(area, 140.0, 35.0), "Tokyo is about 2,000 km from Wenzhou: inside 3,000 km"


def test_typhoon_wind_radius_past_the_limit_is_refused_naming_the_quadrant():
    track = json.loads((FIXTURES / "alerts" / "china" / "qweather_getStormTrack.json").read_text())
    track["track"][1]["windRadius30"]["seRadius"] = "1000000000"
    with pytest.raises(MessageInvalid) as caught:
        parse_message(json.dumps(track).encode(), "application/json")
    assert str(caught.value) == "/track[2]/windRadius30/seRadius: radius 1e+09 km is above the 3000 km limit", \
        f"the refusal should name the track point and quadrant: {caught.value}"


def test_polygon_edge_of_exactly_half_the_globe_is_refused_as_ambiguous():
    problem = refusal(cap("<polygon>10,0 10,180 20,180 20,0 10,0</polygon>"))
    assert problem.path == "/alert/info[1]/area[1]/polygon", f"an edge from 0 to 180 could go either way round; got {problem}"
    assert "spans exactly 180 degrees" in problem.reason, f"an edge from 0 to 180 could go either way round; got {problem}"


def test_cli_parse_exits_2_naming_file_element_and_reason(tmp_path):
    path = tmp_path / "huge-circle.xml"
    path.write_bytes(cap("<circle>28.0,120.7 1000000000</circle>"))
    out = haven("alerts", "parse", str(path), "--json", env=subprocess_env())
    assert out.returncode == 2, f"exit {out.returncode}, stdout {out.stdout[:200]!r}"
    assert out.stdout == "", f"exit {out.returncode}, stdout {out.stdout[:200]!r}"
    assert str(path) in out.stderr, f"stderr should name file, element and reason: {out.stderr}"
    assert "/alert/info[1]/area[1]/circle[1]" in out.stderr, f"stderr should name file, element and reason: {out.stderr}"
    assert "above the 3000 km limit" in out.stderr, f"stderr should name file, element and reason: {out.stderr}"


def test_api_refuses_the_circle_with_422_and_quarantines_it(sqlite_url, api_server):
    api = api_server(sqlite_url)
    ops = api.as_user(make_user(sqlite_url, "supervisor"))
    response = ops.post("/v1/alerts?confirm=true", data=cap("<circle>28.0,120.7 1000000000</circle>"))
    assert response.status_code == 422, f"expected 422, got {response.status_code}: {response.text[:300]}"
    error = response.json()["error"]
    assert error["field"] == "/alert/info[1]/area[1]/circle[1]", error
    assert "3000 km limit" in error["message"], error
    quarantined = api.as_user(make_user(sqlite_url, "manager")).get("/v1/quarantine").json()
    assert quarantined["total"] == 1, f"the refused message should be in the quarantine with its reason: {quarantined}"
    assert "3000 km limit" in quarantined["messages"][0]["reason"], f"the refused message should be in the quarantine with its reason: {quarantined}"
    assert ops.get("/v1/alerts").json()["alerts"] == [], "nothing should have been stored"


# --- empty polygons ------------------------------------------------------------------------------

def zone_gazetteer(tmp_path) -> Gazetteer:
    """The four Minnesota forecast zones as boxes, in the operator's boundaries format."""
    import geopandas as gpd

    path = tmp_path / "mn-zones.geojson"
    boxes = {"MNZ041": (-95.8, 45.7, -95.1, 46.1), "MNZ047": (-95.8, 45.3, -95.1, 45.7),
             "MNZ048": (-96.3, 45.4, -95.8, 45.8), "MNZ056": (-96.0, 45.0, -95.1, 45.3)}
    gpd.GeoDataFrame({"scheme": ["UGC"] * 4, "code": list(boxes), "name": list(boxes)},
                     geometry=[shapely.box(*b) for b in boxes.values()], crs="EPSG:4326").to_file(path)
    return Gazetteer.from_file(path)


def test_blizzard_zone_alert_with_an_empty_polygon_is_its_four_zones(tmp_path):
    message = parse_message(BLIZZARD.read_bytes())
    parsed = message.alerts[0]
    assert {"code": "empty-polygon", "path": "/alert/info[1]/area[1]/polygon[1]"}.items() <= parsed.flags[0].items(), \
        f"the empty polygon should be flagged where it is: {parsed.flags}"
    area = parsed.alert["infos"][0]["areas"][0]
    assert area["polygons"] == [], f"the area should keep its UGC zones: {area}"
    assert ([g["value"] for g in area["geocodes"] if g["name"] == "UGC"] == [
        "MNZ041", "MNZ047", "MNZ048", "MNZ056"]), f"the area should keep its UGC zones: {area}"
    geometry = alert_geometry(parsed.alert, zone_gazetteer(tmp_path)).geometry
    # Alexandria (Douglas County, MNZ041), Morris (Stevens, MNZ048), Minneapolis (not warned).
    index = AssetIndex.from_arrays(["alexandria", "morris", "minneapolis"], [-95.38, -95.91, -93.27],
                                   [45.89, 45.59, 44.98])
    assert sorted(index.query(geometry).tolist()) == ["alexandria", "morris"], \
        "assets in the warned zones should match through the geocodes, Minneapolis should not"


def test_api_stores_the_blizzard_zone_alert_with_its_flag_instead_of_quarantining_it(sqlite_url, api_server):
    api = api_server(sqlite_url)
    ops = api.as_user(make_user(sqlite_url, "supervisor"))
    response = ops.post("/v1/alerts?confirm=true", data=BLIZZARD.read_bytes(), headers={"Content-Type": "application/cap+xml"})
    assert response.status_code == 201, f"the zone alert should be stored: {response.status_code} {response.text}"
    stored = ops.get(f"/v1/alerts/{response.json()['stored'][0]}").json()
    assert any(isinstance(f, dict) and f.get("code") == "empty-polygon" for f in stored["flags"]), stored["flags"]
    assert api.as_user(make_user(sqlite_url, "manager")).get("/v1/quarantine").json()["total"] == 0, \
        "nothing should be quarantined"


def test_self_closing_empty_polygon_falls_back_to_the_circle():
    parsed = parse_message(cap("<polygon/><circle>28.0,120.7 10</circle>")).alerts[0]
    assert [f["code"] for f in parsed.flags] == ["empty-polygon"], parsed.flags
    assert shapely.intersects_xy(alert_geometry(parsed.alert).geometry, *WENZHOU), "the circle should be the area"


def test_area_with_only_an_empty_polygon_is_still_refused():
    problem = refusal(cap("<polygon></polygon>"))
    assert problem.path == "/alert/info[1]/area[1]/polygon[1]", f"got {problem}"
    assert "polygon is empty" in problem.reason, f"got {problem}"
    assert "no other polygon, circle or geocode" in problem.reason, f"got {problem}"


def test_real_nws_file_with_an_empty_polygon_is_refused_for_its_other_faults_only():
    """The damaged NWS Elko alert of the corpus: still invalid (empty enumerations, '+' signs), but its
    empty second polygon is no longer one of the reasons, since its area also has a polygon and geocodes."""
    problem = refusal(NWS_DAMAGED.read_bytes())
    reported = {p.path: p.reason for p in problem.problems}
    assert "'+' sign" in reported.get("/alert/info[1]/area[1]/polygon[1]", ""), reported
    assert "/alert/info[1]/area[1]/polygon[2]" not in reported, f"the empty polygon is skipped, not a fault: {reported}"


# --- one broken stored alert ---------------------------------------------------------------------

@pytest.fixture
def _fresh_indexes():
    spatial.forget_indexes()
    yield
    spatial.forget_indexes()


def seed_book(url: str) -> None:
    with session_scope(url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": "+8617000000001"}])
        upsert_assets(session, [{"asset_id": f"A{i}", "customer_id": "C1", "lon": WENZHOU[0] + i * 0.01,
                                 "lat": WENZHOU[1]} for i in range(5)]
                      + [{"asset_id": "FAR", "customer_id": "C1", "lon": 100.0, "lat": 20.0}])


def test_one_broken_stored_area_leaves_the_map_the_alert_view_and_a_cancel_working(pg_clean_url, api_server,
                                                                                   _fresh_indexes, caplog):
    api = api_server(pg_clean_url)
    seed_book(pg_clean_url)
    ops = api.as_user(make_user(pg_clean_url, "supervisor"))
    expires = (utcnow() + timedelta(hours=6)).replace(microsecond=0).isoformat()
    posted = {}
    for name, area in (("good", "<circle>28.0,120.7 20</circle>"), ("huge", "<circle>30.0,122.0 10</circle>"),
                       ("garbled", "<circle>25.0,119.0 10</circle>"), ("bowtie", "<circle>1.0,1.0 10</circle>")):
        body = cap(area, identifier=name, expires=expires)
        response = ops.post("/v1/alerts?confirm=true", data=body)
        assert response.status_code == 201, f"{name}: {response.status_code} {response.text[:300]}"
        posted[name] = response.json()["stored"][0]

    # Rows as an older release (or a hand edit) left them: a billion-km circle accepted before the limit,
    # an unreadable stored area, and a self-intersecting one that GEOS cannot overlay as it is.
    with session_scope(pg_clean_url) as session:
        huge = session.get(Alert, posted["huge"])
        normalized = json.loads(json.dumps(huge.normalized))
        normalized["infos"][0]["areas"][0]["circles"][0]["radius_km"] = 1e9
        session.execute(update(Alert).where(Alert.id == posted["huge"]).values(normalized=normalized,
                                                                                area_geojson=None))
        session.execute(update(Alert).where(Alert.id == posted["garbled"]).values(
            area_geojson={"type": "Polygon", "coordinates": [[["not", "a"], ["number", None]]]}))
        session.execute(update(Alert).where(Alert.id == posted["bowtie"]).values(
            area_geojson={"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}))

    overview = ops.get("/v1/console/map")
    assert overview.status_code == 200, f"the map should still answer: {overview.status_code} {overview.text[:300]}"
    warnings = {w["alert_id"]: w for w in overview.json()["warnings"]}
    assert set(warnings) == set(posted.values()), f"every alert should still be listed: {sorted(warnings)}"
    assert warnings[posted["good"]]["area"]["type"] == "Polygon", "the good alert should keep its area"
    assert warnings[posted["garbled"]]["area"] is None, "the unreadable area should be marked, not drawn"
    assert warnings[posted["garbled"]]["area_error"], "the unreadable area should be marked, not drawn"
    assert warnings[posted["huge"]]["area"] is None, "a billion-km circle should not be drawn at all"
    assert any(f"alert {posted['garbled']}" in r.getMessage() for r in caplog.records), \
        "the broken area should be logged with its alert id"

    cells = ops.get("/v1/console/map/assets")
    assert cells.status_code == 200, f"the asset counts should still answer: {cells.status_code} {cells.text[:300]}"
    assert cells.json()["total"] == 5, f"the five Wenzhou assets are inside the good circle: {cells.json()}"
    for name in ("huge", "garbled", "bowtie"):
        detail = ops.get(f"/v1/alerts/{posted[name]}")
        assert detail.status_code == 200, f"GET alert {name}: {detail.status_code} {detail.text[:300]}"

    huge = ops.get(f"/v1/alerts/{posted['huge']}").json()
    cancel = cap("<circle>30.0,122.0 10</circle>", identifier="huge-cancel", msg_type="Cancel",
                 references=f"ops@example.org,huge,{huge['sent']}")
    response = ops.post("/v1/alerts?confirm=true", data=cancel)
    assert response.status_code == 201, f"the Cancel should be accepted: {response.status_code} {response.text}"
    after = ops.get(f"/v1/alerts/{posted['huge']}").json()
    assert after["chain"]["state"] == "cancelled", f"the Cancel should end the chain: {after['chain']}"
    cancel_view = ops.get(f"/v1/alerts/{response.json()['stored'][0]}").json()
    assert cancel_view["matched_at"] is not None, "the Cancel should have been matched"

    with session_scope(pg_clean_url) as session:
        result = spatial.match_alert(session, posted["huge"])
        assert result.matched_assets == 0, "the oversized circle should match nothing rather than the world"
        flags = session.get(Alert, posted["huge"]).flags
        assert any("circle out of range ignored" in str(f) for f in flags), f"the reason should be flagged: {flags}"
        result = spatial.match_alert(session, posted["garbled"])
        assert result.matched_assets == 0, "matching again should replace the unreadable stored area with the one the message describes"
        assert session.get(Alert, posted["garbled"]).area_geojson["type"] == "Polygon", "matching again should replace the unreadable stored area with the one the message describes"
    assert ops.get("/v1/console/map").status_code == 200
