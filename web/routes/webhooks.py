"""Routes: provider webhooks (DESIGN.md, Delivery pipeline: Receipts; Interfaces: HTTP).

Both Twilio webhooks check X-Twilio-Signature with the account's auth token over the public URL
(HAVEN_PUBLIC_BASE_URL + path) and refuse anything else with 403. A status callback is stored and
acknowledged at once; a receipts task applies it with the others stored by then (alerts/receipts.py).
"""

from __future__ import annotations

from aiohttp import web
from twilio.request_validator import RequestValidator

from alerts import receipts
from config import get_settings
from store.db import session_scope
from web.common import in_thread, public
from web.errors import ApiError, bad_request

routes = web.RouteTableDef()

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed_form(request: web.Request) -> dict[str, str]:
    """The form parameters, once X-Twilio-Signature proves Twilio sent them to this URL."""
    settings = get_settings()
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.public_base_url.rstrip("/") + request.path_qs
    token = settings.twilio_auth_token
    if not token or not signature or not RequestValidator(token).validate(url, params, signature):
        raise ApiError(403, "bad_signature",
                       "X-Twilio-Signature does not match this request (auth token, or HAVEN_PUBLIC_BASE_URL)")
    return params


def _store_receipt(params: dict[str, str]) -> int:
    with session_scope() as session:
        return receipts.store_status_callback(session, params).id


def _queue_drain() -> None:
    from workers.receipts import schedule_drain

    schedule_drain()


@routes.post("/webhooks/twilio/status")
@public
async def twilio_status(request: web.Request) -> web.Response:
    """Twilio message status callback: checked, stored, acknowledged; applied later by a receipts task."""
    params = await _signed_form(request)
    try:
        receipt_id = await in_thread(_store_receipt, params)
    except receipts.ReceiptError as exc:
        raise bad_request(str(exc), field=exc.field) from None
    try:
        await in_thread(_queue_drain)
    except Exception:  # stored is what matters: the sweep applies receipts whose task never ran
        request.app.logger.warning("could not queue receipt %s; the sweep will apply it", receipt_id, exc_info=True)
    return web.Response(status=204)


def _handle_inbound(params: dict[str, str]) -> str:
    with session_scope() as session:
        return receipts.handle_inbound(session, params).action


@routes.post("/webhooks/twilio/inbound")
@public
async def twilio_inbound(request: web.Request) -> web.Response:
    """Inbound SMS: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt out; START, YES, UNSTOP opt back in."""
    params = await _signed_form(request)
    try:
        await in_thread(_handle_inbound, params)
    except receipts.ReceiptError as exc:
        raise bad_request(str(exc), field=exc.field) from None
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")
