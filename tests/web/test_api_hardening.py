"""The API against scrapers, careless clients and fuzzers, over real HTTP: /metrics cheap, guarded and never
in a customer's way; alert lists paged and without geometry unless asked; ids only in ASCII digits;
malformed Twilio forms and oversized CSV fields refused precisely, never a 500."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from book.dao import upsert_customers
from store.db import session_scope
from store.models import Alert, Asset, Notification
from tests.support import haven, make_user, subprocess_env

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
SQUARE = "28.0,120.0 28.0,121.0 29.0,121.0 29.0,120.0 28.0,120.0"


def cap(identifier: str, sent: str = "2026-07-24T10:00:00+08:00", polygon: str = SQUARE) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP12}"><identifier>{identifier}</identifier>'
            f"<sender>ops@example.org</sender><sent>{sent}</sent><status>Actual</status><msgType>Alert</msgType>"
            "<scope>Public</scope><info><language>en-US</language><category>Met</category><event>Typhoon</event>"
            "<urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>"
            "<expires>2099-01-01T00:00:00+08:00</expires><headline>Typhoon warning</headline>"
            f"<area><areaDesc>Wenzhou coast</areaDesc><polygon>{polygon}</polygon>"
            "<geocode><valueName>GB2260</valueName><value>330300</value></geocode></area></info></alert>").encode()


def post_alert(client, identifier: str, **kwargs) -> int:
    response = client.post("/v1/alerts?confirm=true", data=cap(identifier, **kwargs), headers={"Content-Type": "application/cap+xml"})
    assert response.status_code == 201, f"alert {identifier} was not stored: {response.status_code} {response.text}"
    return response.json()["stored"][0]


# --- /metrics ----------------------------------------------------------------------------------

def test_metrics_need_the_token_when_one_is_set(api_server, sqlite_url):
    api = api_server(sqlite_url, HAVEN_METRICS_TOKEN="scrape-me-please")
    anonymous = api.get("/metrics")
    assert anonymous.status_code == 401, f"/metrics without the token answered {anonymous.status_code}"
    assert anonymous.json()["error"]["code"] == "unauthenticated", "the refusal is not the JSON error shape"
    wrong = api.get("/metrics", headers={"Authorization": "Bearer scrape-me-not"})
    assert wrong.status_code == 401, f"/metrics with a wrong token answered {wrong.status_code}"
    right = api.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert right.status_code == 200, f"/metrics with the token answered {right.status_code}"
    assert "haven_http_requests_total" in right.text, "the scrape with the token has no request counter"


def test_metrics_stay_public_without_a_token(api_server, sqlite_url):
    api = api_server(sqlite_url)
    assert api.get("/metrics").status_code == 200, "/metrics should be public while HAVEN_METRICS_TOKEN is unset"


def test_handover_gauges_are_aggregated_by_the_database(api_server, db_url):
    api = api_server(db_url)
    ops = api.as_user(make_user(db_url, "supervisor"))
    alert_id = post_alert(ops, "HANDOVER-1")
    with session_scope(db_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "name": "Ann", "phone": "+8613800000001"}])
        received = session.execute(select(Alert.received_at).where(Alert.id == alert_id)).scalar_one()
        # four handed over within 10 s (1, 2, 3, 4 s), one late (30 s), one held for quiet hours (not counted)
        delays = [1, 2, 3, 4, 30]
        rows = [{"idempotency_key": f"k{n}", "customer_id": "C1", "alert_id": alert_id, "channel": "sms",
                 "kind": "warning", "recipient": "+8613800000001", "body": "b", "state": "sent",
                 "sent_at": received + timedelta(seconds=delay)} for n, delay in enumerate(delays)]
        rows.append({"idempotency_key": "held", "customer_id": "C1", "alert_id": alert_id, "channel": "sms",
                     "kind": "warning", "recipient": "+8613800000001", "body": "b", "state": "created",
                     "not_before": received + timedelta(hours=8)})
        session.execute(insert(Notification), rows)
    text = api.get("/metrics").text
    assert f'haven_alert_handover_within_10s_ratio{{alert_id="{alert_id}"}} 0.8' in text, \
        "4 of the 5 immediate notifications were handed over within 10 s: the ratio should be 0.8"
    assert f'haven_alert_handover_seconds{{alert_id="{alert_id}",quantile="0.5"}} 3.0' in text, \
        "the median hand-over delay of 1, 2, 3, 4 and 30 s is 3 s"
    assert 'haven_notifications{channel="sms",state="sent"} 5.0' in text, "five sent SMS should be counted"


class BlockingSource:
    """A metrics source that holds every scrape until released, counting how often it is asked."""

    def __init__(self):
        self.release, self.entered, self.calls = threading.Event(), threading.Event(), 0

    def collect(self):
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        return []


def test_parallel_scrapes_share_one_render_and_leave_requests_alone(api_server, sqlite_url):
    from web import metrics

    api = api_server(sqlite_url)
    me = api.as_user(make_user(sqlite_url, "adjuster"))
    source = BlockingSource()
    metrics.REGISTRY.register(source)
    try:
        answers: list[int] = []
        scrapers = [threading.Thread(target=lambda: answers.append(api.get("/metrics").status_code))
                    for _ in range(10)]
        for scraper in scrapers:
            scraper.start()
        assert source.entered.wait(20), "no scrape reached the metrics sources"
        for _ in range(5):  # while every scrape is held, the API still answers requests
            assert me.get("/v1/me").status_code == 200, "a request failed while /metrics scrapes were held"
        assert answers == [], "a scrape finished although its render was still held"
        threading.Event().wait(1.0)  # let the last scrapers reach the server while the render is held
        source.release.set()
        for scraper in scrapers:
            scraper.join(30)
    finally:
        source.release.set()
        metrics.REGISTRY.unregister(source)
    assert answers == [200] * 10, f"the ten scrapes answered {answers}"
    assert source.calls == 1, f"ten parallel scrapes rendered the metrics {source.calls} times, not once"


# --- alert lists -------------------------------------------------------------------------------

def test_alert_lists_are_paged_and_leave_out_geometry_unless_asked(api_server, db_url):
    api = api_server(db_url)
    ops = api.as_user(make_user(db_url, "dispatcher"))
    ids = [post_alert(ops, f"PAGE-{n}", sent=f"2026-07-24T1{n}:00:00+08:00") for n in range(3)]

    first = ops.get("/v1/alerts?limit=2").json()
    assert [a["id"] for a in first["alerts"]] == [ids[2], ids[1]], "the first page is not the two newest alerts"
    area = first["alerts"][0]["infos"][0]["areas"][0]
    assert "polygons" not in area and "circles" not in area, "a plain list still carries the area's geometry"
    assert area["desc"] == "Wenzhou coast", "the area's description should stay in a list without geometry"
    assert first["next_cursor"], "a full page should give a cursor to the next one"
    second = ops.get(first["next"]).json()
    assert [a["id"] for a in second["alerts"]] == [ids[0]], "the next link does not lead to the oldest alert"
    assert second["next_cursor"] is None and second["next"] is None, "the last page should have no next page"

    with_geometry = ops.get("/v1/alerts?limit=1&include=geometry").json()["alerts"][0]
    polygon = with_geometry["infos"][0]["areas"][0]["polygons"][0]
    assert polygon[0] == [120.0, 28.0], "with include=geometry the polygon comes back as [lon, lat] pairs"


@pytest.mark.parametrize(("query", "field"), [
    ("limit=201", "limit"), ("limit=26&include=geometry", "limit"), ("limit=%C2%B9", "limit"), ("limit=0", "limit"),
    ("cursor=not-a-cursor", "cursor"), ("cursor=" + "A" * 200, "cursor"), ("include=raw", "include"),
    ("active=maybe", "active"), ("status=" + "x" * 100, "status"),
])
def test_alert_list_parameters_are_checked(api_server, sqlite_url, query, field):
    ops = api_server(sqlite_url).as_user(make_user(sqlite_url, "dispatcher"))
    response = ops.get(f"/v1/alerts?{query}")
    assert response.status_code == 400, f"GET /v1/alerts?{query[:40]} answered {response.status_code}"
    assert response.json()["error"]["field"] == field, f"the error for {query[:40]} does not name {field}"


# --- ids, forms --------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "expected"), [
    ("PATCH", "/v1/rescue/providers/\u00b9", 404),
    ("GET", "/v1/alerts/\u0663", 404),
    ("GET", "/v1/claims/\uff11", 404),
    ("GET", "/v1/claims/99999999999", 404),
    ("GET", "/v1/claims/1" + "0" * 5000, 404),
    ("POST", "/v1/feeds/\u00b2/poll", 404),
    ("GET", "/v1/alerts/99999999999/notifications", 400),
    ("GET", "/v1/alerts/\u00b9/notifications", 400),
    ("GET", "/v1/queue?limit=\u00b9", 400),
    ("GET", "/v1/outbox?before_id=99999999999", 400),
    ("GET", "/v1/console/users?ids=1,\u00b2", 400),
    ("GET", "/v1/console/map/assets?chain_id=99999999999", 400),
])
def test_ids_are_ascii_digits_within_bounds(api_server, pg_clean_url, method, path, expected):
    admin = api_server(pg_clean_url).as_user(make_user(pg_clean_url, "admin"))
    response = admin.request(method, path, json={} if method != "GET" else None)
    assert response.status_code == expected, f"{method} {path[:50]} answered {response.status_code}: {response.text[:200]}"
    assert "error" in response.json(), f"{method} {path[:50]} did not answer the JSON error shape"


@pytest.mark.parametrize("webhook", ["/webhooks/twilio/status", "/webhooks/twilio/inbound"])
@pytest.mark.parametrize(("content_type", "body", "field"), [
    ("multipart/form-data", b"MessageSid=SM1", "Content-Type"),
    ("multipart/form-data; boundary=xyz", b"garbage", "Content-Type"),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"MessageSid=SM1", "body"),
])
def test_twilio_webhooks_refuse_malformed_forms(api_server, sqlite_url, webhook, content_type, body, field):
    api = api_server(sqlite_url, TWILIO_AUTH_TOKEN="secret-token")
    response = api.post(webhook, data=body, headers={"Content-Type": content_type, "X-Twilio-Signature": "x"})
    assert response.status_code == 400, f"{webhook} with {content_type} answered {response.status_code}"
    assert response.json()["error"]["field"] == field, f"the refusal of {content_type} does not name {field}"


# --- CSV fields over the csv module's limit --------------------------------------------------------

HUGE = "x" * 200_000  # past csv.field_size_limit()'s default of 131,072


def test_an_oversized_asset_field_refuses_its_row_only(api_server, db_url):
    api = api_server(db_url)
    with session_scope(db_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "name": "Ann", "phone": "+8613800000001"}])
    manager = api.as_user(make_user(db_url, "manager"))
    body = (f"asset_id,customer_id,lon,lat,address\nA1,C1,120.1,28.1,Quay 1\nA2,C1,120.1,28.1,\"{HUGE}\n{HUGE}\"\n"
            f"A3,C1,{HUGE},28.1,Quay 3\nA4,C1,120.2,28.2,Quay 4\n").encode()
    response = manager.post("/v1/assets/import", data=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, f"the import answered {response.status_code}: {response.text[:300]}"
    report = response.json()
    assert report["loaded"] == 2, f"rows 1 and 4 should load, {report['loaded']} did"
    refused = {(r["row"], r["field"]) for r in report["rejected"]}
    assert refused == {(2, "address"), (3, "lon")}, f"the refused rows and fields are {refused}"
    assert all(len(r["reason"]) < 200 for r in report["rejected"]), "a refusal quotes the oversized value"
    with session_scope(db_url) as session:
        assert session.execute(select(func.count(Asset.asset_id))).scalar_one() == 2, "two assets should be stored"


def test_an_oversized_customer_field_refuses_its_row_in_the_cli(tmp_path, sqlite_url):
    book = tmp_path / "customers.csv"
    book.write_text(f"customer_id,name,phone\nC1,Ann,+8613800000001\nC2,{HUGE},+8613800000002\n"
                    f"C3,Bob,{HUGE}\nC4,Cat,+8613800000004\n", encoding="utf-8")
    done = haven("customers", "import", "--json", str(book), env=subprocess_env(HAVEN_DATABASE_URL=sqlite_url))
    assert done.returncode == 0, f"the import failed as a whole: {done.stderr[-500:]}"
    report = json.loads(done.stdout)
    assert report["loaded"] == 2, f"customers 1 and 4 should load, {report['loaded']} did"
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [(2, "name"), (3, "phone")], \
        f"the refusals should name row 2's name and row 3's phone: {report['rejected']}"


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/v1/rescue/providers", '{"name": "Tow\\u0000Co", "kind": "tow", "location": {"lon": 120, "lat": 28}}', "name"),
    ("POST", "/v1/rescue/providers", '{"name": "Tow\\udb5fCo", "kind": "tow", "location": {"lon": 120, "lat": 28}}', "name"),
    ("POST", "/v1/users", '{"role": "dispatcher", "name": "Dee\\u0000"}', "name"),
    ("POST", "/v1/auth/login", '{"username": "dee\\u0000", "password": "x"}', "username"),
    ("GET", "/v1/alerts?status=%00", None, "status"),
    ("GET", "/v1/claims?stage=%00", None, "stage"),
    ("GET", "/v1/claims?cat_code=CAT%00", None, "cat_code"),
])
def test_text_no_database_keeps_is_refused_naming_the_field(api_server, pg_clean_url, method, path, body, field):
    admin = api_server(pg_clean_url).as_user(make_user(pg_clean_url, "admin"))
    response = admin.request(method, path, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"} if body else None)
    assert response.status_code == 400, f"{method} {path} with a NUL or lone surrogate answered {response.status_code}"
    assert response.json()["error"]["field"] == field, f"{method} {path}: the refusal does not name {field}"
