"""An Alibaba Cloud SMS-compatible API (dysmsapi 2017-05-25) on 127.0.0.1, for the tests and the benches.

It speaks what the official SDK (alibabacloud-dysmsapi20170525) speaks: an RPC-style POST / naming the
operation in x-acs-action (SendSms), the parameters in the query string (PhoneNumbers, SignName,
TemplateCode, TemplateParam, OutId), signed with the V3 algorithm ACS3-HMAC-SHA256 (the `Authorization` header over the canonical
request: method, path, sorted query, the signed headers, the body's SHA-256). It checks that signature with
the access key's secret, refuses a stale x-acs-date or a reused x-acs-signature-nonce, then checks the
sign name and the template against the approved ones, the TemplateParam against the template's variables
(all present, none unknown, at most 35 characters, no link; 4-6 letters or digits in a code template) and
answers as Aliyun does: HTTP 200 with Code "OK", a BizId and a RequestId, or HTTP 200 with an isv.* Code for
a refused message; gateway errors (signature, throttling, 5xx) as HTTP errors with Aliyun's error JSON.
Faults can be injected (latency, throttling, 500s for the next N requests or a share of them, a Code per
number), everything received and accepted is recorded, and each accepted message's status report
(SmsReport, in a JSON array as Aliyun pushes them; `post_reports` sends any batch) goes to the report URL.

It is a test double, not part of the product; `python -m devtools.aliyun_compatible` runs it standalone
(it prints {"port": ...}); GET /_stats and POST /_faults talk to it over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiohttp import ClientSession, ClientTimeout, web

from alerts.notifying.ratelimit import peak_in_window
from devtools.twilio_compatible import RunningServer

__all__ = ["AliyunCompatible", "ApprovedTemplate", "Faults", "RunningServer"]

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
PARAM_MAX = 35
MAINLAND = re.compile(r"^1[3-9]\d{9}$")
INTERNATIONAL = re.compile(r"^[1-9]\d{7,14}$")
CODE_VALUE = re.compile(r"^[0-9A-Za-z]{4,6}$")
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
AUTHORIZATION = re.compile(r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$")
REQUIRED_SIGNED = {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
                   "x-acs-version"}
REPORT_TIME = "%Y-%m-%d %H:%M:%S"
CHINA = timedelta(hours=8)


@dataclass(frozen=True)
class ApprovedTemplate:
    code: str
    variables: frozenset[str]
    verification_code: bool = False  # one variable, 4-6 letters or digits
    content: str = ""  # the approved wording with ${variable} placeholders (what the phone shows)

    def render(self, values: dict[str, str]) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), ""), self.content)


@dataclass
class Faults:
    latency_s: float = 0.0
    throttle_next: int = 0  # the next N requests get HTTP 400 Throttling.User
    status_500_next: int = 0  # the next N requests get HTTP 500 InternalError
    status_500_share: float = 0.0  # this share of requests, at random, gets HTTP 500
    codes: dict[str, str] = field(default_factory=dict)  # PhoneNumbers -> the Code to refuse it with
    final: dict[str, list] = field(default_factory=dict)  # PhoneNumbers -> [success, err_code]
    reports: bool = True
    report_delay_s: float = 0.0
    duplicate_reports: bool = False


@dataclass(frozen=True)
class Accepted:
    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    params: dict
    out_id: str | None
    at: float
    text: str


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"RequestId": _request_id(), "HostId": "dysmsapi.aliyuncs.com", "Code": code,
                              "Message": message, "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}"},
                             status=status)


def _refused(code: str, message: str) -> web.Response:
    """A message Aliyun will not send: HTTP 200 with the reason's Code (the SDK hands it back as an answer)."""
    return web.json_response({"RequestId": _request_id(), "Code": code, "Message": message})


def _request_id() -> str:
    raw = secrets.token_hex(16).upper()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _encode(value: str) -> str:
    return quote(value, safe="~", encoding="utf-8")


def canonical_request(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      signed: list[str], payload_hash: str) -> str:
    """The V3 canonical request (https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature)."""
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    return f"{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{';'.join(signed)}\n{payload_hash}"


def signature(secret: str, canonical: str) -> str:
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunCompatible:
    def __init__(self, access_key_id: str, access_key_secret: str, sign_names: set[str],
                 templates: list[ApprovedTemplate], report_url: str | None = None, faults: Faults | None = None):
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.sign_names = set(sign_names)
        self.templates = {t.code: t for t in templates}
        self.report_url = report_url
        self.faults = faults or Faults()
        self.accepted: list[Accepted] = []
        self.attempts: list[tuple[float, int, str]] = []  # (time, HTTP status, Code)
        self.received: list[tuple[str, dict[str, str], bytes]] = []  # (path and query, headers, body) as sent
        self.reports_sent: list[tuple[str, bool, int]] = []  # (biz_id, success, HTTP status of the webhook)
        self.in_flight = 0
        self.max_in_flight = 0
        self._nonces: dict[str, float] = {}
        self._report_session: ClientSession | None = None
        self._pending: set[asyncio.Task] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.rpc)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_faults", self.set_faults)
        app.on_cleanup.append(self._close)
        return app

    # --- the API ---------------------------------------------------------------------------------

    async def rpc(self, request: web.Request) -> web.Response:
        arrived = time.time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            self.received.append((request.path_qs, dict(request.headers), body))
            response = await self._answer(request, body, arrived)
        finally:
            self.in_flight -= 1
        code = json.loads(response.body).get("Code", "") if response.body else ""
        self.attempts.append((arrived, response.status, code))
        return response

    async def _answer(self, request: web.Request, body: bytes, arrived: float) -> web.Response:
        faults = self.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        refusal = self.check_signature(request, body)
        if refusal is not None:
            return refusal
        if faults.throttle_next > 0:
            faults.throttle_next -= 1
            return _error(400, "Throttling.User", "Request was denied due to user flow control.")
        if faults.status_500_next > 0 or (faults.status_500_share and random.random() < faults.status_500_share):
            faults.status_500_next = max(0, faults.status_500_next - 1)
            return _error(500, "InternalError", "The request processing has failed due to some unknown error.")
        query = request.query
        # V3 names the operation in signed headers; the older RPC signature in the query.
        action = request.headers.get("x-acs-action") or query.get("Action")
        if action != "SendSms" or (request.headers.get("x-acs-version") or query.get("Version")) != "2017-05-25":
            return _error(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        return self._send_sms(query, arrived)

    def check_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        """None when the request carries a fresh, valid ACS3-HMAC-SHA256 signature by our access key."""
        match = AUTHORIZATION.match(request.headers.get("Authorization", ""))
        if match is None:
            return _error(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        key_id, signed_headers, given = match.groups()
        if key_id != self.access_key_id:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = signed_headers.split(";")
        if not set(signed) >= REQUIRED_SIGNED or signed != sorted(signed):
            return _error(400, "IncompleteSignature", f"SignedHeaders must cover {', '.join(sorted(REQUIRED_SIGNED))}")
        headers = {name.lower(): value for name, value in request.headers.items()}
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            return _error(400, "IncompleteSignature", "x-acs-content-sha256 does not match the body.")
        try:
            sent_at = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return _error(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(datetime.now(UTC) - sent_at) > MAX_SKEW:
            return _error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        canonical = canonical_request(request.method, request.path, list(request.query.items()), headers, signed,
                                      payload_hash)
        if not hmac.compare_digest(signature(self.access_key_secret, canonical), given):
            return _error(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.")
        nonce = headers["x-acs-signature-nonce"]
        now = time.time()
        if nonce in self._nonces:
            return _error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces = {n: t for n, t in self._nonces.items() if t > now - MAX_SKEW.total_seconds()}
        self._nonces[nonce] = now
        return None

    def _send_sms(self, query, arrived: float) -> web.Response:
        phone = query.get("PhoneNumbers", "")
        if not (MAINLAND.match(phone) or INTERNATIONAL.match(phone)):
            return _refused("isv.MOBILE_NUMBER_ILLEGAL", f"invalid mobile number {phone[:20]}")
        if query.get("SignName") not in self.sign_names:
            return _refused("isv.SMS_SIGNATURE_ILLEGAL", "the sign name is not approved")
        template = self.templates.get(query.get("TemplateCode", ""))
        if template is None:
            return _refused("isv.SMS_TEMPLATE_ILLEGAL", "the template is not approved or does not exist")
        try:
            values = json.loads(query.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return _refused("isv.INVALID_JSON_PARAM", "TemplateParam must be a JSON object of strings")
        refusal = self._check_values(template, values)
        if refusal is not None:
            return refusal
        if phone in self.faults.codes:
            return _refused(self.faults.codes[phone], "refused as told")
        biz_id = f"{secrets.randbelow(10**15):015d}^{secrets.randbelow(10**10):010d}"
        message = Accepted(biz_id, phone, query["SignName"], template.code, values, query.get("OutId"), arrived,
                           f"【{query['SignName']}】{template.render(values)}")
        self.accepted.append(message)
        if self.report_url and self.faults.reports:
            task = asyncio.create_task(self._report(message))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return web.json_response({"RequestId": _request_id(), "Code": "OK", "Message": "OK", "BizId": biz_id})

    @staticmethod
    def _check_values(template: ApprovedTemplate, values: dict[str, str]) -> web.Response | None:
        missing = template.variables - set(values)
        if missing:
            return _refused("isv.TEMPLATE_MISSING_PARAMETERS", f"missing {', '.join(sorted(missing))}")
        unknown = set(values) - template.variables
        if unknown:
            return _refused("isv.TEMPLATE_PARAMS_ILLEGAL", f"unknown {', '.join(sorted(unknown))}")
        for name, value in values.items():
            if template.verification_code and not CODE_VALUE.match(value):
                return _refused("isv.TEMPLATE_PARAMS_ILLEGAL", f"{name} must be 4-6 letters or digits")
            if not value or len(value) > PARAM_MAX:
                return _refused("isv.PARAM_LENGTH_LIMIT", f"{name} must be 1-{PARAM_MAX} characters")
            if LINK.search(value):
                return _refused("isv.PARAM_NOT_SUPPORT_URL", f"{name} must not hold a link")
        return None

    # --- status reports --------------------------------------------------------------------------

    def report_for(self, message: Accepted, success: bool = True, err_code: str = "DELIVERED") -> dict:
        """One SmsReport item as Aliyun pushes it (times in China Standard Time)."""
        now = datetime.now(UTC) + CHINA
        return {"phone_number": message.phone, "send_time": (datetime.fromtimestamp(message.at, UTC) + CHINA)
                .strftime(REPORT_TIME), "report_time": now.strftime(REPORT_TIME), "success": success,
                "err_code": err_code, "err_msg": "用户接收成功" if success else "用户接收失败", "sms_size": "1",
                "biz_id": message.biz_id, "out_id": message.out_id}

    async def post_reports(self, reports: list[dict], url: str | None = None) -> int:
        """POST a batch of reports (JSON array) to Haven's webhook; returns the HTTP status (0: unreachable)."""
        if self._report_session is None:
            self._report_session = ClientSession(timeout=ClientTimeout(total=15))
        try:
            async with self._report_session.post(url or self.report_url, json=reports) as answer:
                return answer.status
        except Exception:  # Aliyun retries a failed push later; the tests read reports_sent
            return 0

    async def _report(self, message: Accepted) -> None:
        faults = self.faults
        if faults.report_delay_s:
            await asyncio.sleep(faults.report_delay_s)
        success, err_code = faults.final.get(message.phone, [True, "DELIVERED"])
        item = self.report_for(message, success, err_code)
        batch = [item, item] if faults.duplicate_reports else [item]
        status = await self.post_reports(batch)
        self.reports_sent.append((message.biz_id, success, status))

    async def _close(self, _app) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._report_session is not None:
            await self._report_session.close()

    # --- what the tests and the benches read -----------------------------------------------------

    def per_recipient(self) -> Counter:
        return Counter(m.phone for m in self.accepted)

    def peak_per_window(self, window_s: float = 1.0) -> int:
        return peak_in_window([at for at, _, _ in self.attempts], window_s)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "accepted": [[m.phone, m.at] for m in self.accepted],
            "attempts": [[at, status, code] for at, status, code in self.attempts],
        })

    async def set_faults(self, request: web.Request) -> web.Response:
        changes = await request.json()
        unknown = [key for key in changes if not hasattr(self.faults, key)]
        if unknown:
            return web.json_response({"error": f"unknown fault {', '.join(unknown)}"}, status=400)
        for key, value in changes.items():
            setattr(self.faults, key, value)
        return web.json_response(asdict(self.faults))


def default_templates() -> list[ApprovedTemplate]:
    """Approved templates matching the example mapping in config/.env.example."""
    warning = frozenset({"hazard", "level", "place", "hotline"})
    return [
        ApprovedTemplate("SMS_900000001", warning, content="${hazard}${level}预警：您在${place}的投保财产可能受影响，请做好防护。求助请拨${hotline}。"),
        ApprovedTemplate("SMS_900000002", warning, content="${hazard} ${level} warning: your insured property at ${place} may be affected. Help: ${hotline}."),
        ApprovedTemplate("SMS_900000003", warning, content="${hazard}预警已升级为${level}：请保护您在${place}的投保财产。求助请拨${hotline}。"),
        ApprovedTemplate("SMS_900000004", warning, content="${hazard} warning raised to ${level} for ${place}. Help: ${hotline}."),
        ApprovedTemplate("SMS_900000005", frozenset({"hazard", "place"}), content="${place}的${hazard}预警已解除。"),
        ApprovedTemplate("SMS_900000006", frozenset({"hazard", "place"}), content="The ${hazard} warning for ${place} is over."),
        ApprovedTemplate("SMS_900000007", frozenset({"code"}), True, "您的验证码为${code}，5分钟内有效，请勿泄露。"),
        ApprovedTemplate("SMS_900000008", frozenset({"code"}), True, "Your verification code is ${code}, valid for 5 minutes."),
        ApprovedTemplate("SMS_900000009", frozenset({"link_token"}),
                         content="理赔已登记，请点击 https://claims.haven.example.cn/c/${link_token} 上传损失照片。"),
        ApprovedTemplate("SMS_900000010", frozenset({"link_token"}),
                         content="We opened your claim. Add photos at https://claims.haven.example.cn/c/${link_token}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument("--sign-name", required=True)
    parser.add_argument("--report-url", help="Haven's /webhooks/aliyun/status/<token> URL")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    provider = AliyunCompatible(args.access_key_id, args.access_key_secret, {args.sign_name}, default_templates(),
                                args.report_url, Faults(latency_s=args.latency_ms / 1000))

    async def serve():
        runner = web.AppRunner(provider.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=2048)
        await site.start()
        print(json.dumps({"port": site._server.sockets[0].getsockname()[1]}), flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
