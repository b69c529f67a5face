"""A Twilio-compatible Messages API on 127.0.0.1, for the tests and `haven bench fanout`.

It speaks what the official SDK speaks: POST /2010-04-01/Accounts/{AccountSid}/Messages.json with Basic
auth and form fields, answering 201 with Twilio's message JSON, or Twilio's error JSON
({"code", "message", "more_info", "status"}). Faults can be injected: a latency on every request,
429 for a while, 500 for the next N requests or for a share of them, slow answers, permanent error codes
per number, and the final status each number ends with. Status callbacks are POSTed to the message's
StatusCallback the way Twilio does (form-encoded, signed with X-Twilio-Signature), optionally twice or
out of order. Everything accepted and every attempt is recorded, so a test can count messages per number and the
peak rate seen by "the provider".

It is a test double, not part of the product; it is packaged so an installed `haven bench` can run it
as a separate process (`python -m devtools.twilio_compatible`), as a real provider would be, and
talks to it over HTTP only (GET /_stats, POST /_faults).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from email.utils import formatdate

from aiohttp import ClientSession, ClientTimeout, web
from twilio.request_validator import RequestValidator

from alerts.notifying.ratelimit import peak_in_window

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ERRORS = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
}


@dataclass
class Faults:
    latency_s: float = 0.0  # every request
    status_429_until: float = 0.0  # time.time() before which every request gets 429
    status_500_next: int = 0  # the next N requests get 500
    status_500_share: float = 0.0  # this share of requests, at random, gets 500
    slow_next: int = 0  # the next N requests take slow_s before answering
    slow_s: float = 0.0
    permanent: dict[str, int] = field(default_factory=dict)  # To -> Twilio error code
    final_status: dict[str, list] = field(default_factory=dict)  # To -> [status, error code]
    callbacks: bool = True
    callback_delay_s: float = 0.0
    duplicate_callbacks: bool = False  # send every callback twice
    reverse_callbacks: bool = False  # send the final status before "sent"


@dataclass(frozen=True)
class Accepted:
    sid: str
    to: str
    body: str
    at: float  # time.time() when the request arrived
    sender: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    params: dict = field(default_factory=dict)  # the form as received


@functools.lru_cache(maxsize=4)
def _rfc2822(second: int) -> str:
    return formatdate(second, usegmt=True)


def _error(code: int, detail: str | None = None) -> web.Response:
    status, message = ERRORS[code]
    body = {"code": code, "message": detail or message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    return web.json_response(body, status=status)


class TwilioCompatible:
    def __init__(self, account_sid: str, auth_token: str, faults: Faults | None = None):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.faults = faults or Faults()
        self.accepted: list[Accepted] = []
        self.attempts: list[tuple[float, int, str]] = []  # (time, HTTP status, To)
        self.callbacks_sent: list[tuple[str, str, int]] = []  # (MessageSid, status, HTTP status of our webhook)
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at once: proof a batch is not serialised
        self._validator = RequestValidator(auth_token)
        self._basic_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._callback_session: ClientSession | None = None
        self._pending: set[asyncio.Task] = set()

    # --- the API ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self.create_message)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_faults", self.set_faults)
        app.on_cleanup.append(self._close)
        return app

    def _authorised(self, request: web.Request) -> bool:
        return (request.headers.get("Authorization") == self._basic_auth
                and request.match_info["account_sid"] == self.account_sid)

    async def create_message(self, request: web.Request) -> web.Response:
        arrived = time.time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            form = await request.post()
            to = form.get("To", "")
            response = await self._answer(request, form, to, arrived)
        finally:
            self.in_flight -= 1
        self.attempts.append((arrived, response.status, to))
        return response

    async def _answer(self, request, form, to: str, arrived: float) -> web.Response:
        faults = self.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.slow_next > 0:
            faults.slow_next -= 1
            await asyncio.sleep(faults.slow_s)
        if not self._authorised(request):
            return _error(20003)
        if arrived < faults.status_429_until:
            return _error(20429)
        if faults.status_500_next > 0:
            faults.status_500_next -= 1
            return _error(20500)
        if faults.status_500_share and random.random() < faults.status_500_share:
            return _error(20500)
        if not to:
            return _error(21604)
        if not E164.match(to):
            return _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("Body"):
            return _error(21602)
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not (sender or service):
            return _error(21603)
        if to in faults.permanent:
            return _error(faults.permanent[to])
        sid = "SM" + secrets.token_hex(16)
        message = Accepted(sid, to, form["Body"], arrived, sender, service, form.get("StatusCallback"), dict(form))
        self.accepted.append(message)
        if message.status_callback and faults.callbacks:
            task = asyncio.create_task(self._send_callbacks(message))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return web.json_response(self._resource(message), status=201)

    def _resource(self, m: Accepted) -> dict:
        now = _rfc2822(int(m.at))
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}.json"
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": m.body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": m.sender, "messaging_service_sid": m.messaging_service_sid,
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD", "sid": m.sid,
            "status": "accepted" if m.messaging_service_sid else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")}, "to": m.to, "uri": uri,
        }

    # --- status callbacks ------------------------------------------------------------------------

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """Headers Twilio would send with these form parameters to this URL."""
        return {"X-Twilio-Signature": self._validator.compute_signature(url, params)}

    async def _send_callbacks(self, message: Accepted) -> None:
        faults = self.faults
        if faults.callback_delay_s:
            await asyncio.sleep(faults.callback_delay_s)
        final, error_code = faults.final_status.get(message.to, ["delivered", None])
        statuses = [("sent", None), (final, error_code)]
        if faults.reverse_callbacks:
            statuses.reverse()
        if faults.duplicate_callbacks:
            statuses = [s for s in statuses for _ in (0, 1)]
        for status, code in statuses:
            await self._post_callback(message, status, code)

    async def _post_callback(self, message: Accepted, status: str, error_code: str | None) -> None:
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": message.sender or "",
                  "MessageSid": message.sid, "MessageStatus": status, "SmsSid": message.sid, "SmsStatus": status,
                  "To": message.to}
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code:
            params["ErrorCode"] = str(error_code)
        if self._callback_session is None:
            self._callback_session = ClientSession(timeout=ClientTimeout(total=15))
        try:
            async with self._callback_session.post(message.status_callback, data=params,
                                                   headers=self.signed(message.status_callback, params)) as answer:
                self.callbacks_sent.append((message.sid, status, answer.status))
        except Exception:  # Twilio just logs a failed callback (error 11200); so do we
            self.callbacks_sent.append((message.sid, status, 0))

    async def _close(self, _app) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._callback_session is not None:
            await self._callback_session.close()

    # --- what the tests and the bench read -------------------------------------------------------

    def per_recipient(self) -> Counter:
        return Counter(m.to for m in self.accepted)

    def peak_per_window(self, window_s: float = 1.0) -> int:
        """The most requests (any answer) that arrived within any window of this length."""
        return peak_in_window([at for at, _, _ in self.attempts], window_s)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "accepted": [[m.to, m.at] for m in self.accepted],
            "attempts": [[at, status] for at, status, _ in self.attempts],
            "attempt_numbers": [to for _, _, to in self.attempts],  # the To of each attempt, in the same order
        })

    async def set_faults(self, request: web.Request) -> web.Response:
        changes = await request.json()
        if "status_429_for_s" in changes:
            self.faults.status_429_until = time.time() + float(changes.pop("status_429_for_s"))
        for key, value in changes.items():
            if not hasattr(self.faults, key):
                return web.json_response({"error": f"unknown fault {key}"}, status=400)
            setattr(self.faults, key, value)
        return web.json_response(asdict(self.faults))


class RunningServer:
    """An aiohttp application served on 127.0.0.1 from a background thread with its own loop (for tests)."""

    def __init__(self, app: web.Application, port: int = 0):
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()

        async def serve():
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(target=lambda: (self._loop.run_until_complete(serve()),
                                                        self._loop.run_forever()), daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise RuntimeError("the test server did not start")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(20)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--no-callbacks", action="store_true")
    args = parser.parse_args()
    provider = TwilioCompatible(args.account_sid, args.auth_token,
                                Faults(latency_s=args.latency_ms / 1000, callbacks=not args.no_callbacks))

    async def serve():
        runner = web.AppRunner(provider.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=2048)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
