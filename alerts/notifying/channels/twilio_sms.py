"""SMS through Twilio with the official SDK (docs/architecture.md).

The SDK's async client (`AsyncTwilioHttpClient`) sends a whole batch concurrently, so a 100 ms round
trip per message does not serialise it. A Messaging Service SID is used when set (Twilio picks the
sender and applies the validity period), else the From number. Every message asks for status
callbacks at HAVEN_PUBLIC_BASE_URL/webhooks/twilio/status. HAVEN_TWILIO_API_BASE_URL points the SDK at
another API host (a regional edge, or the Twilio-compatible server the tests run) through the SDK's
own per-domain `base_url`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from alerts.notifying.channels.base import Outcome, Outgoing, require_settings
from alerts.notifying.channels.pacing import SenderLoop, connector
from alerts.notifying.channels.sdk_channel import SdkChannel
from alerts.notifying.ratelimit import Reserve

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
REQUEST_TIMEOUT_S = 10.0
MAX_VALIDITY_S = 36_000  # Twilio's upper bound for ValidityPeriod


class _TimedAsyncHttpClient(AsyncTwilioHttpClient):
    """The SDK's async client with three fixes for high volume:

    - its own timeout applied (the synchronous TwilioHttpClient falls back to the client-wide timeout;
      the async one passes timeout=None to aiohttp, which means no timeout at all);
    - Basic auth sent as a plain header (aiohttp deprecates `auth=`);
    - the form sent already url-encoded: given a dict, aiohttp builds a FormData that draws a multipart
      boundary from os.urandom for every request, a tenth of a worker's CPU at a thousand SMS a second.
    """

    async def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                      allow_redirects=False):
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if isinstance(data, dict):
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            data = urlencode(data, doseq=True).encode()
        return await super().request(method, url, params=params, data=data, headers=headers, auth=None,
                                     timeout=timeout or self.timeout, allow_redirects=allow_redirects)


@dataclass(frozen=True)
class TwilioSms(SdkChannel):
    account_sid: str
    auth_token: str
    status_callback: str | None
    messaging_service_sid: str | None = None
    from_number: str | None = None
    api_base_url: str | None = None
    timeout_s: float = REQUEST_TIMEOUT_S

    provider = "twilio"
    rate_limited = True

    @classmethod
    def from_settings(cls, settings) -> TwilioSms:
        require_settings("HAVEN_SMS_CHANNEL=twilio", TWILIO_ACCOUNT_SID=settings.twilio_account_sid,
                         TWILIO_AUTH_TOKEN=settings.twilio_auth_token,
                         TWILIO_MESSAGING_SERVICE_SID_OR_TWILIO_FROM=settings.twilio_messaging_service_sid
                         or settings.twilio_from)
        base = settings.public_base_url.rstrip("/")
        return cls(settings.twilio_account_sid, settings.twilio_auth_token,
                   status_callback=base + STATUS_CALLBACK_PATH if base else None,
                   messaging_service_sid=settings.twilio_messaging_service_sid or None,
                   from_number=None if settings.twilio_messaging_service_sid else settings.twilio_from,
                   api_base_url=settings.twilio_api_base_url or None)

    def send(self, messages: list[Outgoing], reserve: Reserve | None = None) -> list[Outcome]:
        return self._send_on_loop(messages, reserve)

    def _shared_client(self) -> Client:
        return SenderLoop.get().client(("twilio", self.account_sid, self.auth_token, self.api_base_url,
                                        self.timeout_s), self._client)

    def _client(self) -> Client:
        http = _TimedAsyncHttpClient(pool_connections=False, timeout=self.timeout_s)
        http.session = aiohttp.ClientSession(connector=connector())
        client = Client(self.account_sid, self.auth_token, http_client=http)
        if self.api_base_url:
            client.api.base_url = self.api_base_url.rstrip("/")
        client.messages  # noqa: B018  (the SDK imports its resources lazily: not on the first slot's time)
        return client

    async def _send_one(self, client: Client, message: Outgoing) -> Outcome:
        options = {"to": message.recipient, "body": message.body}
        if self.status_callback:
            options["status_callback"] = self.status_callback
        if self.messaging_service_sid:
            options["messaging_service_sid"] = self.messaging_service_sid
            validity = _validity_period(message.expires_at)
            if validity:
                options["validity_period"] = validity
        else:
            options["from_"] = self.from_number
        try:
            created = await client.messages.create_async(**options)
        except TwilioRestException as exc:
            return Outcome(message.notification_id, "error", self.provider, http_status=exc.status,
                           error_code=str(exc.code) if exc.code else None, error=exc.msg)
        return Outcome(message.notification_id, "accepted", self.provider, provider_message_id=created.sid)


def _validity_period(expires_at: datetime | None) -> int | None:
    """Seconds Twilio may keep the message queued: never past the warning's own expiry."""
    if expires_at is None:
        return None
    seconds = int((expires_at - datetime.now(UTC)).total_seconds())
    return max(1, min(seconds, MAX_VALIDITY_S))
