"""App push through an HTTP push gateway: a signed JSON POST to HAVEN_PUSH_URL (docs/architecture.md).

The body is signed with HMAC-SHA256 over "<timestamp>.<body>" using HAVEN_PUSH_SECRET and sent as
`X-Haven-Signature: t=<timestamp>,v1=<hex>`, so the gateway can check both origin and freshness.
`Idempotency-Key` carries the notification's key: a retried POST is one push for a gateway that honours it.
A 2xx means the gateway took the push; there are no push receipts, so that ends the delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import aiohttp

from alerts.notifying.channels.base import Outcome, Outgoing, require_settings
from alerts.notifying.channels.pacing import SenderLoop, connector, send_paced
from alerts.notifying.ratelimit import Reserve

SIGNATURE_HEADER = "X-Haven-Signature"
REQUEST_TIMEOUT_S = 10.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, max_age_s: float = 300.0, now: float | None = None) -> bool:
    """For gateways (and tests): is this signature ours and fresh?"""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


@dataclass(frozen=True)
class HttpPush:
    url: str
    secret: str
    timeout_s: float = REQUEST_TIMEOUT_S

    provider = "push"
    rate_limited = False

    @classmethod
    def from_settings(cls, settings) -> HttpPush:
        require_settings("HAVEN_PUSH_CHANNEL=http", HAVEN_PUSH_URL=settings.push_url,
                         HAVEN_PUSH_SECRET=settings.push_secret)
        return cls(settings.push_url, settings.push_secret)

    def send(self, messages: list[Outgoing], reserve: Reserve | None = None) -> list[Outcome]:
        return SenderLoop.get().run(self._send_batch(messages, reserve))

    async def _send_batch(self, messages: list[Outgoing], reserve: Reserve | None) -> list[Outcome]:
        session = SenderLoop.get().client(("push", self.url, self.timeout_s), self._session)
        return await send_paced(messages, reserve, lambda m: self._send_one(session, m), self.provider)

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=connector(), timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def _send_one(self, session: aiohttp.ClientSession, message: Outgoing) -> Outcome:
        body = json.dumps({
            "notification_id": message.notification_id, "token": message.recipient, "body": message.body,
            "kind": message.kind, "language": message.language, "customer_id": message.customer_id,
            "alert_id": message.alert_id, "chain_id": message.chain_id,
        }, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key,
                   SIGNATURE_HEADER: sign(self.secret, body, int(time.time()))}
        async with session.post(self.url, data=body, headers=headers) as response:
            text = await response.text()
            if 200 <= response.status < 300:
                return Outcome(message.notification_id, "delivered", self.provider,
                               provider_message_id=_gateway_id(text) or f"push-{message.notification_id}")
            return Outcome(message.notification_id, "error", self.provider, http_status=response.status,
                           error_code=str(response.status), error=text[:500] or response.reason)


def _gateway_id(text: str) -> str | None:
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    value = answer.get("id") if isinstance(answer, dict) else None
    return str(value)[:64] if value is not None else None
