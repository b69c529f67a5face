"""The reach report, the outbox and the delivery metrics over real HTTP, after the demo typhoon chain
(moved to the present) went through POST /v1/alerts: ingest, matching, fan-out and the outbox channel."""

import pytest

from alerts.matching import spatial
from tests.notify_support import add_book, live_demo_cap
from tests.support import make_user

ORANGE, CANCEL = "01-typhoon-infa-orange-alert.xml", "03-typhoon-infa-cancel.xml"


@pytest.fixture
def api(api_server, db_url):
    spatial.forget_indexes()
    client = api_server(db_url, HAVEN_QUIET_HOURS="00:00-00:00")
    add_book(db_url, 12)
    client.staff = client.as_user(make_user(db_url, "supervisor"))
    client.admin = client.as_user(make_user(db_url, "admin"))
    client.customer = client.as_user(make_user(db_url, "customer", customer_id="C0000001"))
    yield client
    spatial.forget_indexes()


def post_alert(api, name):
    response = api.staff.post("/v1/alerts?confirm=true", data=live_demo_cap(name), headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text
    return response.json()["stored"][0]


def test_the_reach_report_counts_by_channel_and_state_and_times_the_hand_over(api):
    alert_id = post_alert(api, ORANGE)
    report = api.staff.get(f"/v1/alerts/{alert_id}/notifications").json()
    assert report["alert_id"] == alert_id, 'fact: report["alert_id"] == alert_id'
    assert report["msg_type"] == "Alert", 'fact: report["msg_type"] == "Alert"'
    assert (report["notifications"], report["customers"]) == (12, 12)
    assert report["by_channel"] == {"sms": {"delivered": 12}}
    assert report["by_kind"] == {"warning": 12}
    handover = report["handover"]
    assert (handover["immediate"], handover["handed_over"], handover["within_goal"]) == (12, 12, 12)
    assert handover["share_within_goal"] == 1.0
    assert 0 <= handover["first_s"] <= handover["median_s"] <= handover["p99_s"] <= handover["last_s"] < 10

    cancel_id = post_alert(api, CANCEL)
    clear = api.staff.get(f"/v1/alerts/{cancel_id}/notifications").json()
    assert clear["by_kind"] == {"all_clear": 12}, 'fact: clear["by_kind"] == {"all_clear": 12}'
    assert clear["by_channel"] == {"sms": {"delivered": 12}}, 'fact: clear["by_channel"] == {"sms": {"delivered": 12}}'


def test_the_outbox_lists_what_would_have_gone_out_newest_first(api):
    alert_id = post_alert(api, ORANGE)
    page = api.admin.get(f"/v1/outbox?alert_id={alert_id}&limit=5").json()
    assert len(page["messages"]) == 5
    ids = [m["id"] for m in page["messages"]]
    assert ids == sorted(ids, reverse=True)
    first = page["messages"][0]
    assert first["body"].startswith(("【Haven保险】台风橙色预警", "Haven Insurance: orange typhoon warning"))
    assert first["state"] == "delivered", 'fact: first["state"] == "delivered"'
    assert first["segments"] <= 2, 'fact: first["segments"] <= 2'
    assert first["channel"] == "sms", 'fact: first["channel"] == "sms"'
    rest = api.admin.get(f"/v1/outbox?alert_id={alert_id}&before_id={page['next_before_id']}&limit=100").json()
    assert len(rest["messages"]) == 7, 'fact: len(rest["messages"]) == 7'
    assert rest["next_before_id"] is None, 'fact: rest["next_before_id"] is None'
    assert api.admin.get("/v1/outbox?customer_id=C0000003").json()["messages"][0]["recipient"] == "+8617000000003"


def test_the_delivery_figures_are_in_the_metrics(api):
    alert_id = post_alert(api, ORANGE)
    text = api.get("/metrics").text
    assert 'haven_notifications{channel="sms",state="delivered"} 12.0' in text
    assert f'haven_alert_handover_within_10s_ratio{{alert_id="{alert_id}"}} 1.0' in text
    assert f'haven_alert_handover_seconds{{alert_id="{alert_id}",quantile="0.99"}}' in text


def test_reach_and_outbox_are_for_staff_and_check_their_input(api):
    alert_id = post_alert(api, ORANGE)
    assert api.get(f"/v1/alerts/{alert_id}/notifications").status_code == 401
    assert api.customer.get(f"/v1/alerts/{alert_id}/notifications").status_code == 403
    assert api.customer.get("/v1/outbox").status_code == 403
    missing = api.staff.get("/v1/alerts/999999/notifications")
    assert missing.status_code == 404, 'fact: missing.status_code == 404'
    assert missing.json()["error"]["code"] == "not_found", 'fact: missing.json()["error"]["code"] == "not_found"'
    assert api.staff.get("/v1/alerts/abc/notifications").json()["error"]["field"] == "alert_id"
    assert api.admin.get("/v1/outbox?channel=fax").json()["error"]["field"] == "channel"
    assert api.admin.get("/v1/outbox?limit=0").json()["error"]["field"] == "limit"
