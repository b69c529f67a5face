"""Alibaba Cloud SMS through the official SDK (alibabacloud-dysmsapi20170525) against the compatible server,
which checks the SDK's ACS3-HMAC-SHA256 signature and the approved templates the way Aliyun does."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from alerts.notifying.channels.aliyun_sms import AliyunSms, parse_templates, verdict
from alerts.notifying.channels.base import ChannelConfigError, Outgoing
from alerts.notifying.delivery import classify
from config.settings import Settings
from tests.aliyun_support import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SIGN_NAME, TEMPLATES, aliyun_server_fixture  # noqa: F401

WARNING_FACTS = {"hazard": "台风", "level": "橙色", "place": "温州市鹿城区", "hotline": "400-000-0000"}


def outgoing(n: int, kind: str = "warning", language: str = "zh-CN", params=None, body: str = "台风橙色预警",
             recipient: str | None = None) -> Outgoing:
    return Outgoing(notification_id=n, idempotency_key=f"k{n}", customer_id=f"C{n}", channel="sms", kind=kind,
                    recipient=recipient or f"+86170000{n:05d}", body=body, language=language, params=params)


def channel(server, **changes) -> AliyunSms:
    values = {"access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET, "sign_name": SIGN_NAME,
              "templates": parse_templates(TEMPLATES), "endpoint": server.base_url} | changes
    return AliyunSms(**values)


@pytest.mark.parametrize(("language", "code"), [("zh-CN", "SMS_900000001"), ("en", "SMS_900000002")])
def test_a_warning_goes_out_as_its_languages_template_with_the_facts_as_variables(aliyun_server, language, code):
    facts = WARNING_FACTS if language == "zh-CN" else {**WARNING_FACTS, "hazard": "Typhoon", "level": "orange",
                                                       "place": "Lucheng, Wenzhou"}
    [outcome] = channel(aliyun_server).send([outgoing(1, language=language, params=facts)])
    assert outcome.result == "accepted", f"the server refused the warning: {outcome}"
    [received] = aliyun_server.provider.accepted
    assert outcome.provider_message_id == received.biz_id, "the outcome does not carry Aliyun's BizId"
    assert received.template_code == code, f"{language} warning used template {received.template_code}"
    assert received.params == facts, f"the template variables were {received.params}"
    assert received.phone == "17000000001", f"a mainland number went out as {received.phone}, not without +86"
    assert received.out_id == "1", "OutId does not name the notification"
    assert classify(outcome) == "accepted", "an accepted SendSms is not classified accepted"


@pytest.mark.parametrize(("language", "code"), [("zh-CN", "SMS_900000007"), ("en", "SMS_900000008")])
def test_a_sign_in_code_fills_the_code_template_from_its_text(aliyun_server, language, code):
    [outcome] = channel(aliyun_server).send([outgoing(2, "sign_in_code", language, body="Haven code 482913, 5 min")])
    assert outcome.result == "accepted", f"the server refused the code: {outcome}"
    [received] = aliyun_server.provider.accepted
    assert (received.template_code, received.params) == (code, {"code": "482913"}), \
        f"the code went out as {received.template_code} {received.params}"


def test_a_claim_text_sends_its_links_token_the_template_holding_the_links_fixed_part(aliyun_server):
    body = "Haven claims: we have opened a claim from your reply. Add photos here: https://x.example.cn/c/AbCdEfGhIjKlMnOpQrSt_-"
    [outcome] = channel(aliyun_server).send([outgoing(12, "reply_claim", "en", body=body)])
    assert outcome.result == "accepted", f"the server refused the claim text: {outcome}"
    [received] = aliyun_server.provider.accepted
    assert (received.template_code, received.params) == ("SMS_900000010", {"link_token": "AbCdEfGhIjKlMnOpQrSt_-"}), \
        f"the claim text went out as {received.template_code} {received.params}"
    assert received.text.endswith("/c/AbCdEfGhIjKlMnOpQrSt_-"), f"the phone would show {received.text}"


def test_a_batch_is_sent_concurrently(aliyun_server):
    aliyun_server.faults.latency_s = 0.3
    outcomes = channel(aliyun_server).send([outgoing(n, params=WARNING_FACTS) for n in range(1, 11)])
    assert [o.result for o in outcomes] == ["accepted"] * 10, f"not every message was accepted: {outcomes}"
    assert aliyun_server.provider.max_in_flight >= 5, \
        f"only {aliyun_server.provider.max_in_flight} requests were in flight at once"


def test_a_kind_without_a_template_fails_clearly_and_waits_for_the_operator(aliyun_server):
    sender = channel(aliyun_server)
    with pytest.raises(ChannelConfigError, match="'all_clear' in 'fr'"):
        sender.template_for("all_clear", "fr")
    [outcome] = sender.send([outgoing(3, "claim_reminder", "en", body="Your claim")])
    assert "'claim_reminder' in 'en'" in outcome.error, f"the error does not name the kind and language: {outcome}"
    assert classify(outcome) == "retry", "a missing template is the operator's to fix; the message is kept"
    assert aliyun_server.provider.attempts == [], "a message without a template reached the provider"


def test_a_missing_fact_or_a_link_in_a_variable_is_refused_before_sending(aliyun_server):
    without_place = {k: v for k, v in WARNING_FACTS.items() if k != "place"}
    with_link = {**WARNING_FACTS, "place": "https://x.cn/c/abc"}
    outcomes = channel(aliyun_server).send([outgoing(4, params=without_place), outgoing(5, params=with_link)])
    assert "'place'" in outcomes[0].error, f"the missing fact is not named: {outcomes[0]}"
    assert "link" in outcomes[1].error, f"a link in a variable was not refused: {outcomes[1]}"
    assert [classify(o) for o in outcomes] == ["failed", "failed"], "a message that cannot fit its template is retried"
    assert aliyun_server.provider.attempts == [], "a message breaking the variable rules reached the provider"


def test_a_long_place_is_cut_to_aliyuns_35_characters(aliyun_server):
    facts = {**WARNING_FACTS, "place": "浙江省温州市" * 10}
    [outcome] = channel(aliyun_server).send([outgoing(6, params=facts)])
    assert outcome.result == "accepted", f"a long place was refused: {outcome}"
    place = aliyun_server.provider.accepted[0].params["place"]
    assert len(place) == 35, f"the place was {len(place)} characters"
    assert place.endswith("…"), "a cut place does not end with an ellipsis"


@pytest.mark.parametrize(("code", "expected"), [("isv.MOBILE_NUMBER_ILLEGAL", "failed"),
                                                ("isv.BUSINESS_LIMIT_CONTROL", "failed"),
                                                ("isv.AMOUNT_NOT_ENOUGH", "retry"),
                                                ("isp.SYSTEM_ERROR", "retry")])
def test_aliyun_codes_are_classified_permanent_or_retryable(aliyun_server, code, expected):
    aliyun_server.faults.codes = {"17000000007": code}
    [outcome] = channel(aliyun_server).send([outgoing(7, params=WARNING_FACTS)])
    assert (outcome.result, outcome.http_status, outcome.error_code) == ("error", 200, code), \
        f"the refusal came back as {outcome}"
    assert classify(outcome) == expected, f"{code} was classified {classify(outcome)}"


def test_throttling_server_errors_and_a_refused_connection_are_retried(aliyun_server):
    aliyun_server.faults.throttle_next, aliyun_server.faults.status_500_next = 1, 1
    sender = channel(aliyun_server)
    [throttled] = sender.send([outgoing(8, params=WARNING_FACTS)])
    [server_error] = sender.send([outgoing(9, params=WARNING_FACTS)])
    [unreachable] = channel(aliyun_server, endpoint="http://127.0.0.1:1").send([outgoing(10, params=WARNING_FACTS)])
    assert (throttled.http_status, throttled.error_code) == (400, "Throttling.User"), f"throttling came as {throttled}"
    assert (server_error.http_status, classify(server_error)) == (500, "retry"), f"a 500 came as {server_error}"
    assert classify(throttled) == "retry", "throttling is not retried"
    assert unreachable.transport_error and not unreachable.maybe_handed_over, \
        f"a refused connection is not a transport error that certainly did not hand over: {unreachable}"


def test_a_wrong_secret_is_refused_by_the_signature_check(aliyun_server):
    [outcome] = channel(aliyun_server, access_key_secret="not-the-secret").send([outgoing(11, params=WARNING_FACTS)])
    assert (outcome.http_status, outcome.error_code) == (400, "SignatureDoesNotMatch"), f"got {outcome}"
    assert aliyun_server.provider.accepted == [], "a badly signed request was accepted"
    assert verdict(outcome.error_code) == "retry", "a credentials problem loses the message"


@pytest.mark.parametrize(("change", "code"), [
    ("replay", "SignatureNonceUsed"), ("other number", "SignatureDoesNotMatch"),
    ("an hour old", "InvalidTimeStamp.Expired"), ("unsigned", "IncompleteSignature")])
def test_the_server_takes_only_fresh_requests_signed_for_what_they_say(aliyun_server, change, code):
    """The SDK's own signed request, sent again as is or changed: only the original is accepted."""
    [original] = channel(aliyun_server).send([outgoing(13, params=WARNING_FACTS)])
    assert original.result == "accepted", f"the SDK's signed request was refused: {original}"
    path, headers, body = aliyun_server.provider.received[0]
    if change == "other number":
        path = path.replace("17000000013", "17000000099")
    elif change == "an hour old":
        headers["x-acs-date"] = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif change == "unsigned":
        del headers["Authorization"]
    answer = requests.post(aliyun_server.base_url + path, data=body, headers=headers, timeout=10)
    assert (answer.status_code, answer.json()["Code"]) == (400, code), f"{change}: {answer.status_code} {answer.text}"
    assert len(aliyun_server.provider.accepted) == 1, f"{change}: a second message was accepted"


def test_settings_name_what_the_aliyun_channel_lacks():
    settings = Settings(sms_channel="aliyun", aliyun_access_key_id=ACCESS_KEY_ID)
    with pytest.raises(ChannelConfigError, match="HAVEN_ALIYUN_ACCESS_KEY_SECRET, HAVEN_ALIYUN_SIGN_NAME"):
        AliyunSms.from_settings(settings)
    broken = Settings(sms_channel="aliyun", aliyun_access_key_id="a", aliyun_access_key_secret="b",
                      aliyun_sign_name="c", aliyun_templates=json.loads('{"warning": {"en": {"params": []}}}'))
    with pytest.raises(ChannelConfigError, match=r"\['warning'\]\['en'\] needs a template code"):
        AliyunSms.from_settings(broken)
