"""Channels against real HTTP on 127.0.0.1: the official twilio SDK against the Twilio-compatible server,
and a push gateway that checks the HMAC signature. What each provider answer becomes is alerts.delivery's."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from aiohttp import web

from alerts.notifying.channels.base import Outgoing
from alerts.notifying.channels.push import SIGNATURE_HEADER, HttpPush, verify
from alerts.notifying.channels.twilio_sms import TwilioSms
from alerts.notifying.delivery import classify
from alerts.notifying.ratelimit import LocalRateLimiter, RedisRateLimiter, peak_in_window
from devtools.twilio_compatible import RunningServer
from tests.notify_support import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, twilio_server_fixture  # noqa: F401

CALLBACK = "http://127.0.0.1:9/webhooks/twilio/status"


def outgoing(n: int, recipient: str | None = None, expires_at=None) -> Outgoing:
    return Outgoing(notification_id=n, idempotency_key=f"chain:1/customer:C{n}/sms/warning", customer_id=f"C{n}",
                    channel="sms", kind="warning", recipient=recipient or f"+86170000{n:05d}",
                    body=f"【Haven保险】台风橙色预警 {n}", language="zh-CN", alert_id=1, chain_id=1, expires_at=expires_at)


def sms(server, **changes) -> TwilioSms:
    values = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "status_callback": CALLBACK,
              "from_number": FROM_NUMBER, "api_base_url": server.base_url} | changes
    return TwilioSms(**values)


def test_the_sdk_hands_messages_over_with_from_and_status_callback(twilio_server):
    [outcome] = sms(twilio_server).send([outgoing(1)])
    assert outcome.result == "accepted", 'fact: outcome.result == "accepted"'
    assert outcome.provider == "twilio", 'fact: outcome.provider == "twilio"'
    assert outcome.provider_message_id.startswith("SM"), 'fact: outcome.provider_message_id.startswith("SM")'
    assert len(outcome.provider_message_id) == 34, 'fact: len(outcome.provider_message_id) == 34'
    assert classify(outcome) == "accepted"
    [received] = twilio_server.provider.accepted
    assert received.sid == outcome.provider_message_id
    assert received.params["To"] == "+8617000000001", 'fact: received.params["To"] == "+8617000000001"'
    assert received.params["From"] == FROM_NUMBER, 'fact: received.params["From"] == FROM_NUMBER'
    assert received.params["Body"] == "【Haven保险】台风橙色预警 1"
    assert received.params["StatusCallback"] == CALLBACK


def test_a_messaging_service_picks_the_sender_and_never_keeps_a_warning_past_its_expiry(twilio_server):
    service = "MG" + "f" * 32
    expires = datetime.now(UTC) + timedelta(minutes=30)
    [outcome] = sms(twilio_server, from_number=None, messaging_service_sid=service).send([outgoing(2, expires_at=expires)])
    assert outcome.result == "accepted"
    params = twilio_server.provider.accepted[0].params
    assert params["MessagingServiceSid"] == service, 'fact: params["MessagingServiceSid"] == service'
    assert "From" not in params, 'fact: "From" not in params'
    assert 1700 <= int(params["ValidityPeriod"]) <= 1800


@pytest.mark.parametrize("code", [21211, 21610, 21614])
def test_permanent_twilio_errors_are_never_retried(twilio_server, code):
    twilio_server.faults.permanent = {"+8617000000003": code}
    [outcome] = sms(twilio_server).send([outgoing(3)])
    assert (outcome.result, outcome.http_status, outcome.error_code) == ("error", 400, str(code))
    assert classify(outcome) == "failed"


def test_an_invalid_number_is_refused_by_the_provider_and_fails(twilio_server):
    [outcome] = sms(twilio_server).send([outgoing(4, recipient="12345")])
    assert outcome.error_code == "21211", 'fact: outcome.error_code == "21211"'
    assert classify(outcome) == "failed", 'fact: classify(outcome) == "failed"'


def test_429_500_and_timeouts_are_retried(twilio_server):
    provider = twilio_server.provider
    provider.faults.status_429_until = time.time() + 60
    [too_many] = sms(twilio_server).send([outgoing(5)])
    assert (too_many.http_status, too_many.error_code, classify(too_many)) == (429, "20429", "retry")
    provider.faults.status_429_until = 0
    provider.faults.status_500_next = 1
    [broken] = sms(twilio_server).send([outgoing(6)])
    assert (broken.http_status, classify(broken)) == (500, "retry")
    provider.faults.slow_next, provider.faults.slow_s = 1, 2.0
    [slow] = sms(twilio_server, timeout_s=0.3).send([outgoing(7)])
    assert slow.transport_error, 'fact: slow.transport_error'
    assert slow.maybe_handed_over, 'fact: slow.maybe_handed_over'
    assert classify(slow) == "retry", 'fact: classify(slow) == "retry"'


def test_a_provider_that_refuses_connections_is_retried_and_known_not_to_have_the_message():
    from tests.support import free_port

    [outcome] = sms(type("Nowhere", (), {"base_url": f"http://127.0.0.1:{free_port()}"})()).send([outgoing(8)])
    assert outcome.transport_error, 'fact: outcome.transport_error'
    assert not outcome.maybe_handed_over, 'fact: not outcome.maybe_handed_over'
    assert classify(outcome) == "retry", 'fact: classify(outcome) == "retry"'


def test_wrong_credentials_are_retried_not_dropped(twilio_server):
    [outcome] = sms(twilio_server, auth_token="wrong").send([outgoing(9)])
    assert (outcome.http_status, outcome.error_code, classify(outcome)) == (401, "20003", "retry")


def test_a_batch_is_sent_concurrently_not_one_round_trip_after_another(twilio_server):
    twilio_server.faults.latency_s = 0.2
    outcomes = sms(twilio_server).send([outgoing(n) for n in range(100, 160)])
    assert [o.result for o in outcomes] == ["accepted"] * 60
    assert twilio_server.provider.max_in_flight >= 50


def test_slots_space_the_hand_overs_at_the_rate(twilio_server):
    limiter = LocalRateLimiter(rate_per_s=40)
    messages = [outgoing(n) for n in range(200, 280)]
    sms(twilio_server).send(messages[:40], limiter.reserve)
    sms(twilio_server).send(messages[40:], limiter.reserve)
    arrivals = [at for at, _, _ in twilio_server.provider.attempts]
    assert len(arrivals) == 80
    assert peak_in_window(arrivals, 1.0) <= 40
    assert max(arrivals) - min(arrivals) >= 1.9


def test_a_start_that_missed_its_slot_takes_a_new_one_instead_of_bunching():
    """The process is busy for 200 ms mid-batch: the slots that passed meanwhile are given up, not used in a burst."""
    import asyncio

    from alerts.notifying.channels.base import Outcome
    from alerts.notifying.channels.pacing import send_paced

    limiter, reservations, starts = LocalRateLimiter(rate_per_s=50), [], []

    def reserve(count):
        reservations.append(count)
        return limiter.reserve(count)

    async def send_one(message):
        starts.append(time.monotonic())
        if message.notification_id == 3:
            time.sleep(0.2)  # blocks the event loop, as a busy process would
        return Outcome(message.notification_id, "accepted", "test", f"SM{message.notification_id}")

    outcomes = asyncio.run(send_paced([outgoing(n) for n in range(10)], reserve, send_one, "test"))
    assert [o.result for o in outcomes] == ["accepted"] * 10
    assert len(reservations) >= 2  # the late part of the batch took new slots
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.015  # 50/s (less the headroom): never two starts in a burst


def test_without_a_limiter_nothing_is_handed_over(twilio_server):
    def broken(count):
        raise redis.ConnectionError("Redis is restarting")

    outcomes = sms(twilio_server).send([outgoing(n) for n in range(400, 405)], broken)
    assert all(o.transport_error and not o.maybe_handed_over and classify(o) == "retry" for o in outcomes)
    assert twilio_server.provider.attempts == []


def test_the_redis_bucket_is_one_schedule_for_every_worker():
    from config import get_settings

    key = f"{get_settings().redis_key_prefix}haven:ratelimit:test-{uuid.uuid4().hex}"
    workers = [RedisRateLimiter(redis.Redis.from_url(get_settings().redis_url), key, rate_per_s=100) for _ in range(2)]
    reservations = [workers[i % 2].reserve(25) for i in range(4)]
    slots = sorted(r.at(i) for r in reservations for i in range(r.count))
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert len(slots) == 100
    # 100/s: one slot every 10 ms whichever worker holds it, give or take a Redis round trip
    assert min(gaps) >= 0.008
    assert 0.98 <= slots[-1] - slots[0] <= 1.1
    assert peak_in_window(slots, 1.0) <= 100


# --- push -----------------------------------------------------------------------------------------

SECRET = "push-secret-for-tests"


class PushGateway:
    def __init__(self, status: int = 200):
        self.status, self.received = status, []
        app = web.Application()
        app.router.add_post("/push", self.push)
        self.server = RunningServer(app)

    async def push(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        if not verify(SECRET, body, request.headers.get(SIGNATURE_HEADER, "")):
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response({"id": f"gw-{len(self.received)}"}, status=self.status)


@pytest.fixture
def gateway():
    made = []

    def start(status=200):
        made.append(PushGateway(status))
        return made[-1]

    yield start
    for gw in made:
        gw.server.stop()


def test_push_is_a_signed_json_post_and_done_when_the_gateway_takes_it(gateway):
    gw = gateway()
    message = Outgoing(11, "chain:1/customer:C11/push/warning", "C11", "push", "warning", "device-token-11", "台风橙色预警",
                       language="zh-CN", alert_id=3, chain_id=1)
    [outcome] = HttpPush(gw.server.base_url + "/push", SECRET).send([message])
    assert (outcome.result, outcome.provider_message_id, classify(outcome)) == ("delivered", "gw-1", "delivered")
    headers, body = gw.received[0]
    assert json.loads(body) == {"notification_id": 11, "token": "device-token-11", "body": "台风橙色预警", "kind": "warning",
                                "language": "zh-CN", "customer_id": "C11", "alert_id": 3, "chain_id": 1}
    assert headers["Idempotency-Key"] == "chain:1/customer:C11/push/warning"
    assert not verify("another-secret", body, headers[SIGNATURE_HEADER])
    assert not verify(SECRET, body + b" ", headers[SIGNATURE_HEADER])


@pytest.mark.parametrize(("status", "verdict"), [(410, "failed"), (400, "failed"), (503, "retry"), (429, "retry")])
def test_push_errors_follow_the_same_retry_rules(gateway, status, verdict):
    gw = gateway(status)
    message = Outgoing(12, "k", "C12", "push", "warning", "tok", "body")
    [outcome] = HttpPush(gw.server.base_url + "/push", SECRET).send([message])
    assert outcome.http_status == status, 'fact: outcome.http_status == status'
    assert classify(outcome) == verdict, 'fact: classify(outcome) == verdict'


def test_a_push_signed_with_the_wrong_secret_is_refused_by_the_gateway_and_retried(gateway):
    gw = gateway()
    [outcome] = HttpPush(gw.server.base_url + "/push", "not-the-secret").send([Outgoing(13, "k", "C", "push", "w", "t", "b")])
    assert outcome.http_status == 401, 'fact: outcome.http_status == 401'
    assert classify(outcome) == "retry", 'fact: classify(outcome) == "retry"'
