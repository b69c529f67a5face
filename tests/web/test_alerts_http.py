"""The alerts, quarantine and feeds API over real HTTP (127.0.0.1), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from alerts.reading.replay import replay
from store.types import utcnow
from tests.support import FIXTURES, ROOT, make_user

CORPUS = FIXTURES / "alerts"
DEMO = ROOT / "config" / "demo"
CHAIN = [DEMO / n for n in ("01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml",
                            "03-typhoon-infa-cancel.xml")]


def test_post_get_alerts_with_chain_and_area(db_url, api_server):
    api = api_server(db_url)
    ops = api.as_user(make_user(db_url, "supervisor"))
    orange, red, cancel = replay([p.read_bytes() for p in CHAIN], utcnow(), tag="api")
    posted = ops.post("/v1/alerts?confirm=true", data=orange, headers={"Content-Type": "application/cap+xml"})
    assert posted.status_code == 201, posted.text
    orange_id = posted.json()["stored"][0]
    again = ops.post("/v1/alerts?confirm=true", data=orange, headers={"Content-Type": "application/cap+xml"})
    assert again.status_code == 200, 'fact: again.status_code == 200'
    assert again.json()["duplicates"] == [orange_id], 'fact: again.json()["duplicates"] == [orange_id]'
    assert again.json()["stored"] == [], 'fact: again.json()["stored"] == []'
    red_id = ops.post("/v1/alerts?confirm=true", data=red).json()["stored"][0]

    active = ops.get("/v1/alerts?active=true").json()["alerts"]
    assert [a["id"] for a in active] == [red_id]  # the chain's current message only
    assert active[0]["msg_type"] == "Update", 'fact: active[0]["msg_type"] == "Update"'
    assert active[0]["infos"][0]["severity"] == "Extreme", 'fact: active[0]["infos"][0]["severity"] == "Extreme"'
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$", active[0]["sent"])  # the published offset

    detail = ops.get(f"/v1/alerts/{orange_id}").json()
    assert detail["chain"]["state"] == "active", 'fact: detail["chain"]["state"] == "active"'
    assert detail["chain"]["current_alert_id"] == red_id, 'fact: detail["chain"]["current_alert_id"] == red_id'
    assert [a["msg_type"] for a in detail["chain"]["alerts"]] == ["Alert", "Update"]
    assert detail["area"]["type"] in ("Polygon", "MultiPolygon")
    ring = detail["infos"][0]["areas"][0]["polygons"][0]
    assert ring[0] == [119.0, 25.6]  # [lon, lat]

    ops.post("/v1/alerts?confirm=true", data=cancel)
    assert ops.get("/v1/alerts?active=true").json()["alerts"] == []
    assert ops.get(f"/v1/alerts/{red_id}").json()["chain"]["state"] == "cancelled"
    assert len(ops.get("/v1/alerts").json()["alerts"]) == 3


def test_post_nws_geojson_and_invalid_bodies(db_url, api_server):
    api = api_server(db_url)
    ops = api.as_user(make_user(db_url, "dispatcher"))
    body = (CORPUS / "nws-geojson/point-phoenix_2024_heat-aq_urn-oid-ids_ends-null.json").read_bytes()
    posted = ops.post("/v1/alerts?confirm=true", data=body, headers={"Content-Type": "application/geo+json"})
    assert posted.status_code == 201, 'fact: posted.status_code == 201'
    assert len(posted.json()["stored"]) == 2, 'fact: len(posted.json()["stored"]) == 2'

    bad = (CORPUS / "cap-invalid/missing-scope.xml").read_bytes()
    refused = ops.post("/v1/alerts?confirm=true", data=bad)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_alert", 'fact: error["code"] == "invalid_alert"'
    assert error["field"] == "/alert/info[1]", 'fact: error["field"] == "/alert/info[1]"'
    assert "scope" in error["message"], 'fact: "scope" in error["message"]'
    assert ops.post("/v1/alerts?confirm=true", data=b"   ").json()["error"]["field"] == "body"

    operator = api.as_user(make_user(db_url, "manager"))
    listing = operator.get("/v1/quarantine").json()
    assert listing["total"] == 1, 'fact: listing["total"] == 1'
    assert listing["messages"][0]["path"] == "/alert/info[1]", 'fact: listing["messages"][0]["path"] == "/alert/info[1]"'
    assert ops.get("/v1/quarantine").status_code == 403
    assert api.get("/v1/alerts").status_code == 401
    assert ops.get("/v1/alerts/999999").status_code == 404
    adjuster = api.as_user(make_user(db_url, "adjuster"))
    assert adjuster.post("/v1/alerts?confirm=true", data=bad).status_code == 403


def test_oversized_post_is_refused_with_413(sqlite_url, api_server):
    api = api_server(sqlite_url, max_body_bytes=2000)
    ops = api.as_user(make_user(sqlite_url, "supervisor"))
    response = ops.post("/v1/alerts?confirm=true", data=(CORPUS / "cap-valid/au_nsw-rfs_structure-fire_circle_2info_cap-prefix.xml")
                        .read_bytes())
    assert response.status_code == 413, 'fact: response.status_code == 413'
    assert response.json()["error"]["code"] == "body_too_large", 'fact: response.json()["error"]["code"] == "body_too_large"'


def test_feeds_api_reports_health_and_metrics(db_url, api_server):
    api = api_server(db_url)
    ops = api.as_user(make_user(db_url, "supervisor"))
    created = ops.post("/v1/feeds", json={"url": "http://127.0.0.1:9/cap.atom", "kind": "cap-atom", "every": "30s"})
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["every_s"] == 30, 'fact: feed["every_s"] == 30'
    assert feed["health"]["status"] == "pending", 'fact: feed["health"]["status"] == "pending"'
    duplicate = ops.post("/v1/feeds", json={"url": "http://127.0.0.1:9/cap.atom", "kind": "cap-atom"})
    assert duplicate.status_code == 422, 'fact: duplicate.status_code == 422'
    assert duplicate.json()["error"]["field"] == "url", 'fact: duplicate.json()["error"]["field"] == "url"'
    wrong = ops.post("/v1/feeds", json={"url": "http://127.0.0.1:9/x", "kind": "rss-ish"})
    assert wrong.status_code == 422, 'fact: wrong.status_code == 422'
    assert wrong.json()["error"]["field"] == "kind", 'fact: wrong.json()["error"]["field"] == "kind"'

    polled = ops.post(f"/v1/feeds/{feed['id']}/poll").json()  # nothing listens on port 9
    assert polled["error"], 'fact: polled["error"]'
    assert polled["status"] is None, 'fact: polled["status"] is None'
    health = ops.get("/v1/feeds").json()["feeds"][0]["health"]
    assert health["status"] == "failing", 'fact: health["status"] == "failing"'
    assert health["consecutive_failures"] == 1, 'fact: health["consecutive_failures"] == 1'
    assert health["last_error"], 'fact: health["last_error"]'

    metrics = api.get("/metrics").text
    assert f'haven_feed_consecutive_failures{{feed_id="{feed["id"]}"}} 1.0' in metrics
    assert f'haven_feed_health{{feed_id="{feed["id"]}",state="failing"}} 1.0' in metrics
    assert f'haven_feed_up{{feed_id="{feed["id"]}",kind="cap-atom"}} 0.0' in metrics


def test_openapi_describes_the_warning_routes(sqlite_url, api_server):
    spec = api_server(sqlite_url).get("/openapi.json").json()
    paths = spec["paths"]
    listed = {path: {p["name"] for p in paths[path]["get"].get("parameters", []) if p["in"] == "query"}
              for path in ("/v1/alerts", "/v1/quarantine", "/v1/outbox")}
    assert listed["/v1/alerts"] == {"active", "include", "limit", "cursor", "status"}, listed["/v1/alerts"]
    assert listed["/v1/quarantine"] == {"limit"}, listed["/v1/quarantine"]
    assert listed["/v1/outbox"] == {"channel", "alert_id", "customer_id", "limit", "before_id", "phone"}, \
        listed["/v1/outbox"]
    assert "requestBody" in paths["/v1/feeds"]["post"], "registering a feed lists its request body"
    for path, method in (("/v1/alerts", "get"), ("/v1/alerts/{id}", "get"), ("/v1/quarantine", "get"),
                         ("/v1/feeds", "get"), ("/v1/feeds", "post"), ("/v1/outbox", "get"),
                         ("/v1/alerts/{alert_id}/notifications", "get"), ("/v1/alerts", "post")):
        answers = {status: answer for status, answer in paths[path][method]["responses"].items()
                   if status.startswith("2")}
        assert answers, f"{method} {path} lists its 2xx answers"
        for status, answer in answers.items():
            assert "schema" in answer.get("content", {}).get("application/json", {}), \
                f"{method} {path} {status} has a response schema"


def test_list_parameters_that_do_not_fit_are_refused_naming_the_field(sqlite_url, api_server):
    api = api_server(sqlite_url)
    ops = api.as_user(make_user(sqlite_url, "supervisor"))
    for query, field in (("limit=0", "limit"), ("limit=%C2%B9", "limit"), ("limit=201", "limit"),
                         ("active=maybe", "active"), ("include=geometry&limit=26", "limit"),
                         ("status=" + "x" * 17, "status"), ("cursor=nonsense", "cursor")):
        answer = ops.get(f"/v1/alerts?{query}")
        assert answer.status_code == 400, f"?{query} is refused: {answer.status_code} {answer.text[:200]}"
        assert answer.json()["error"]["field"] == field, f"?{query} names {field}: {answer.json()}"
    assert ops.get("/v1/alerts?limit=&cursor=").status_code == 200, "blank parameters count as absent"


def test_a_feed_registration_that_does_not_fit_is_refused_naming_the_field(sqlite_url, api_server):
    api = api_server(sqlite_url)
    ops = api.as_user(make_user(sqlite_url, "supervisor"))
    for body, status, field in (({"kind": "cap-atom"}, 400, "url"),
                                ({"url": 5, "kind": "cap-atom"}, 400, "url"),
                                ({"url": "   ", "kind": "cap-atom"}, 400, "url"),
                                ({"url": "http://127.0.0.1:9/a"}, 400, "kind"),
                                ({"url": "http://127.0.0.1:9/a", "kind": ["cap-atom"]}, 400, "kind"),
                                ({"url": "http://127.0.0.1:9/a", "kind": "cap-atom", "every": [60]}, 400, "every"),
                                ({"url": "http://127.0.0.1:9/a", "kind": "cap-atom", "every": "soon"}, 422, "every")):
        answer = ops.post("/v1/feeds", json=body)
        assert answer.status_code == status, f"{body} answers {status}: {answer.status_code} {answer.text[:200]}"
        assert answer.json()["error"]["field"] == field, f"{body} names {field}: {answer.json()}"
    not_json = ops.post("/v1/feeds", data=b"{url", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400, f"a body that is not JSON is a 400: {not_json.status_code}"
    assert ops.get("/v1/feeds").json()["feeds"] == [], "nothing refused was registered"


def test_nul_characters_and_oversized_texts_are_refused_before_the_database(db_url, api_server):
    api = api_server(db_url)
    admin = api.as_user(make_user(db_url, "admin"))
    supervisor = api.as_user(make_user(db_url, "supervisor"))
    for body, field in (({"url": "http://127.0.0.1:9/\u0000", "kind": "cap-atom"}, "url"),
                        ({"url": "http://127.0.0.1:9/" + "x" * 2001, "kind": "cap-atom"}, "url"),
                        ({"url": "http://127.0.0.1:9/a", "kind": "cap-atom", "name": "n" * 201}, "name"),
                        ({"url": "http://127.0.0.1:9/a", "kind": "cap-atom", "name": "a\u0000b"}, "name")):
        answer = supervisor.post("/v1/feeds", json=body)
        assert answer.status_code == 400, f"{str(body)[:80]} is a 400: {answer.status_code} {answer.text[:200]}"
        assert answer.json()["error"]["field"] == field, f"{str(body)[:80]} names {field}: {answer.json()}"
    for path, field in (("/v1/alerts?status=a%00b", "status"), ("/v1/outbox?customer_id=C%00", "customer_id")):
        answer = (admin if path.startswith("/v1/outbox") else supervisor).get(path)
        assert answer.status_code == 400, f"{path} is a 400: {answer.status_code} {answer.text[:200]}"
        assert answer.json()["error"]["field"] == field, f"{path} names {field}: {answer.json()}"
