"""Routes: CAT events, claims, documents and the fast-track queue.

Adapters only: each handler parses (web/typed.py), calls one greenchannel.service operation off the
event loop, and answers its JSON. `call` is shared with the rescue and payments routes.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from config import get_settings
from greenchannel import claims, metrics, service
from greenchannel import requests as asks
from greenchannel import responses as views
from greenchannel.documents import Upload
from greenchannel.errors import GreenChannelError
from greenchannel.inputs import ClientKey
from web.common import in_thread, json_response, principal_of, requires
from web.common import path_id as common_path_id
from web.errors import ApiError, bad_request
from web.openapi import query_parameter, takes
from web.typed import body, header, query, responds

routes = web.RouteTableDef()

STATUS = {"malformed": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "too_large": 413, "invalid": 422}
STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
CLAIMS_STAFF = ("adjuster", "supervisor", "manager")
DECLARERS = ("supervisor", "manager")
UPLOAD_CHUNK = 64 * 1024


def api_error(exc: GreenChannelError) -> ApiError:
    return ApiError(STATUS[exc.kind], exc.code, exc.message, exc.field)


async def call(operation, *args, **kwargs):
    """Run a green-channel service operation off the event loop; map its refusals to HTTP."""
    try:
        return await in_thread(operation, *args, **kwargs)
    except GreenChannelError as exc:
        raise api_error(exc) from None


def path_id(request: web.Request, name: str = "id") -> int:
    return common_path_id(request, name)


# --- CAT events ----------------------------------------------------------------------------------

@routes.post("/v1/cat-events")
@requires(*DECLARERS)
@body(asks.DeclareCatEvent)
@responds(views.CatEventView, status=201)
async def declare_cat_event(request: web.Request, body: asks.DeclareCatEvent) -> web.Response:
    """Declare a CAT event: code, hazard, area (GeoJSON and/or chain_ids), window_start, window_end."""
    return json_response(await call(service.declare_cat_event, principal_of(request), body), status=201)


@routes.get("/v1/cat-events")
@requires(*STAFF)
@query(asks.CatEventQuery)
@responds(views.CatEventList)
async def list_cat_events(request: web.Request, query: asks.CatEventQuery) -> web.Response:
    """CAT events, newest first (?status=proposed|open|closed, ?area=false to leave the areas out)."""
    return json_response(await call(service.list_cat_events, query))


@routes.get("/v1/cat-events/{id}")
@requires(*STAFF)
@responds(views.CatEventView)
async def get_cat_event(request: web.Request) -> web.Response:
    """One CAT event with its area."""
    return json_response(await call(service.get_cat_event, path_id(request)))


@routes.post("/v1/cat-events/{id}/confirm")
@requires(*DECLARERS)
@body(asks.ConfirmCatEvent)
@responds(views.CatEventView)
async def confirm_cat_event(request: web.Request, body: asks.ConfirmCatEvent) -> web.Response:
    """Confirm a CAT event Haven proposed (optionally with a new code or window): it opens."""
    return json_response(await call(service.confirm_cat_event, principal_of(request), path_id(request), body))


@routes.post("/v1/cat-events/{id}/close")
@requires(*DECLARERS)
@body(asks.CloseCatEvent)
@responds(views.CatEventView)
async def close_cat_event(request: web.Request, body: asks.CloseCatEvent) -> web.Response:
    """Close a CAT event (or dismiss a proposal): no new claims are tagged; tagged claims keep their tag."""
    return json_response(await call(service.close_cat_event, principal_of(request), path_id(request), body))


@routes.post("/v1/cat-events/{id}/dismiss")
@requires(*DECLARERS)
@body(asks.DismissCatEvent)
@responds(views.CatEventView)
async def dismiss_cat_event(request: web.Request, body: asks.DismissCatEvent) -> web.Response:
    """Dismiss a proposal, with the reason (audited); its chain proposes nothing again."""
    return json_response(await call(service.dismiss_cat_event, principal_of(request), path_id(request), body))


@routes.post("/v1/cat-events/{id}/merge")
@requires(*DECLARERS)
@body(asks.MergeCatEvent)
@responds(views.CatEventView)
async def merge_cat_event(request: web.Request, body: asks.MergeCatEvent) -> web.Response:
    """Merge a duplicate proposal into the open event of the same storm (into_id): its chains join that
    event, and the proposal closes (audited on both). Answers the open event."""
    return json_response(await call(service.merge_cat_event, principal_of(request), path_id(request), body))


# --- claims --------------------------------------------------------------------------------------

@routes.post("/v1/claims")
@requires("customer", *STAFF)
@header("Idempotency-Key", ClientKey, description="a retry with the same key files one claim")
@body(asks.FirstNotice)
@responds(views.ClaimView, status=201, description="filed")
@responds(views.ClaimView, status=200, description="filed before with this Idempotency-Key")
async def file_claim(request: web.Request, body: asks.FirstNotice, idempotency_key: str | None) -> web.Response:
    """File a claim (FNOL): asset_id, loss_at, location, description, flags; optional Idempotency-Key."""
    view, created = await call(service.file_claim, principal_of(request), body, idempotency_key)
    return json_response(view, status=201 if created else 200)


@routes.get("/v1/claims")
@requires("customer", *STAFF)
@query(asks.ClaimListQuery)
@responds(views.ClaimList)
async def list_claims(request: web.Request, query: asks.ClaimListQuery) -> web.Response:
    """Claims, newest first: a customer sees their own (?cat_code=, ?stage=, ?limit=)."""
    return json_response(await call(service.list_claims, principal_of(request), query))


@routes.get("/v1/claims/{id}")
@requires("customer", *STAFF)
@responds(views.ClaimView)
async def get_claim(request: web.Request) -> web.Response:
    """A claim: the six stages with timestamps, documents still missing, advance paid (and more for staff)."""
    return json_response(await call(service.view_claim, principal_of(request), path_id(request)))


@routes.patch("/v1/claims/{id}")
@requires(*CLAIMS_STAFF)
@body(asks.ClaimChanges)
@responds(views.ClaimView)
async def update_claim(request: web.Request, body: asks.ClaimChanges) -> web.Response:
    """Correct a claim's flags, flood depth or estimate, or record that no advance is needed."""
    return json_response(await call(service.update_claim, principal_of(request), path_id(request), body))


@routes.post("/v1/claims/{id}/transition")
@requires(*CLAIMS_STAFF)
@body(asks.Transition)
@responds(views.ClaimView)
async def transition_claim(request: web.Request, body: asks.Transition) -> web.Response:
    """Move a claim to its next stage (to, note, estimate), back to assessed with return_documents, or aside."""
    return json_response(await call(service.transition_claim, principal_of(request), path_id(request), body))


@routes.post("/v1/claims/{id}/withdraw")
@requires("customer", *CLAIMS_STAFF)
@body(asks.Withdrawal)
@responds(views.ClaimView)
async def withdraw_claim(request: web.Request, body: asks.Withdrawal) -> web.Response:
    """Withdraw a claim (the customer's own, or by staff for them)."""
    return json_response(await call(service.withdraw_claim, principal_of(request), path_id(request), body))


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
@responds(views.DocumentView, status=201)
@query_parameter("kind", {"type": "string"}, description="the document kind, when the form has no kind field")
@takes("multipart/form-data", schema={"type": "object", "properties": {
    "kind": {"type": "string"}, "file": {"type": "string", "format": "binary"}}})
async def upload_document(request: web.Request) -> web.Response:
    """Upload one document (multipart/form-data: kind, file); stored by SHA-256 under var/, size-limited."""
    claim_id, actor = path_id(request), principal_of(request)
    if not request.content_type.startswith("multipart/"):
        raise bad_request("send multipart/form-data with fields kind and file", field="file")
    await call(service.check_may_upload, actor, claim_id)
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
    return json_response(await call(service.add_document, actor, claim_id, kind, stored), status=201)


# --- queue ---------------------------------------------------------------------------------------

@routes.get("/v1/queue")
@requires(*CLAIMS_STAFF)
@query(asks.QueueQuery)
@responds(views.QueueList)
async def list_queue(request: web.Request, query: asks.QueueQuery) -> web.Response:
    """Open claims in priority order with reasons, SLA clocks and leases (?fast_track=, ?leased=false); a tab
    (?tab=workable|waiting_on_customer), a search (?q= claim id, name, phone, asset or address), pages (?page=)."""
    return json_response(await call(service.list_queue, principal_of(request), query))


@routes.post("/v1/queue/next")
@requires(*CLAIMS_STAFF)
@body(asks.LeaseNext)
@responds(views.LeasedClaim)
async def lease_next(request: web.Request, body: asks.LeaseNext) -> web.Response:
    """Lease the top workable claim to the caller for HAVEN_CLAIM_LEASE_S ({"claim": null, "nothing_to_take":
    counts} when none is workable: how many wait on the customer, how many others hold)."""
    return json_response(await call(service.lease_next, principal_of(request), body))


@routes.post("/v1/claims/{id}/lease")
@requires(*CLAIMS_STAFF)
@body(asks.LeaseClaim)
@responds(views.ClaimView)
async def lease_claim(request: web.Request, body: asks.LeaseClaim) -> web.Response:
    """Lease this claim (one found by a search) to the caller; 409 leased or waiting_on_customer otherwise."""
    return json_response(await call(service.lease_claim, principal_of(request), path_id(request)))


@routes.post("/v1/claims/{id}/remind")
@requires(*CLAIMS_STAFF)
@body(asks.CustomerReminder)
@responds(views.ReminderView, status=201, description="the SMS with a signed link is saved and queued")
async def remind_customer(request: web.Request, body: asks.CustomerReminder) -> web.Response:
    """Remind the customer by SMS of the documents still missing, with a signed link to their claim; once a
    day per claim (409 already_reminded_today)."""
    return json_response(await call(service.remind_customer, principal_of(request), path_id(request), body),
                         status=201)


@routes.post("/v1/claims/{id}/release")
@requires(*CLAIMS_STAFF)
@responds(views.ClaimView)
async def release_claim(request: web.Request) -> web.Response:
    """Give a leased claim back to the queue."""
    return json_response(await call(service.release_claim, principal_of(request), path_id(request)))


# --- metrics -------------------------------------------------------------------------------------

TRACKS = {True: "green_channel", False: "ordinary"}


def collect_metrics() -> Iterable[Metric]:
    figures = metrics.claim_figures()
    claims_open = GaugeMetricFamily("haven_claims_open", "Open claims", labels=["track"])
    depth = GaugeMetricFamily("haven_queue_depth", "Open claims waiting in the queue (not leased)", labels=["track"])
    for family, counts in ((claims_open, figures.open_by_track), (depth, figures.waiting_by_track)):
        for fast_track, name in TRACKS.items():
            family.add_metric([name], counts.get(fast_track, 0))
    late = GaugeMetricFamily("haven_claims_sla_breached", "Open claims past their SLA clock", labels=["clock"])
    for clock in ("first_contact", "advance_decision", "stage"):
        late.add_metric([clock], figures.late_by_clock.get(clock, 0))
    cat = GaugeMetricFamily("haven_cat_events", "CAT events by status", labels=["status"])
    for status in ("proposed", "open", "closed"):
        cat.add_metric([status], figures.cat_events_by_status.get(status, 0))
    yield from (claims_open, depth, late, cat)
