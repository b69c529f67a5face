"""Twilio webhooks over real HTTP: X-Twilio-Signature checked over the public URL, receipts stored and
applied idempotently (twice, out of order, early), inbound STOP/START keywords."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from alerts.notifying.receipts import OPT_IN_WORDS, OPT_OUT_WORDS
from store.db import session_scope
from store.models import Customer, InboundMessage, Notification, Receipt
from store.types import utcnow
from tests.notify_support import ACCOUNT_SID, AUTH_TOKEN, add_book

PUBLIC = "https://haven.example.com"


@pytest.fixture
def api(api_server, db_url):
    client = api_server(db_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, HAVEN_PUBLIC_BASE_URL=PUBLIC)
    client.database_url = db_url
    return client


def post_signed(api, path, params, url=None, token=AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(url or PUBLIC + path, params)
    return api.post(path, data=params, headers={"X-Twilio-Signature": signature})


def status(sid, value, code=None):
    params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
              "MessageStatus": value, "SmsStatus": value, "To": "+8617000000001", "From": "+15005550006"}
    if code:
        params["ErrorCode"] = code
    return params


def sent_notification(url, sid, customer_id="C0000001"):
    with session_scope(url) as session:
        row = Notification(idempotency_key=f"k/{sid}", customer_id=customer_id, channel="sms", kind="warning",
                           recipient="+8617000000001", body="台风橙色预警", state="sent", provider="twilio",
                           provider_message_id=sid, sent_at=utcnow(), attempts=1)
        session.add(row)
        session.flush()
        return row.id


def state_of(url, nid):
    with session_scope(url) as session:
        return session.get(Notification, nid).state


@pytest.mark.parametrize("how", ["unsigned", "wrong token", "other url", "tampered"])
def test_a_callback_that_twilio_did_not_sign_for_this_url_is_refused(api, how):
    params = status("SM" + "1" * 32, "delivered")
    if how == "unsigned":
        response = api.post("/webhooks/twilio/status", data=params)
    elif how == "wrong token":
        response = post_signed(api, "/webhooks/twilio/status", params, token="not-the-token")
    elif how == "other url":
        response = post_signed(api, "/webhooks/twilio/status", params, url="https://evil.example.com/webhooks/twilio/status")
    else:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio/status", params)
        response = api.post("/webhooks/twilio/status", data={**params, "MessageStatus": "failed"},
                            headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    with session_scope(api.database_url) as session:
        assert session.execute(select(func.count()).select_from(Receipt)).scalar_one() == 0


def test_receipts_twice_and_out_of_order_end_in_the_final_state(api):
    add_book(api.database_url, 1)
    sid = "SM" + "a" * 32
    nid = sent_notification(api.database_url, sid)
    for value in ("delivered", "sent", "delivered", "queued"):
        assert post_signed(api, "/webhooks/twilio/status", status(sid, value)).status_code == 204
    assert state_of(api.database_url, nid) == "delivered"
    with session_scope(api.database_url) as session:
        outcomes = session.execute(select(Receipt.status, Receipt.outcome).order_by(Receipt.id)).all()
        final_at = session.get(Notification, nid).final_at
    assert outcomes == [("delivered", "applied"), ("sent", "stale"), ("delivered", "stale"), ("queued", "stale")]
    assert final_at is not None


def test_an_undelivered_receipt_keeps_its_error_and_21610_opts_the_customer_out(api):
    add_book(api.database_url, 2)
    first, second = "SM" + "b" * 32, "SM" + "c" * 32
    nid = sent_notification(api.database_url, first)
    other = sent_notification(api.database_url, second, customer_id="C0000002")
    post_signed(api, "/webhooks/twilio/status", status(first, "undelivered", "30003"))
    post_signed(api, "/webhooks/twilio/status", status(second, "failed", "21610"))
    with session_scope(api.database_url) as session:
        assert (session.get(Notification, nid).state, session.get(Notification, nid).error_code) == ("undelivered", "30003")
        assert session.get(Notification, other).state == "failed"
        assert session.get(Customer, "C0000002").sms_opt_out
        assert not session.get(Customer, "C0000001").sms_opt_out


def test_a_receipt_that_beats_the_send_task_waits_for_it(api):
    from workers.notify import apply_waiting_receipts

    add_book(api.database_url, 1)
    sid = "SM" + "d" * 32
    assert post_signed(api, "/webhooks/twilio/status", status(sid, "delivered")).status_code == 204
    with session_scope(api.database_url) as session:
        assert session.execute(select(Receipt.processed_at)).scalar_one() is None  # no message with that id yet
    nid = sent_notification(api.database_url, sid)  # the send task records Twilio's answer
    assert apply_waiting_receipts([sid]) == 1
    assert state_of(api.database_url, nid) == "delivered"


def test_a_signed_but_malformed_callback_is_a_precise_400(api):
    response = post_signed(api, "/webhooks/twilio/status", {"MessageStatus": "delivered"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "MessageSid"
    response = post_signed(api, "/webhooks/twilio/status", status("SM" + "e" * 32, "teleported"))
    assert response.status_code == 400, 'fact: response.status_code == 400'
    assert response.json()["error"]["field"] == "MessageStatus", 'fact: response.json()["error"]["field"] == "MessageStatus"'


def test_a_burst_of_callbacks_is_stored_once_each_and_a_bad_one_spoils_none(api):
    """Callbacks that arrive together share a transaction; an oversized one is refused alone with a 400."""
    sids = [f"SM{n:032d}" for n in range(120)]
    bad = {17: "MessageSid", 90: "ErrorCode"}
    callbacks = [status(sid, "delivered") for sid in sids]
    callbacks[17]["MessageSid"] = "SM" + "x" * 80
    callbacks[90]["ErrorCode"] = "3" * 40
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda params: post_signed(api, "/webhooks/twilio/status", params), callbacks))
    assert [n for n, answer in enumerate(answers) if answer.status_code != 204] == [17, 90]
    assert [answers[n].json()["error"]["field"] for n in (17, 90)] == [bad[17], bad[90]]
    with session_scope(api.database_url) as session:
        stored = session.execute(select(Receipt.provider_message_id)).scalars().all()
    assert sorted(stored) == sorted(sid for n, sid in enumerate(sids) if n not in bad)


def test_an_inbound_sms_with_an_oversized_field_is_a_precise_400(api):
    response = post_signed(api, "/webhooks/twilio/inbound", inbound("SM" + "f" * 32, "STOP", sender="+86" + "1" * 40))
    assert response.status_code == 400, 'fact: response.status_code == 400'
    assert response.json()["error"]["field"] == "From", 'fact: response.json()["error"]["field"] == "From"'


def inbound(sid, body, sender="+8617000000001"):
    return {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
            "SmsMessageSid": sid, "From": sender, "To": "+15005550006", "Body": body, "NumMedia": "0",
            "NumSegments": "1", "FromCountry": "CN", "ToCountry": "US"}


def opted_out(url, cid="C0000001"):
    with session_scope(url) as session:
        return session.get(Customer, cid).sms_opt_out


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_every_stop_keyword_opts_the_number_out_and_start_opts_it_back_in(api, word):
    add_book(api.database_url, 1)
    response = post_signed(api, "/webhooks/twilio/inbound", inbound("SM" + "f" * 32, f"  {word.lower()} "))
    assert response.status_code == 200, 'fact: response.status_code == 200'
    assert response.headers["Content-Type"].startswith("text/xml"), 'fact: response.headers["Content-Type"].startswith("text/xml")'
    assert "<Response>" in response.text
    assert opted_out(api.database_url)
    for n, back in enumerate(sorted(OPT_IN_WORDS)):
        post_signed(api, "/webhooks/twilio/inbound", inbound(f"SM{n:032d}", back))
        assert not opted_out(api.database_url)
        post_signed(api, "/webhooks/twilio/inbound", inbound(f"SM{n + 10:032d}", "STOP"))
        assert opted_out(api.database_url)


def test_inbound_changes_every_customer_on_that_number_once_and_ignores_other_words(api):
    add_book(api.database_url, 2)
    with session_scope(api.database_url) as session:
        session.get(Customer, "C0000002").phone = "+8617000000001"  # a family sharing one phone
    post_signed(api, "/webhooks/twilio/inbound", inbound("SM" + "7" * 32, "Please stop the rain"))
    assert not opted_out(api.database_url)
    for _ in range(2):  # Twilio retries a webhook it thinks failed: the second changes nothing
        post_signed(api, "/webhooks/twilio/inbound", inbound("SM" + "8" * 32, "STOP"))
    assert opted_out(api.database_url, "C0000001"), 'fact: opted_out(api.database_url, "C0000001")'
    assert opted_out(api.database_url, "C0000002"), 'fact: opted_out(api.database_url, "C0000002")'
    with session_scope(api.database_url) as session:
        rows = session.execute(select(InboundMessage.action, InboundMessage.customers_changed)
                               .order_by(InboundMessage.id)).all()
    assert rows == [("none", 0), ("opt_out", 2)]
    assert api.post("/webhooks/twilio/inbound", data=inbound("SM" + "9" * 32, "START")).status_code == 403
    assert opted_out(api.database_url)
