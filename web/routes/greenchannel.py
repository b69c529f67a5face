"""Routes: CAT events, claims, documents and the fast-track queue (see DESIGN.md, Interfaces: HTTP).

Thin adapters: parse, call the rule in greenchannel/ through workers.greenchannel.run_unit (one
transaction, effects after commit), answer JSON. `call`, `path_id` and `decimal_body` are shared
with the rescue and payments routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from config import get_settings
from greenchannel import catevents, claims, inputs, queue
from greenchannel.documents import Upload
from greenchannel.errors import GreenChannelError, Malformed
from store.db import session_scope
from store.models import CatEvent, Claim
from store.types import utcnow
from web.common import in_thread, json_response, principal_of, query_int, requires
from web.common import path_id as common_path_id
from web.errors import ApiError, bad_request

routes = web.RouteTableDef()

STATUS = {"malformed": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "too_large": 413, "invalid": 422}
STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
CLAIMS_STAFF = ("adjuster", "supervisor", "manager")
DECLARERS = ("supervisor", "manager")
UPLOAD_CHUNK = 64 * 1024


def api_error(exc: GreenChannelError) -> ApiError:
    return ApiError(STATUS[exc.kind], exc.code, exc.message, exc.field)


async def call(fn, *args, **kwargs):
    """Run a green-channel function in its own transaction, off the event loop; map its errors."""
    from workers.greenchannel import run_unit

    try:
        return await in_thread(run_unit, fn, *args, **kwargs)
    except GreenChannelError as exc:
        raise api_error(exc) from None


async def on_item(request: web.Request, fn, *extra) -> web.Response:
    """The usual handler: fn(session, caller, the {id} in the path, the JSON body, *extra) as JSON."""
    item_id, body = path_id(request), await decimal_body(request)
    return json_response(await call(fn, principal_of(request), item_id, body, *extra))


def path_id(request: web.Request, name: str = "id") -> int:
    return common_path_id(request, name)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _json_integer(digits: str) -> int | Decimal:
    # Python refuses to convert integers past 4,300 digits; as a Decimal the field's own check names it.
    return int(digits) if len(digits) <= 1000 else Decimal(digits)


async def decimal_body(request: web.Request) -> dict:
    """The JSON body with numbers read as Decimal, so no amount ever passes through a binary float."""
    try:
        raw = await request.text()
        body = json.loads(raw or "{}", parse_float=Decimal, parse_int=_json_integer,
                          parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8 text") from None
    except RecursionError:
        raise bad_request("request body nests too deeply") from None
    except ValueError as exc:  # also JSONDecodeError, and an integer longer than Python converts
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def query_flag(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise bad_request(f"{name} must be true or false", field=name)
    return value.lower() in ("true", "1")


def query_limit(request: web.Request, default: int = 100, maximum: int = 1000) -> int:
    return query_int(request, "limit", default, minimum=1, maximum=maximum)


def idempotency_key(request: web.Request, required: bool) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None and not required:
        return None
    try:
        return inputs.identifier(raw, "Idempotency-Key")
    except Malformed as exc:
        raise api_error(exc) from None


# --- CAT events ----------------------------------------------------------------------------------

def _declare(session, actor, body: dict) -> dict:
    chain_ids = body.get("chain_ids")
    if chain_ids is not None and (not isinstance(chain_ids, list)
                                  or not all(isinstance(c, int) and not isinstance(c, bool) for c in chain_ids)):
        raise Malformed("chain_ids must be a list of alert chain ids", "chain_ids")
    event = catevents.declare(
        session, actor, code=body.get("code"), hazard=body.get("hazard"),
        window_start=inputs.timestamp(body.get("window_start"), "window_start"),
        window_end=inputs.timestamp(body.get("window_end"), "window_end", required=False),
        area_geojson=body.get("area"), chain_ids=chain_ids)
    return catevents.to_json(event)


@routes.post("/v1/cat-events")
@requires(*DECLARERS)
async def declare_cat_event(request: web.Request) -> web.Response:
    """Declare a CAT event: code, hazard, area (GeoJSON and/or chain_ids), window_start, window_end."""
    body = await decimal_body(request)
    return json_response(await call(_declare, principal_of(request), body), status=201)


def _list_events(session, status: str | None, with_area: bool) -> dict:
    if status is not None and status not in ("proposed", "open", "closed"):
        raise Malformed("status must be proposed, open or closed", "status")
    return {"cat_events": [catevents.to_json(e, with_area) for e in catevents.list_events(session, status)]}


@routes.get("/v1/cat-events")
@requires(*STAFF)
async def list_cat_events(request: web.Request) -> web.Response:
    """CAT events, newest first (?status=proposed|open|closed, ?area=false to leave the areas out)."""
    with_area = query_flag(request, "area")
    return json_response(await call(_list_events, request.query.get("status"), with_area is not False))


@routes.get("/v1/cat-events/{id}")
@requires(*STAFF)
async def get_cat_event(request: web.Request) -> web.Response:
    """One CAT event with its area."""
    event_id = path_id(request)
    return json_response(await call(lambda s: catevents.to_json(catevents.get(s, event_id))))


def _confirm(session, actor, event_id: int, body: dict) -> dict:
    event = catevents.confirm(
        session, actor, event_id, code=body.get("code"), hazard=inputs.text(body.get("hazard"), "hazard", max_length=64),
        window_start=inputs.timestamp(body.get("window_start"), "window_start", required=False),
        window_end=inputs.timestamp(body.get("window_end"), "window_end", required=False))
    return catevents.to_json(event)


@routes.post("/v1/cat-events/{id}/confirm")
@requires(*DECLARERS)
async def confirm_cat_event(request: web.Request) -> web.Response:
    """Confirm a CAT event Haven proposed (optionally with a new code or window): it opens."""
    return await on_item(request, _confirm)


def _close(session, actor, event_id: int, body: dict) -> dict:
    note = inputs.text(body.get("note"), "note")
    return catevents.to_json(catevents.close(session, actor, event_id, note), with_area=False)


@routes.post("/v1/cat-events/{id}/close")
@requires(*DECLARERS)
async def close_cat_event(request: web.Request) -> web.Response:
    """Close a CAT event (or dismiss a proposal): no new claims are tagged; tagged claims keep their tag."""
    return await on_item(request, _close)


# --- claims --------------------------------------------------------------------------------------

def _file(session, actor, body: dict, client_ref: str | None) -> tuple[dict, bool]:
    claim, created = claims.file_claim(session, actor, claims.FirstNotice.from_json(body), client_ref)
    return claims.view(session, actor, claim), created


@routes.post("/v1/claims")
@requires("customer", *STAFF)
async def file_claim(request: web.Request) -> web.Response:
    """File a claim (FNOL): asset_id, loss_at, location, description, flags; optional Idempotency-Key."""
    key = idempotency_key(request, required=False)
    body = await decimal_body(request)
    view, created = await call(_file, principal_of(request), body, key)
    return json_response(view, status=201 if created else 200)


def _list_claims(session, actor, cat_code, stage, limit) -> dict:
    return {"claims": [claims.summary_json(c) for c in claims.list_claims(session, actor, cat_code=cat_code,
                                                                          stage=stage, limit=limit)]}


@routes.get("/v1/claims")
@requires("customer", *STAFF)
async def list_claims(request: web.Request) -> web.Response:
    """Claims, newest first: a customer sees their own (?cat_code=, ?stage=, ?limit=)."""
    return json_response(await call(_list_claims, principal_of(request), request.query.get("cat_code"),
                                    request.query.get("stage"), query_limit(request)))


def _view(session, actor, claim_id: int) -> dict:
    return claims.view(session, actor, claims.visible_claim(session, actor, claim_id))


@routes.get("/v1/claims/{id}")
@requires("customer", *STAFF)
async def get_claim(request: web.Request) -> web.Response:
    """A claim: the six stages with timestamps, documents still missing, advance paid (and more for staff)."""
    return json_response(await call(_view, principal_of(request), path_id(request)))


def _update(session, actor, claim_id: int, changes: dict) -> dict:
    return claims.view(session, actor, claims.update_details(session, actor, claim_id, changes))


@routes.patch("/v1/claims/{id}")
@requires(*CLAIMS_STAFF)
async def update_claim(request: web.Request) -> web.Response:
    """Correct a claim's flags, flood depth or estimate, or record that no advance is needed."""
    return await on_item(request, _update)


def _transition(session, actor, claim_id: int, body: dict) -> dict:
    returned = body.get("return_documents")
    if returned is not None and (not isinstance(returned, list) or not all(isinstance(k, str) for k in returned)):
        raise Malformed("return_documents must be a list of document kinds", "return_documents")
    claim = claims.transition(session, actor, claim_id, inputs.text(body.get("to"), "to", required=True),
                              inputs.text(body.get("note"), "note"),
                              estimate=inputs.money(body.get("estimate"), "estimate", required=False),
                              return_documents=returned)
    return claims.view(session, actor, claim)


@routes.post("/v1/claims/{id}/transition")
@requires(*CLAIMS_STAFF)
async def transition_claim(request: web.Request) -> web.Response:
    """Move a claim to its next stage (to, note, estimate), back to assessed with return_documents, or aside."""
    return await on_item(request, _transition)


def _withdraw(session, actor, claim_id: int, body: dict) -> dict:
    reason = inputs.text(body.get("reason"), "reason")
    return claims.view(session, actor, claims.withdraw(session, actor, claim_id, reason))


@routes.post("/v1/claims/{id}/withdraw")
@requires("customer", *CLAIMS_STAFF)
async def withdraw_claim(request: web.Request) -> web.Response:
    """Withdraw a claim (the customer's own, or by staff for them)."""
    return await on_item(request, _withdraw)


def _document_json(document) -> dict:
    return {"id": document.id, "claim_id": document.claim_id, "kind": document.kind, "status": document.status,
            "filename": document.filename, "content_type": document.content_type, "size": document.size,
            "sha256": document.sha256, "uploaded_at": document.uploaded_at}


async def _receive_file(part, limit: int):
    upload = await in_thread(Upload, limit)
    try:
        while chunk := await part.read_chunk(UPLOAD_CHUNK):
            upload.write(chunk)
        return await in_thread(upload.finish, part.filename)
    except GreenChannelError as exc:
        upload.abort()
        raise api_error(exc) from None
    except BaseException:
        upload.abort()
        raise


@routes.post("/v1/claims/{id}/documents")
@requires("customer", *CLAIMS_STAFF)
async def upload_document(request: web.Request) -> web.Response:
    """Upload one document (multipart/form-data: kind, file); stored by SHA-256 under var/, size-limited."""
    claim_id, actor = path_id(request), principal_of(request)
    if not request.content_type.startswith("multipart/"):
        raise bad_request("send multipart/form-data with fields kind and file", field="file")
    await call(claims.check_may_upload, actor, claim_id)
    kind, stored = request.query.get("kind"), None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if part.name == "kind":
            kind = (await part.text()).strip()
        elif part.name == "file" and stored is None:
            if kind is not None and kind not in claims.DOCUMENT_KINDS:
                break  # refuse before storing anything; the error below names the field
            stored = await _receive_file(part, get_settings().max_body_bytes)
    if kind not in claims.DOCUMENT_KINDS:
        raise bad_request(f"kind must be one of {', '.join(claims.DOCUMENT_KINDS)}", field="kind")
    if stored is None:
        raise bad_request("no file part named 'file' in the upload", field="file")
    document = await call(claims.add_document, actor, claim_id, kind, stored)
    return json_response(_document_json(document), status=201)


# --- queue ---------------------------------------------------------------------------------------

def _queue(session, fast_track: bool | None, include_leased: bool, limit: int) -> dict:
    now = utcnow()
    entries = queue.listing(session, now, fast_track=fast_track, include_leased=include_leased, limit=limit)
    return {"queue": [queue.entry_json(c, now) for c in entries]}


@routes.get("/v1/queue")
@requires(*CLAIMS_STAFF)
async def list_queue(request: web.Request) -> web.Response:
    """Open claims in priority order with reasons, SLA clocks and leases (?fast_track=, ?leased=false)."""
    return json_response(await call(_queue, query_flag(request, "fast_track"),
                                    query_flag(request, "leased") is not False, query_limit(request)))


def _next(session, actor, body: dict) -> dict:
    fast_track_only = inputs.flag(body.get("fast_track_only"), "fast_track_only")
    claim = queue.lease_next(session, actor, fast_track_only=fast_track_only)
    return {"claim": claims.view(session, actor, claim) if claim else None}


@routes.post("/v1/queue/next")
@requires(*CLAIMS_STAFF)
async def lease_next(request: web.Request) -> web.Response:
    """Lease the top claim to the caller for HAVEN_CLAIM_LEASE_S ({"claim": null} when the queue is empty)."""
    body = await decimal_body(request)
    return json_response(await call(_next, principal_of(request), body))


def _release(session, actor, claim_id: int) -> dict:
    return claims.view(session, actor, queue.release(session, actor, claim_id))


@routes.post("/v1/claims/{id}/release")
@requires(*CLAIMS_STAFF)
async def release_claim(request: web.Request) -> web.Response:
    """Give a leased claim back to the queue."""
    return json_response(await call(_release, principal_of(request), path_id(request)))


# --- metrics -------------------------------------------------------------------------------------

def collect_metrics() -> Iterable[Metric]:
    now = utcnow()
    with session_scope() as session:
        open_claims = session.execute(select(Claim.fast_track, func.count()).where(Claim.stage.in_(queue.OPEN_STAGES))
                                      .group_by(Claim.fast_track)).all()
        waiting = session.execute(select(Claim.fast_track, func.count())
                                  .where(queue.lease_free(now)).group_by(Claim.fast_track)).all()
        breached = session.execute(select(Claim.sla_clock, func.count())
                                   .where(Claim.stage.in_(queue.OPEN_STAGES), Claim.sla_due_at < now)
                                   .group_by(Claim.sla_clock)).all()
        events = session.execute(select(CatEvent.status, func.count()).group_by(CatEvent.status)).all()
    track = {True: "green_channel", False: "ordinary"}
    claims_open = GaugeMetricFamily("haven_claims_open", "Open claims", labels=["track"])
    depth = GaugeMetricFamily("haven_queue_depth", "Open claims waiting in the queue (not leased)", labels=["track"])
    for family, rows in ((claims_open, open_claims), (depth, waiting)):
        counts = {track[bool(k)]: n for k, n in rows}
        for name in track.values():
            family.add_metric([name], counts.get(name, 0))
    late = GaugeMetricFamily("haven_claims_sla_breached", "Open claims past their SLA clock", labels=["clock"])
    late_counts = {(k or "none").split(":")[0]: 0 for k, _ in breached}
    for clock, n in breached:
        late_counts[(clock or "none").split(":")[0]] += n
    for clock in ("first_contact", "advance_decision", "stage"):
        late.add_metric([clock], late_counts.get(clock, 0))
    cat = GaugeMetricFamily("haven_cat_events", "CAT events by status", labels=["status"])
    event_counts = dict(events)
    for status in ("proposed", "open", "closed"):
        cat.add_metric([status], event_counts.get(status, 0))
    yield from (claims_open, depth, late, cat)
