"""Routes: provider webhooks (docs/architecture.md).

Both Twilio webhooks check X-Twilio-Signature with the account's auth token over the public URL
(HAVEN_PUBLIC_BASE_URL + path) and refuse anything else with 403. A status callback is stored and
acknowledged at once; a receipts task applies it with the others stored by then (alerts/notifying/receipts.py).
Callbacks that arrive together are stored in one transaction (`ReceiptWriter`).
Alibaba Cloud's status reports (SmsReport, a JSON array) are not signed: the URL configured in Aliyun's
console carries a secret (HAVEN_ALIYUN_REPORT_TOKEN) instead, checked in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web
from twilio.request_validator import RequestValidator

from alerts import service
from alerts.notifying import receipts
from alerts.notifying.channels import aliyun_sms
from config import get_settings
from greenchannel import service as green_service
from greenchannel.errors import GreenChannelError
from store.db import session_scope
from web.common import in_thread, public
from web.errors import ApiError, bad_request
from web.openapi import gives, takes

routes = web.RouteTableDef()

FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed_form(request: web.Request) -> dict[str, str]:
    """The form parameters, once X-Twilio-Signature proves Twilio sent them to this URL."""
    settings = get_settings()
    if request.content_type != FORM:
        raise bad_request(f"Twilio webhooks are {FORM} bodies, not {request.content_type[:60]!r}",
                          field="Content-Type")
    try:
        form = await request.post()
    except (ValueError, LookupError) as exc:  # e.g. an unknown charset, or bytes that are not form encoding
        raise bad_request(f"the form body cannot be read: {str(exc)[:200]}", field="body") from None
    params = {key: str(value) for key, value in form.items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.public_base_url.rstrip("/") + request.path_qs
    token = settings.twilio_auth_token
    if not token or not signature or not RequestValidator(token).validate(url, params, signature):
        raise ApiError(403, "bad_signature",
                       "X-Twilio-Signature does not match this request (auth token, or HAVEN_PUBLIC_BASE_URL)")
    return params


class ReceiptWriter:
    """A group commit for status callbacks: those that arrive while a transaction is being written go into
    the next one. At a few thousand SMS a second Twilio posts thousands of callbacks, and a transaction
    each would cap a process near 700 a second. A request is acknowledged only once its receipt is
    committed; if a whole batch fails, its receipts are written one by one, so one never spoils another."""

    MOST_PER_TRANSACTION = 500

    def __init__(self):
        self._waiting: list[tuple[dict[str, str], asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def store(self, params: dict[str, str]) -> None:
        """Keep a status callback already checked by receipts.receipt_from_callback; returns once committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((params, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await done

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[:self.MOST_PER_TRANSACTION]
            del self._waiting[:len(batch)]
            try:
                await in_thread(_store_receipts, [params for params, _ in batch])
            except Exception:
                for params, done in batch:
                    await self._write_alone(params, done)
                continue
            for _, done in batch:
                _settle(done)

    @staticmethod
    async def _write_alone(params: dict[str, str], done: asyncio.Future) -> None:
        try:
            await in_thread(_store_receipts, [params])
        except Exception as exc:
            _settle(done, exc)
        else:
            _settle(done)


def _settle(done: asyncio.Future, error: BaseException | None = None) -> None:
    if done.done():  # the caller went away (the client hung up); its receipt is stored all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _store_receipts(callbacks: list[dict[str, str]]) -> None:
    with session_scope() as session:
        session.add_all([receipts.receipt_from_callback(params) for params in callbacks])


RECEIPT_WRITER = web.AppKey("receipt_writer", ReceiptWriter)


async def on_startup(app: web.Application) -> None:
    app[RECEIPT_WRITER] = ReceiptWriter()


def _queue_drain() -> None:
    service.drain_receipts()


async def _drain_soon(request: web.Request, what: str) -> None:
    try:
        await in_thread(_queue_drain)
    except Exception:  # stored is what matters: the sweep applies receipts whose task never ran
        request.app.logger.warning("could not queue %s; the sweep will apply it", what, exc_info=True)


@routes.post("/webhooks/twilio/status")
@public
@takes("application/x-www-form-urlencoded", schema={"type": "object", "additionalProperties": True}, description="Twilio's status callback")
@gives("text/plain", status=204, description="stored; processed later")
async def twilio_status(request: web.Request) -> web.Response:
    """Twilio message status callback: checked, stored, acknowledged; applied later by a receipts task."""
    params = await _signed_form(request)
    try:
        receipts.receipt_from_callback(params)
    except receipts.ReceiptError as exc:
        raise bad_request(str(exc), field=exc.field) from None
    await request.app[RECEIPT_WRITER].store(params)
    await _drain_soon(request, f"the receipt for {params.get('MessageSid')}")
    return web.Response(status=204)


ALIYUN_REPORTS_MAX = 1000  # Aliyun pushes a few hundred reports at most in one request
ALIYUN_ACCEPTED = {"code": 0, "msg": "成功"}  # the answer Aliyun's push expects; anything else is retried


def _readable_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _store_aliyun_reports(reports: list[aliyun_sms.SmsReport]) -> None:
    with session_scope() as session:
        session.add_all([receipts.receipt_from_report(report) for report in reports])


@routes.post(aliyun_sms.REPORT_PATH + "/{token}")
@public
@takes("application/json", schema={"type": "array", "items": aliyun_sms.SmsReport.model_json_schema()},
       description="Alibaba Cloud's SmsReport push; the path ends with HAVEN_ALIYUN_REPORT_TOKEN")
@gives("application/json", description='{"code": 0, "msg": "成功"}, and the index and field of each item refused')
async def aliyun_status(request: web.Request) -> web.Response:
    """Alibaba Cloud status reports: the token checked, each item validated on its own, the good ones stored
    in one transaction and applied later by a receipts task (as Twilio's callbacks)."""
    token = get_settings().aliyun_report_token
    if not token or not hmac.compare_digest(request.match_info["token"].encode(), token.encode()):
        raise ApiError(403, "bad_token", "the status report URL does not carry HAVEN_ALIYUN_REPORT_TOKEN")
    try:
        items = json.loads(await request.read())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise bad_request("the body is not JSON", field="body") from None
    if not isinstance(items, list) or not items:
        raise bad_request("the body must be a JSON array of status reports", field="body")
    if len(items) > ALIYUN_REPORTS_MAX:
        raise bad_request(f"at most {ALIYUN_REPORTS_MAX} reports a request", field="body")
    reports, refused = aliyun_sms.read_reports(items)
    if not reports:
        first = refused[0]
        raise bad_request(f"no report is valid; item {first.index}: {first.message}", field=f"{first.index}.{first.field}")
    await in_thread(_store_aliyun_reports, reports)
    await _drain_soon(request, f"{len(reports)} Aliyun receipts")
    answer = dict(ALIYUN_ACCEPTED)
    if refused:
        answer["refused"] = [{"index": r.index, "field": r.field, "message": r.message} for r in refused]
    return web.json_response(answer, dumps=_readable_json)


@routes.post("/webhooks/twilio/inbound")
@public
@takes("application/x-www-form-urlencoded", schema={"type": "object", "additionalProperties": True}, description="an SMS from a customer")
@gives("text/xml", description="empty TwiML")
async def twilio_inbound(request: web.Request) -> web.Response:
    """Inbound SMS: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt out; START, YES, UNSTOP opt back in; a
    reply to a warning (1 damaged, 2 safe, 9 rescue) opens a claim, marks the customer safe or opens a rescue
    job, once per MessageSid. Answers go out as SMS through the pipeline, so the TwiML answer stays empty."""
    params = await _signed_form(request)
    try:
        await in_thread(green_service.answer_sms, params, get_settings().hotline)
    except receipts.ReceiptError as exc:
        raise bad_request(str(exc), field=exc.field) from None
    except GreenChannelError as exc:
        raise ApiError(409, exc.code, exc.message, exc.field) from None
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")
