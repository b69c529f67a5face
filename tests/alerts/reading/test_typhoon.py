"""Typhoon wind swath, the demo typhoon chain (areas over the demo portfolio's coastal cities), `haven demo`
and the feeds/ingest commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from shapely.geometry import Point, shape

from alerts.reading.parse import parse_message
from alerts.reading.replay import replay
from config.demo_portfolio import CITIES
from geo.swath import Fix, footprint, wind_swath
from tests.support import FIXTURES, ROOT, haven, subprocess_env

DEMO = ROOT / "config" / "demo"
CHAIN = ["01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml", "03-typhoon-infa-cancel.xml"]


def city(name: str) -> Point:
    row = next(c for c in CITIES if c[1] == name)
    return Point(row[3], row[4])


def test_footprint_follows_each_quadrant_radius():
    fp = footprint(Fix(120.0, 25.0, {"ne": 300, "se": 100, "sw": 100, "nw": 100}))
    # 200 km north-east of the eye is inside (NE radius 300 km); 200 km south-west is not (SW radius 100 km).
    assert fp.contains(Point(121.4, 26.3)), 'fact: fp.contains(Point(121.4, 26.3))'
    assert not fp.contains(Point(118.6, 23.7)), 'fact: not fp.contains(Point(118.6, 23.7))'
    assert footprint(Fix(120.0, 25.0, {"ne": 0, "se": 0, "sw": 0, "nw": 0})).is_empty


def test_swath_covers_the_ground_between_fixes():
    swath = wind_swath([Fix(125.0, 25.0, dict.fromkeys(("ne", "se", "sw", "nw"), 100)),
                        Fix(121.0, 29.0, dict.fromkeys(("ne", "se", "sw", "nw"), 100))])
    assert swath.contains(Point(123.0, 27.0))  # on the track, between the two positions
    assert not swath.contains(Point(125.0, 29.0))


def test_demo_chain_areas_cover_the_coastal_cities_and_the_update_is_wider():
    parsed = [parse_message((DEMO / name).read_bytes(), max_bytes=10**6).alerts[0] for name in CHAIN]
    orange, red, cancel = ([shape({"type": "Polygon", "coordinates": [p.alert["infos"][0]["areas"][0]["polygons"][0]]})
                            for p in parsed])
    for name in ("温州市", "台州市", "宁波市", "舟山市", "福州市", "宁德市"):
        assert orange.contains(city(name)), name
    for name in ("杭州市", "绍兴市", "嘉兴市", "莆田市", "泉州市"):
        assert red.contains(city(name)), name
        assert not orange.contains(city(name)), name
    assert red.contains(orange), 'fact: red.contains(orange)'
    assert not city("广州市").within(red), 'fact: not city("广州市").within(red)'
    assert [p.alert["msg_type"] for p in parsed] == ["Alert", "Update", "Cancel"]
    assert [p.max_severity for p in parsed[:2]] == ["Severe", "Extreme"]
    assert [[i["language"] for i in p.alert["infos"]] for p in parsed] == [["zh-CN", "en-US"]] * 3
    assert parsed[2].alert["references"][1] == {"sender": "12379@cma.gov.cn",
                                                "identifier": parsed[1].alert["identifier"],
                                                "sent": parsed[1].alert["sent"]}


def test_replay_moves_the_chain_to_now_and_keeps_its_references():
    now = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    messages = replay([(DEMO / name).read_bytes() for name in CHAIN], now, tag="T1")
    parsed = [parse_message(raw, max_bytes=10**6).alerts[0].alert for raw in messages]
    assert parsed[0]["sent"] == "2030-01-01T10:00:00+08:00", 'fact: parsed[0]["sent"] == "2030-01-01T10:00:00+08:00"'
    assert parsed[0]["identifier"].endswith("-T1"), 'fact: parsed[0]["identifier"].endswith("-T1")'
    assert parsed[1]["sent"] == "2030-01-01T18:00:00+08:00"
    assert parsed[1]["references"] == [{"sender": parsed[0]["sender"], "identifier": parsed[0]["identifier"],
                                        "sent": parsed[0]["sent"]}]


@pytest.mark.slow
def test_haven_demo_replays_the_chain(demo_run):
    out = demo_run
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("Alert" in line and "Severe" in line and "chain 1 is active" in line for line in lines)
    assert any("Update" in line and "Extreme" in line for line in lines)
    assert any("Cancel" in line and "is cancelled" in line for line in lines)


@pytest.mark.slow
def test_feeds_and_ingest_commands(tmp_path):
    env = subprocess_env(HAVEN_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", HAVEN_REDIS_URL="")
    out = haven("feeds", "add", "http://127.0.0.1:9/alerts.json", "--kind", "nws-geojson", "--every", "2m", env=env)
    assert out.returncode == 0, 'fact: out.returncode == 0'
    assert "every 120 s" in out.stdout, 'fact: "every 120 s" in out.stdout'
    imported = haven("feeds", "import", env=env)
    assert imported.returncode == 0, 'fact: imported.returncode == 0'
    assert "api.weather.gov" in imported.stdout, 'fact: "api.weather.gov" in imported.stdout'
    listing = json.loads(haven("feeds", "list", "--json", env=env).stdout)["feeds"]
    assert listing[0]["health"]["status"] == "pending"
    assert all(f["health"]["status"] == "disabled" for f in listing[1:])  # the agencies stay off: offline start
    cap = FIXTURES / "alerts/cap-valid/au_bom_thunderstorm_geocode-only_cap-prefix.xml"
    first = json.loads(haven("alerts", "ingest", "--json", str(cap), env=env).stdout)["ingested"][0]
    second = json.loads(haven("alerts", "ingest", "--json", str(cap), env=env).stdout)["ingested"][0]
    assert len(first["stored"]) == 1, 'fact: len(first["stored"]) == 1'
    assert second["duplicates"] == first["stored"], 'fact: second["duplicates"] == first["stored"]'
    bad = haven("alerts", "ingest", str(FIXTURES / "alerts/cap-invalid/taiwan_wrong-namespace.xml"), env=env)
    assert bad.returncode == 2, 'fact: bad.returncode == 2'
    assert "not CAP 1.1 or 1.2" in bad.stderr, 'fact: "not CAP 1.1 or 1.2" in bad.stderr'
    assert "(quarantined)" in bad.stderr, 'fact: "(quarantined)" in bad.stderr'
