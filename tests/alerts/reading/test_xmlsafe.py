"""Hostile and sloppy input, and the `haven alerts parse` contract (exit codes, stdout, stderr lines)."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.reading.errors import BodyTooLarge, MessageInvalid
from alerts.reading.parse import parse_message
from tests.support import FIXTURES, haven, subprocess_env

CORPUS = FIXTURES / "alerts"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"


def cap(area: str = "<areaDesc>Somewhere</areaDesc>", language: str = "en-US", sender: str = "ops@example.org",
        extra_info: str = "", msg_type: str = "Alert", references: str = "") -> str:
    refs = f"<references>{references}</references>" if references else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP12}"><identifier>T-1</identifier>'
            f"<sender>{sender}</sender><sent>2021-07-24T10:00:00+08:00</sent><status>Actual</status>"
            f"<msgType>{msg_type}</msgType><scope>Public</scope>{refs}<info><language>{language}</language>"
            "<category>Met</category><event>Typhoon</event><urgency>Expected</urgency><severity>Severe</severity>"
            f"<certainty>Likely</certainty>{extra_info}<area>{area}</area></info></alert>")


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<!ENTITY leaked 'secret'>")

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()


def test_external_entities_and_xinclude_are_never_fetched(recorder):
    base, hits = recorder
    xxe = (f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "{base}/entity">'
           f'<!ENTITY % remote SYSTEM "{base}/dtd"> %remote;]>' + cap(area="<areaDesc>&xxe;</areaDesc>"))
    with pytest.raises(MessageInvalid, match="document type declarations"):
        parse_message(xxe.encode(), max_bytes=10**6)
    xinclude = cap(extra_info=f'<x xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{base}/inc"/></x>')
    with pytest.raises(MessageInvalid) as caught:
        parse_message(xinclude.encode(), max_bytes=10**6)
    assert "'x': This element is not expected" in caught.value.reason
    stylesheet = f'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="{base}/x.xsl"?>' + cap()[38:]
    assert parse_message(stylesheet.encode(), max_bytes=10**6).alerts
    time.sleep(0.2)
    assert hits == []


def test_billion_laughs_is_refused_fast_with_bounded_memory():
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE alert [{entities}]>' + cap(area="<areaDesc>&lol9;</areaDesc>")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(MessageInvalid, match="document type declarations"):
        parse_message(bomb.encode(), max_bytes=10**6)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, 'fact: elapsed < 1.0'
    assert peak < 5 * 1024 * 1024, 'fact: peak < 5 * 1024 * 1024'


def test_oversized_body_is_refused_before_parsing():
    body = cap(extra_info="<description>" + "x" * (6 * 1024 * 1024) + "</description>").encode()
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(BodyTooLarge, match="exceeds the limit of 5242880 bytes"):
        parse_message(body, max_bytes=5 * 1024 * 1024)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, 'fact: elapsed < 1.0'
    assert peak < 1024 * 1024, 'fact: peak < 1024 * 1024'


def test_latin1_bytes_under_utf8_are_recovered_and_noted():
    raw = cap(area="<areaDesc>Montr\xe9al</areaDesc>").encode("latin-1")
    parsed = parse_message(raw, max_bytes=10**6).alerts[0]
    assert parsed.alert["infos"][0]["areas"][0]["desc"] == "Montréal"
    assert parsed.flags[0]["code"] == "encoding-recovered", 'fact: parsed.flags[0]["code"] == "encoding-recovered"'
    assert "byte" in parsed.flags[0]["detail"], 'fact: "byte" in parsed.flags[0]["detail"]'


def test_utf16_and_bom_documents_parse():
    text = cap(area="<areaDesc>臺北市</areaDesc>").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert parse_message(text.encode("utf-16"), max_bytes=10**6).alerts[0].alert["infos"][0]["areas"][0]["desc"] == "臺北市"
    assert parse_message(b"\xef\xbb\xbf" + cap().encode(), max_bytes=10**6).alerts


def test_swapped_circle_in_cap_is_flagged_and_kept_as_published():
    raw = cap(area="<areaDesc>Gävleborgs län</areaDesc><circle>16.5695,61.4419 10</circle>", language="sv-SE")
    parsed = parse_message(raw.encode(), max_bytes=10**6).alerts[0]
    assert parsed.alert["infos"][0]["areas"][0]["circles"][0]["center"] == [61.4419, 16.5695]
    assert [f["code"] for f in parsed.flags] == ["coordinates-swapped"]
    assert parsed.flags[0]["path"] == "/alert/info[1]/area[1]/circle[1]"
    right_way = cap(area="<areaDesc>Gävleborgs län</areaDesc><circle>61.4419,16.5695 10</circle>", language="sv-SE")
    assert parse_message(right_way.encode(), max_bytes=10**6).alerts[0].flags == []


@pytest.mark.parametrize("polygon,reason", [
    ("30,120 31,121 30,122", "3 points; CAP needs at least 4"),
    ("30,120 31,121 30,122 30.5,120", "not closed"),
    ("95,120 31,121 30,122 95,120", "latitude 95 is outside [-90, 90]"),
    ("30,120 31,121, 30,122 30,120", "is not a lat,lon pair"),
])
def test_polygon_rules(polygon, reason):
    with pytest.raises(MessageInvalid) as caught:
        parse_message(cap(area=f"<areaDesc>x</areaDesc><polygon>{polygon}</polygon>").encode(), max_bytes=10**6)
    assert caught.value.path == "/alert/info[1]/area[1]/polygon", 'fact: caught.value.path == "/alert/info[1]/area[1]/polygon"'
    assert reason in caught.value.reason, 'fact: reason in caught.value.reason'


def test_times_need_an_offset_and_cancel_needs_references():
    no_offset = cap().replace("2021-07-24T10:00:00+08:00", "2021-07-24T10:00:00")
    with pytest.raises(MessageInvalid) as caught:
        parse_message(no_offset.encode(), max_bytes=10**6)
    assert any(p.path == "/alert/sent" and "2021-07-24T10:00:00" in p.reason for p in caught.value.problems)
    with pytest.raises(MessageInvalid, match="must reference at least one"):
        parse_message(cap(msg_type="Cancel").encode(), max_bytes=10**6)


def test_parse_cli_prints_normalized_alerts_with_lon_lat_and_published_offsets():
    out = haven("alerts", "parse", "--json", str(CORPUS / "cap-valid/is_imo_wind_polygon_2info-is-en_resource-digest.xml"),
                str(CORPUS / "nws-geojson/point-phoenix_2024_heat-aq_urn-oid-ids_ends-null.json"))
    assert out.returncode == 0, out.stderr
    alerts = json.loads(out.stdout)["alerts"]
    assert len(alerts) == 3, 'fact: len(alerts) == 3'
    assert (set(alerts[0]) == {"sender", "identifier", "sent", "status", "msg_type", "scope",
                                                   "references", "infos"}), 'fact: (set(alerts[0]) == {"sender", "identifier", "sent", "status", "msg_type", "scope", "references", "infos"})'
    info = alerts[0]["infos"][0]
    assert set(info) == {"language", "event", "categories", "urgency", "severity", "certainty", "effective", "onset",
                         "expires", "headline", "description", "instruction", "areas"}
    lon, lat = info["areas"][0]["polygons"][0][0]
    assert -25 < lon < -13, 'fact: -25 < lon < -13'
    assert 63 < lat < 67, 'fact: 63 < lat < 67'  # Iceland, [lon, lat]
    assert alerts[0]["sent"].endswith("-00:00"), 'fact: alerts[0]["sent"].endswith("-00:00")'
    assert alerts[1]["sent"].endswith("-07:00"), 'fact: alerts[1]["sent"].endswith("-07:00")'


def test_parse_cli_rejects_with_element_path_and_empty_stdout():
    bad = CORPUS / "cap-invalid/nws_cap11_empty-enums_bad-polygons_empty-references.xml"
    good = CORPUS / "cap-valid/au_bom_thunderstorm_geocode-only_cap-prefix.xml"
    out = haven("alerts", "parse", str(good), str(bad))
    assert out.returncode == 2, 'fact: out.returncode == 2'
    assert out.stdout == "", 'fact: out.stdout == ""'
    assert f"{bad}: /alert/info[1]/area[1]/polygon[1]: '+41.12,-117.61' is not a lat,lon pair" in out.stderr
    assert f"{bad}: /alert/info[1]/urgency: " in out.stderr


def test_parse_cli_index_entries_and_qweather_admin_code():
    out = haven("alerts", "parse", "--json", str(CORPUS / "feeds/us_nyalert_rss-cap-index.rss"))
    assert out.returncode == 0, 'fact: out.returncode == 0'
    assert len(json.loads(out.stdout)["entries"]) == 2, 'fact: len(json.loads(out.stdout)["entries"]) == 2'
    out = haven("alerts", "parse", "--json", "--admin-code", "310000", str(CORPUS / "china/qweather_getWarningNow-en.json"))
    area = json.loads(out.stdout)["alerts"][0]["infos"][0]["areas"][0]
    assert area["geocodes"] == [{"name": "CN-ADCODE", "value": "310000"}]


def test_parse_cli_body_cap_is_a_setting(tmp_path):
    big = tmp_path / "big.xml"
    big.write_text(cap(extra_info="<description>" + "x" * 5000 + "</description>"))
    out = haven("alerts", "parse", str(big), env=subprocess_env(HAVEN_MAX_BODY_BYTES="4000"))
    assert out.returncode == 2, 'fact: out.returncode == 2'
    assert out.stdout == "", 'fact: out.stdout == ""'
    assert "exceeds the limit of 4000 bytes" in out.stderr, 'fact: "exceeds the limit of 4000 bytes" in out.stderr'
