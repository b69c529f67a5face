"""Alibaba Cloud status reports (SmsReport) over real HTTP: the URL's secret checked, each item validated on
its own, receipts stored and applied exactly as Twilio's (twice, early, undelivered)."""

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.models import Notification, Receipt
from store.types import utcnow
from tests.aliyun_support import REPORT_TOKEN
from tests.notify_support import add_book

PATH = f"/webhooks/aliyun/status/{REPORT_TOKEN}"


@pytest.fixture
def api(api_server, db_url):
    client = api_server(db_url, HAVEN_ALIYUN_REPORT_TOKEN=REPORT_TOKEN)
    client.database_url = db_url
    return client


def report(biz_id: str, success: bool = True, err_code: str = "DELIVERED", **changes) -> dict:
    return {"phone_number": "17000000001", "send_time": "2026-07-28 10:00:00", "report_time": "2026-07-28 10:00:04",
            "success": success, "err_code": err_code, "err_msg": "用户接收成功" if success else "用户接收失败",
            "sms_size": "1", "biz_id": biz_id, "out_id": "1"} | changes


def sent_notification(url: str, biz_id: str, customer_id: str = "C0000001") -> int:
    with session_scope(url) as session:
        row = Notification(idempotency_key=f"k/{biz_id}", customer_id=customer_id, channel="sms", kind="warning",
                           recipient="+8617000000001", body="台风橙色预警", state="sent", provider="aliyun",
                           provider_message_id=biz_id, sent_at=utcnow(), attempts=1)
        session.add(row)
        session.flush()
        return row.id


def notification(url: str, nid: int) -> Notification:
    with session_scope(url) as session:
        row = session.get(Notification, nid)
        session.expunge(row)
        return row


def receipts_stored(url: str) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(Receipt)).scalar_one()


@pytest.mark.parametrize("path", ["/webhooks/aliyun/status/not-the-token", f"/webhooks/aliyun/status/{REPORT_TOKEN}x"])
def test_a_report_without_the_secret_in_its_url_is_refused(api, path):
    response = api.post(path, json=[report("100000000000001^0")])
    assert response.status_code == 403, f"a forged report got {response.status_code}"
    assert response.json()["error"]["code"] == "bad_token", "the refusal does not say the token is wrong"
    assert receipts_stored(api.database_url) == 0, "a forged report was stored"


def test_a_delivered_report_moves_the_notification_and_answers_as_aliyun_expects(api):
    add_book(api.database_url, 1)
    nid = sent_notification(api.database_url, "100000000000002^0")
    response = api.post(PATH, json=[report("100000000000002^0")])
    assert response.status_code == 200, f"the report was answered {response.status_code}: {response.text}"
    assert response.json() == {"code": 0, "msg": "成功"}, f"Aliyun expects code 0, got {response.json()}"
    assert notification(api.database_url, nid).state == "delivered", "the notification did not become delivered"


def test_duplicate_reports_and_a_failure_after_delivery_change_nothing(api):
    add_book(api.database_url, 1)
    nid = sent_notification(api.database_url, "100000000000003^0")
    api.post(PATH, json=[report("100000000000003^0"), report("100000000000003^0")])
    api.post(PATH, json=[report("100000000000003^0", success=False, err_code="MK:0001")])
    assert notification(api.database_url, nid).state == "delivered", "a later report undid the delivery"
    with session_scope(api.database_url) as session:
        outcomes = session.execute(select(Receipt.outcome).order_by(Receipt.id)).scalars().all()
    assert outcomes == ["applied", "stale", "stale"], f"the reports were applied as {outcomes}"


def test_an_undelivered_report_keeps_aliyuns_error_code(api):
    add_book(api.database_url, 1)
    nid = sent_notification(api.database_url, "100000000000004^0")
    api.post(PATH, json=[report("100000000000004^0", success=False, err_code="IC:0001")])
    row = notification(api.database_url, nid)
    assert (row.state, row.error_code) == ("undelivered", "IC:0001"), f"got {row.state} {row.error_code}"


def test_a_malformed_item_is_refused_without_losing_the_rest_of_the_batch(api):
    add_book(api.database_url, 2)
    good = [sent_notification(api.database_url, "100000000000005^0"),
            sent_notification(api.database_url, "100000000000006^0", "C0000002")]
    batch = [report("100000000000005^0"), report("x" * 80), {"success": True}, report("100000000000006^0"),
             report("100000000000007^0", success="yes"), "not an object", report("1\x00")]
    response = api.post(PATH, json=batch)
    assert response.status_code == 200, f"a batch with good reports was refused: {response.text}"
    refused = {(r["index"], r["field"]) for r in response.json()["refused"]}
    assert {index for index, _ in refused} == {1, 2, 4, 5, 6}, f"refused items: {refused}"
    assert (2, "biz_id") in refused, f"a missing biz_id is not named: {refused}"
    assert (4, "success") in refused, f"a non-boolean success is not named: {refused}"
    assert [notification(api.database_url, nid).state for nid in good] == ["delivered", "delivered"], \
        "the good reports of the batch were not applied"
    assert receipts_stored(api.database_url) == 2, "a malformed item was stored"


@pytest.mark.parametrize(("body", "field"), [(b"{not json", "body"), (b'{"biz_id": "1"}', "body"), (b"[]", "body"),
                                             (b"[" * 5000 + b"]" * 5000, "body"), (b'[{"success": true}]', "0.biz_id"),
                                             (b'[{"biz_id": "1", "success": true, "x": {"y": 1}}]', "0.x")])
def test_a_body_with_no_valid_report_is_a_precise_400(api, body, field):
    response = api.post(PATH, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, f"{body!r} got {response.status_code}"
    assert response.json()["error"]["field"] == field, f"{body!r} named {response.json()['error']}"


def test_a_report_that_beats_the_send_task_waits_for_it(api):
    from workers.notify import apply_waiting_receipts

    add_book(api.database_url, 1)
    assert api.post(PATH, json=[report("100000000000008^0")]).status_code == 200, "an early report was refused"
    with session_scope(api.database_url) as session:
        assert session.execute(select(Receipt.processed_at)).scalar_one() is None, "an early report was closed"
    nid = sent_notification(api.database_url, "100000000000008^0")  # the send task records the BizId
    assert apply_waiting_receipts(["100000000000008^0"]) == 1, "the waiting report was not applied"
    assert notification(api.database_url, nid).state == "delivered", "the early report did not deliver it"
