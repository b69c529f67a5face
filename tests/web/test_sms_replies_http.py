"""Replies to the warning SMS over real HTTP on PostgreSQL: the demo typhoon warning goes out through the
official twilio SDK to the Twilio-compatible server, then replies come back as inbound webhooks signed with
the SDK's RequestValidator, each posted twice (the provider retries). 1 opens a claim, 2 marks the customer
safe, 9 opens a rescue request, each exactly once; the answers carry a /c/ link that signs that customer in;
a number that was never warned changes nothing."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from alerts.matching import spatial
from store.db import session_scope
from store.models import Claim, InboundMessage, Notification, RescueJob
from store.types import utcnow
from tests.notify_support import (  # noqa: F401
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    add_book,
    live_demo_cap,
    twilio_server_fixture,
)
from tests.support import make_user, wait_until

ORANGE = "01-typhoon-infa-orange-alert.xml"
DAMAGED, SAFE, RESCUE, CHATTY = "+8617000000001", "+8617000000002", "+8617000000003", "+8617000000004"
NEVER_WARNED = "+8617000000050"  # a customer whose car is in Beijing, far outside the typhoon's area
STRANGER = "+8613900000000"  # no customer at all


@pytest.fixture
def book(api_server, haven_env, pg_clean_url, twilio_server):
    """The API sending SMS through the twilio SDK; four customers in Wenzhou, one in Beijing."""
    url = pg_clean_url
    spatial.forget_indexes()
    api = api_server(url)
    haven_env(url, **twilio_server.env(public_base_url=api.base_url, HAVEN_QUIET_HOURS="00:00-00:00"))
    add_book(url, 4)
    add_book(url, 1, lon=116.40, lat=39.90, start=50)
    api.database_url, api.twilio = url, twilio_server.provider
    api.staff = api.as_user(make_user(url, "supervisor"))
    api.dispatcher = api.as_user(make_user(url, "dispatcher"))
    yield api
    spatial.forget_indexes()


@pytest.fixture
def warned(book):
    """The four customers in Wenzhou warned of the orange typhoon."""
    yield warn(book)


def warn(api):
    url = api.database_url
    answer = api.staff.post("/v1/alerts?confirm=true", data=live_demo_cap(ORANGE), headers={"Content-Type": "application/xml"})
    assert answer.status_code == 201, f"the warning was not stored: {answer.text}"
    api.alert_id = answer.json()["stored"][0]
    wait_until(lambda: count(url, Notification, Notification.kind == "warning",
                             Notification.state == "delivered") == 4,
               timeout=60, message="the four warnings delivered through the Twilio-compatible server")
    return api


def count(url, model, *where):
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def reply(api, sid_digit: str, number: str, body: str):
    """Post an inbound SMS the way Twilio does: form fields, signed over the public URL with the auth token."""
    params = {"MessageSid": "SM" + sid_digit * 32, "SmsSid": "SM" + sid_digit * 32, "AccountSid": ACCOUNT_SID,
              "From": number, "To": FROM_NUMBER, "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01"}
    path = "/webhooks/twilio/inbound"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(api.base_url + path, params)
    return api.post(path, data=params, headers={"X-Twilio-Signature": signature})


def post_twice(api, sid_digit, number, body, at_once=False):
    if at_once:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: reply(api, sid_digit, number, body), range(2)))
    else:
        answers = [reply(api, sid_digit, number, body) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 200, f"the inbound webhook refused reply {body!r}: {answer.text}"
        assert answer.headers["Content-Type"].startswith("text/xml"), "the webhook did not answer TwiML"
    return answers


def texts_to(api, number):
    return [m.body for m in api.twilio.accepted if m.to == number]


def wait_for_texts(api, number, how_many):
    wait_until(lambda: len(texts_to(api, number)) >= how_many, timeout=30,
               message=f"{how_many} SMS handed to the provider for {number}")
    return texts_to(api, number)


def link_in(text: str) -> str:
    link = next(word for word in text.replace("：", " ").split() if "/c/" in word)
    token = link.rsplit("/c/", 1)[1]
    assert len(token) <= 22, f"the link's token is longer than 22 characters: {link}"
    return link


def signs_in(link: str) -> str | None:
    """Open the link in a fresh browser-like session; the customer it signed in, if any."""
    person = requests.Session()
    opened = person.get(link, allow_redirects=False, timeout=30)
    assert opened.status_code in (302, 303), f"the link did not redirect: {opened.status_code}"
    me = person.get(link.split("/c/")[0] + "/v1/me", timeout=30)
    return me.json().get("customer_id") if me.status_code == 200 else None


def test_replies_1_2_and_9_open_a_claim_mark_safe_and_open_a_rescue_once_each(warned):
    api, url = warned, warned.database_url
    post_twice(api, "1", DAMAGED, "1")
    post_twice(api, "2", SAFE, " 2 ")
    post_twice(api, "9", RESCUE, "９ car under water", at_once=True)

    with session_scope(url) as session:
        claims = session.execute(select(Claim).order_by(Claim.customer_id)).scalars().all()
        chain_id = session.execute(select(Notification.chain_id).where(Notification.alert_id == api.alert_id)
                                   ).scalars().first()
        assert [(c.customer_id, c.asset_id) for c in claims] == [("C0000001", "A00000001"), ("C0000003", "A00000003")], \
            f"replies 1 and 9 did not open exactly one claim each on the car inside the area: {claims}"
        for claim in claims:
            assert (claim.stage, claim.intake_channel, claim.warning_chain_id) == ("reported", "sms_reply", chain_id), \
                f"claim {claim.id} is not a reported SMS-reply claim tied to the warning chain"
        safe = session.execute(select(Notification.reply).where(Notification.recipient == SAFE,
                                                                Notification.kind == "warning")).scalar_one()
        assert safe == "safe", f"reply 2 did not mark the warning safe: {safe}"
        jobs = session.execute(select(RescueJob)).scalars().all()
        assert [(j.customer_id, j.claim_id) for j in jobs] == [("C0000003", claims[1].id)], \
            f"reply 9 did not open exactly one rescue job for its claim: {[(j.customer_id, j.claim_id) for j in jobs]}"
    assert count(url, InboundMessage) == 3, "a reply posted twice was stored twice"

    board = api.dispatcher.get("/v1/rescue/jobs").json()["jobs"]
    assert [j["customer_phone"] for j in board] == [RESCUE], \
        f"the dispatcher does not see the number to call back: {[j['customer_phone'] for j in board]}"

    claim_text = wait_for_texts(api, DAMAGED, 2)[1]
    rescue_text = wait_for_texts(api, RESCUE, 2)[1]
    assert "上传损失照片" in claim_text, f"the answer to 1 does not ask for photos: {claim_text}"
    assert "分享您的位置" in rescue_text, f"the answer to 9 does not ask for the location: {rescue_text}"
    assert signs_in(link_in(claim_text)) == "C0000001", "the claim SMS's link did not sign its customer in"
    assert signs_in(link_in(rescue_text)) == "C0000003", "the rescue SMS's link did not sign its customer in"
    assert len(texts_to(api, SAFE)) == 1, f"reply 2 got an answer it did not need: {texts_to(api, SAFE)}"

    report = api.staff.get(f"/v1/alerts/{api.alert_id}/notifications").json()
    assert report["replies"] == {"damaged": 1, "safe": 1, "rescue": 1}, f"reach report replies: {report['replies']}"
    assert report["by_kind"] == {"warning": 4}, "the reach report's existing counts changed"


def test_anything_else_gets_one_help_reply_and_stop_still_opts_out(warned):
    api, url = warned, warned.database_url
    post_twice(api, "a", CHATTY, "hello?")
    reply(api, "b", CHATTY, "what does this mean")
    help_text = wait_for_texts(api, CHATTY, 2)[1]
    # C0000004 reads English (its locale), so its help is in English.
    assert "2 if you are safe" in help_text and "9 if you need rescue" in help_text, \
        f"the help reply does not explain the menu in the customer's language: {help_text}"
    assert count(url, Notification, Notification.kind == "reply_help") == 1, "more than one help reply per warning"
    assert count(url, Claim) == 0, "a reply off the menu opened a claim"

    assert reply(api, "c", CHATTY, "STOP").status_code == 200
    assert count(url, InboundMessage, InboundMessage.action == "opt_out") == 1, "STOP was not read as an opt-out"
    assert count(url, Claim) == 0, "STOP opened a claim"


def test_a_number_that_was_never_warned_changes_nothing(warned):
    api, url = warned, warned.database_url
    before = len(api.twilio.accepted)
    for sid, number in (("d", NEVER_WARNED), ("e", STRANGER)):
        for body in ("1", "9"):
            post_twice(api, sid if body == "1" else sid.upper(), number, body)
    assert count(url, Claim) == 0, "a reply from a number never warned opened a claim"
    assert count(url, RescueJob) == 0, "a reply from a number never warned opened a rescue job"
    assert count(url, Notification, Notification.reply.is_not(None)) == 0, "a warning was marked by a stranger"
    assert count(url, InboundMessage, InboundMessage.reply == "not_warned") == 4, \
        "the replies from numbers never warned were not recorded as such"
    assert len(api.twilio.accepted) == before, "a number never warned was sent an SMS"


def test_while_a_cat_event_is_open_the_warning_carries_a_link_and_reply_1_is_fast_tracked(book):
    api = book
    declared = api.staff.post("/v1/cat-events", json={
        "code": "CAT-2021-0725-INFA", "hazard": "typhoon",
        "window_start": (utcnow() - timedelta(hours=1)).isoformat(),
        "area": {"type": "Polygon", "coordinates": [[[120, 27.5], [121.5, 27.5], [121.5, 28.5], [120, 28.5], [120, 27.5]]]}})
    assert declared.status_code == 201, f"the CAT event was not declared: {declared.text}"
    warn(api)
    warnings = {number: texts_to(api, number)[0] for number in (DAMAGED, CHATTY)}
    for number, text in warnings.items():
        assert len(text) <= 134 if number == DAMAGED else len(text) <= 306, f"a warning longer than 2 segments: {text}"
    assert signs_in(link_in(warnings[DAMAGED])) == "C0000001", "the Chinese warning's link did not sign its customer in"
    assert signs_in(link_in(warnings[CHATTY])) == "C0000004", "the English warning's link did not sign its customer in"
    assert link_in(warnings[DAMAGED]) != link_in(texts_to(api, SAFE)[0]), "two customers were given the same link"

    post_twice(api, "1", DAMAGED, "1")
    with session_scope(api.database_url) as session:
        claim = session.execute(select(Claim)).scalar_one()
        assert (claim.fast_track, claim.cat_code) == (True, "CAT-2021-0725-INFA"), \
            "a reply 1 inside the open CAT event was not fast-tracked"
    answer = wait_for_texts(api, DAMAGED, 2)[1]
    assert "绿色通道" in answer and signs_in(link_in(answer)) == "C0000001", f"the claim SMS: {answer}"


@pytest.mark.parametrize(("field", "value"), [("Body", "1" + "x" * 1600), ("Body", "1\x00"), ("From", "+86170\x00"),
                                              ("MessageSid", "SM" + "f" * 80), ("From", "")])
def test_a_malformed_reply_is_a_400_naming_the_field_and_opens_nothing(warned, field, value):
    api = warned
    params = {"MessageSid": "SM" + "7" * 32, "AccountSid": ACCOUNT_SID, "From": DAMAGED, "To": FROM_NUMBER,
              "Body": "1", field: value}
    path = "/webhooks/twilio/inbound"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(api.base_url + path, params)
    answer = api.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 400, f"{field}={value[:20]!r} was answered {answer.status_code}: {answer.text}"
    assert answer.json()["error"]["field"] == field, f"the refusal names {answer.json()['error']}, not {field}"
    assert count(api.database_url, Claim) == 0 and count(api.database_url, InboundMessage) == 0, \
        f"a refused reply ({field}) was stored or opened a claim"


def test_an_unsigned_reply_is_refused_and_opens_nothing(warned):
    api = warned
    params = {"MessageSid": "SM" + "8" * 32, "AccountSid": ACCOUNT_SID, "From": DAMAGED, "To": FROM_NUMBER,
              "Body": "1"}
    answer = api.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": "forged"})
    assert answer.status_code == 403, f"a forged reply was answered {answer.status_code}"
    assert count(api.database_url, Claim) == 0, "a forged reply opened a claim"
