"""SMS through Alibaba Cloud SMS (dysmsapi 2017-05-25) with the official SDK (docs/architecture.md, "Alibaba Cloud SMS").

Chinese providers send only pre-approved templates, never free text: each message kind and language maps to
a template code and the template's variables (HAVEN_ALIYUN_TEMPLATES), filled from the facts the message was
composed from: `Outgoing.params` when given, else a warning's read back from its alert
(alerts/notifying/template_facts.py); a sign-in code and a signed link's token come from the text.
One SendSms per message, through the SDK's async call, so a batch runs concurrently and each message gets
its own BizId: the id Aliyun's status reports (SmsReport) name, as Twilio's callbacks name a MessageSid.
(SendBatchSms would give a whole batch one BizId, and a report could no longer say which notification it
is about.)

Aliyun answers a refused message with HTTP 200 and a Code other than "OK" (isv.MOBILE_NUMBER_ILLEGAL, ...);
signature, throttling and gateway failures come as HTTP errors. `verdict` says which codes no retry can fix
and which are worth retrying (alerts/notifying/delivery.py `classify` asks it).
The SDK is imported on first use, so the delivery pipeline can consult the error table without loading it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from alerts.notifying.channels.base import ChannelConfigError, Outcome, Outgoing, require_settings
from alerts.notifying.channels.pacing import SenderLoop
from alerts.notifying.channels.sdk_channel import SdkChannel
from alerts.notifying.ratelimit import Reserve
from config.settings import DEFAULT_HOTLINE

if TYPE_CHECKING:
    from alibabacloud_dysmsapi20170525.client import Client

PROVIDER = "aliyun"
DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
REPORT_PATH = "/webhooks/aliyun/status"
REPORT_FIELDS_MAX = 32
REQUEST_TIMEOUT_S = 10.0
OK = "OK"
# Aliyun's variable rules: a notification template's variable holds 1-35 characters and no link; a
# verification-code template's single variable 4-6 letters or digits.
PARAM_MAX = 35
CODE_PARAM = re.compile(r"^[0-9A-Za-z]{4,6}$")
LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org)\b", re.IGNORECASE)
BRACKETED = re.compile(r"\s*[（(][^（）()]*[）)]")
LINK_TOKEN = re.compile(r"/c/([A-Za-z0-9_-]{16,64})")
SIGN_IN_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
# Not Aliyun's: a message whose kind and language have no template in HAVEN_ALIYUN_TEMPLATES.
TEMPLATE_MISSING = "haven.TEMPLATE_MISSING"

# Codes no retry can fix: the number, the content or the per-number limits refuse this message.
PERMANENT_ERRORS = {
    "isv.MOBILE_NUMBER_ILLEGAL": "the phone number is not valid",
    "isv.MOBILE_COUNT_OVER_LIMIT": "too many phone numbers in one request",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": "this sign name cannot send to mainland numbers",
    "isv.BUSINESS_LIMIT_CONTROL": "the number reached Aliyun's per-number limit (minute, hour or day)",
    "isv.DAY_LIMIT_CONTROL": "the number reached its daily limit",
    "isv.BLACK_KEY_CONTROL_LIMIT": "the text holds a blocked keyword",
    "isv.SMS_CONTENT_ILLEGAL": "the content breaks Aliyun's rules",
    "isv.TEMPLATE_MISSING_PARAMETERS": "a template variable has no value",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "a template variable's value breaks the rules",
    "isv.PARAM_LENGTH_LIMIT": "a template variable is too long",
    "isv.PARAM_NOT_SUPPORT_URL": "a template variable holds a link",
    "isv.INVALID_JSON_PARAM": "TemplateParam is not a JSON object",
    "isv.INVALID_PARAMETERS": "a parameter is not valid",
}
# Worth another try: throttling and Aliyun's own failures pass; account, balance, sign name and template
# problems are the operator's to fix (as Twilio's 401), and the message itself is fine meanwhile.
RETRY_ERRORS = {
    "Throttling", "Throttling.User", "Throttling.Api", "Throttling.Tenant", "ServiceUnavailable",
    "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY", "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE",
    "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.SMS_SIGN_ILLEGAL", "InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch", TEMPLATE_MISSING,
}


def verdict(error_code: str | None) -> str | None:
    """"failed" or "retry" for an Aliyun error Code this module knows, else None (the HTTP status decides)."""
    if error_code in PERMANENT_ERRORS:
        return "failed"
    if error_code in RETRY_ERRORS or (error_code or "").startswith("Throttling"):
        return "retry"
    return None


class SmsReport(BaseModel):
    """One item of Aliyun's SmsReport push (a JSON array; https://help.aliyun.com/zh/sms/developer-reference/smsreport-2).

    Unknown fields are kept (the receipt stores the item as received; read_reports checks they can be)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    biz_id: str = Field(min_length=1, max_length=64)
    success: StrictBool
    phone_number: str | None = Field(default=None, max_length=32)
    err_code: str | None = Field(default=None, max_length=32)
    err_msg: str | None = Field(default=None, max_length=256)
    send_time: str | None = Field(default=None, max_length=32)
    report_time: str | None = Field(default=None, max_length=32)
    sms_size: str | None = Field(default=None, max_length=8)
    out_id: str | None = Field(default=None, max_length=256)

    @property
    def status(self) -> str:
        """The Twilio-style status alerts/notifying/receipts.py applies."""
        return "delivered" if self.success else "undelivered"

    @property
    def error_code(self) -> str | None:
        return None if self.success else (self.err_code or None)


@dataclass(frozen=True)
class RefusedReport:
    index: int
    field: str
    message: str


def read_reports(items: list) -> tuple[list[SmsReport], list[RefusedReport]]:
    """The well-formed reports of a push, and why each other one was refused (it never spoils the rest)."""
    reports, refused = [], []
    for index, item in enumerate(items):
        unstorable = _unstorable(item)
        if unstorable:
            refused.append(RefusedReport(index, *unstorable))
            continue
        try:
            reports.append(SmsReport.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "item"
            refused.append(RefusedReport(index, field, error["msg"].removeprefix("Value error, ")[:200]))
    return reports, refused


def _unstorable(item) -> tuple[str, str] | None:
    """(field, why) when the item cannot be kept as received: a receipt stores every field of it."""
    if not isinstance(item, dict):
        return "item", "a report is a JSON object"
    if len(item) > REPORT_FIELDS_MAX:
        return "item", f"a report has at most {REPORT_FIELDS_MAX} fields"
    for name, value in item.items():
        field = name[:40] if _storable_text(name) else "item"
        if not isinstance(value, str | bool | int | float | type(None)) or len(str(value)) > 1024:
            return field, "must be a short text, number or boolean"
        if field == "item" or (isinstance(value, str) and not _storable_text(value)):
            return field, "holds a NUL character or half a surrogate pair"
    return None


def _storable_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


@dataclass(frozen=True)
class Template:
    code: str
    params: tuple[tuple[str, str], ...]  # (template variable, fact it takes)
    code_type: bool = False  # a verification-code template: one variable of 4-6 letters or digits


def parse_templates(raw: Mapping | None) -> dict[tuple[str, str], Template]:
    """HAVEN_ALIYUN_TEMPLATES: {kind: {language: {"code": "SMS_...", "params": [...] or {variable: fact}}}}."""
    templates: dict[tuple[str, str], Template] = {}
    for kind, languages in (raw or {}).items():
        if not isinstance(languages, Mapping):
            raise ChannelConfigError(f"HAVEN_ALIYUN_TEMPLATES[{kind!r}] must map languages to templates")
        for language, entry in languages.items():
            where = f"HAVEN_ALIYUN_TEMPLATES[{kind!r}][{language!r}]"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str) or not entry["code"]:
                raise ChannelConfigError(f"{where} needs a template code: {{\"code\": \"SMS_...\", \"params\": [...]}}")
            params = entry.get("params") or []
            if isinstance(params, list):
                params = {name: name for name in params}
            if not isinstance(params, Mapping) or not all(isinstance(v, str) for v in (*params, *params.values())):
                raise ChannelConfigError(f"{where}.params must be a list of names or a {{variable: fact}} map")
            templates[(kind, language)] = Template(entry["code"], tuple(params.items()), kind == "sign_in_code")
    return templates


def template_param(template: Template, message: Outgoing) -> str:
    """The TemplateParam JSON for one message; ValueError names a fact that is missing or breaks Aliyun's rules."""
    facts = {**facts_in_text(message), **(message.params or {})}
    values = {}
    for variable, fact in template.params:
        value = str(facts.get(fact) or "").strip()
        if not value:
            raise ValueError(f"{message.kind} ({message.language}) has no {fact!r} for template variable {variable!r}")
        if template.code_type and not CODE_PARAM.match(value):
            raise ValueError(f"{variable!r} of a code template must be 4-6 letters or digits")
        if LINK.search(value):
            raise ValueError(f"{variable!r} would carry a link, which Aliyun refuses in a variable")
        values[variable] = _within_limit(value)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def facts_in_text(message: Outgoing) -> dict[str, str]:
    """What a text carries that no stored column does: a sign-in code (the only six-digit run of its text)
    and the token of a signed link (/c/<token>); a template keeps the link's fixed part in its approved
    wording and takes the token as `link_token`, since Aliyun refuses links in variables."""
    facts = {}
    code = SIGN_IN_CODE.search(message.body) if message.kind == "sign_in_code" else None
    if code:
        facts["code"] = code.group(1)
    link = LINK_TOKEN.search(message.body)
    if link:
        facts["link_token"] = link.group(1)
    return facts


def _within_limit(value: str) -> str:
    """At most PARAM_MAX characters: a bracketed list ("沿海（温州、台州）") goes first, then the tail."""
    if len(value) > PARAM_MAX:
        value = BRACKETED.sub("", value).strip() or value
    return value if len(value) <= PARAM_MAX else value[:PARAM_MAX - 1].rstrip() + "…"


def phone_number(recipient: str) -> str:
    """Aliyun's form: a mainland number without +86, any other with its country code and no plus."""
    digits = recipient.strip().removeprefix("+")
    return digits[2:] if recipient.startswith("+86") else digits


@dataclass(frozen=True)
class AliyunSms(SdkChannel):
    access_key_id: str
    access_key_secret: str
    sign_name: str
    templates: Mapping[tuple[str, str], Template]
    endpoint: str = DEFAULT_ENDPOINT  # host, or http(s)://host:port for another server (the tests')
    hotline: str = DEFAULT_HOTLINE
    timeout_s: float = REQUEST_TIMEOUT_S

    provider = PROVIDER
    rate_limited = True

    @classmethod
    def from_settings(cls, settings) -> AliyunSms:
        require_settings("HAVEN_SMS_CHANNEL=aliyun", HAVEN_ALIYUN_ACCESS_KEY_ID=settings.aliyun_access_key_id,
                         HAVEN_ALIYUN_ACCESS_KEY_SECRET=settings.aliyun_access_key_secret,
                         HAVEN_ALIYUN_SIGN_NAME=settings.aliyun_sign_name,
                         HAVEN_ALIYUN_TEMPLATES=settings.aliyun_templates)
        return cls(settings.aliyun_access_key_id, settings.aliyun_access_key_secret, settings.aliyun_sign_name,
                   parse_templates(settings.aliyun_templates), settings.aliyun_endpoint or DEFAULT_ENDPOINT,
                   settings.hotline)

    def template_for(self, kind: str, language: str | None) -> Template:
        template = self.templates.get((kind, language or ""))
        if template is None:
            raise ChannelConfigError(f"HAVEN_ALIYUN_TEMPLATES has no template for {kind!r} in {language!r}")
        return template

    def send(self, messages: list[Outgoing], reserve: Reserve | None = None) -> list[Outcome]:
        from alerts.notifying.template_facts import with_alert_facts

        try:
            messages = with_alert_facts(messages, self.hotline)
        except Exception as exc:  # the database is away: nothing was handed over, the batch is tried again
            return [Outcome(m.notification_id, "error", self.provider, error=f"the alerts' facts cannot be read: {exc}"[:500],
                            transport_error=True) for m in messages]
        return self._send_on_loop(messages, reserve)

    def _shared_client(self) -> Client:
        return SenderLoop.get().client((PROVIDER, self.access_key_id, self.access_key_secret, self.endpoint,
                                        self.timeout_s), self._client)

    def _client(self) -> Client:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.models import Config

        parts = urlsplit(self.endpoint if "://" in self.endpoint else "https://" + self.endpoint)
        timeout_ms = int(self.timeout_s * 1000)
        return Client(Config(access_key_id=self.access_key_id, access_key_secret=self.access_key_secret,
                             endpoint=parts.netloc, protocol=parts.scheme, read_timeout=timeout_ms,
                             connect_timeout=timeout_ms))

    async def _send_one(self, client: Client, message: Outgoing) -> Outcome:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.exceptions import UnretryableException

        try:
            template = self.template_for(message.kind, message.language)
            param = template_param(template, message)
        except ChannelConfigError as exc:
            return self._refused(message, TEMPLATE_MISSING, str(exc))
        except ValueError as exc:
            return self._refused(message, "isv.TEMPLATE_PARAMS_ILLEGAL", str(exc))
        request = SendSmsRequest(phone_numbers=phone_number(message.recipient), sign_name=self.sign_name,
                                 template_code=template.code, template_param=param,
                                 out_id=str(message.notification_id))
        try:
            answer = await client.send_sms_async(request)
        except AlibabaCloudException as exc:
            return Outcome(message.notification_id, "error", self.provider, http_status=exc.status_code,
                           error_code=(exc.code or None) and str(exc.code)[:32], error=str(exc.message)[:500])
        except UnretryableException as exc:
            return self._unanswered(message, exc)
        body = answer.body
        if body.code != OK:
            return Outcome(message.notification_id, "error", self.provider, http_status=answer.status_code,
                           error_code=str(body.code)[:32], error=str(body.message or body.code)[:500])
        return Outcome(message.notification_id, "accepted", self.provider, provider_message_id=body.biz_id)

    def _refused(self, message: Outgoing, code: str, error: str) -> Outcome:
        return Outcome(message.notification_id, "error", self.provider, error_code=code, error=error)

    def _unanswered(self, message: Outgoing, exc: Exception) -> Outcome:
        """The SDK wraps a network failure, keeping only its text: "Cannot connect" means no connection was
        made, so the message certainly did not reach Aliyun; anything else may have."""
        inner = getattr(exc, "inner_exception", None) or exc
        text = str(getattr(inner, "message", None) or inner) or type(inner).__name__
        connected = not text.startswith("Cannot connect")
        return Outcome(message.notification_id, "error", self.provider, error=text[:500], transport_error=True,
                       maybe_handed_over=connected)
