"""Routes: rescue providers and jobs, the dispatcher's board (see DESIGN.md, Interfaces: HTTP)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from config import get_settings
from greenchannel import inputs, privacy, rescue
from greenchannel.errors import Malformed
from store.db import session_scope
from store.models import RescueJob, RescueProvider
from store.types import utcnow
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call, decimal_body, on_item, path_id, query_limit

routes = web.RouteTableDef()

BOARD = ("dispatcher", "adjuster", "supervisor", "manager")


def _phones_as_seen(session, actor, jobs: list[dict]) -> list[dict]:
    """Each job with its customer's phone and its provider's phone as the caller may see them."""
    customer_ids = {job["customer_id"] for job in jobs if job["customer_id"]}
    phones = privacy.customer_phones(session, customer_ids)
    live = privacy.customers_with_live_rescue(session, customer_ids)
    for job in jobs:
        job["customer_phone"] = privacy.phone_as_seen_by(actor.role, phones.get(job["customer_id"]),
                                                         privacy.CUSTOMER, live_rescue=job["customer_id"] in live)
        if job["provider"] is not None:
            job["provider"]["phone"] = privacy.phone_as_seen_by(actor.role, job["provider"]["phone"],
                                                                privacy.PROVIDER)
    return jobs


def _job_view(session, actor, job) -> dict:
    return _phones_as_seen(session, actor, [rescue.job_json(session, job)])[0]


def _provider_view(actor, provider: dict) -> dict:
    return {**provider, "phone": privacy.phone_as_seen_by(actor.role, provider["phone"], privacy.PROVIDER)}


@routes.post("/v1/rescue/providers")
@requires("dispatcher")
async def register_provider(request: web.Request) -> web.Response:
    """Register a provider: name, kind (tow|flatbed|boat), capabilities, capacity, location, phone, user_id."""
    body = await decimal_body(request)
    provider = await call(rescue.register_provider, principal_of(request), body)
    return json_response(rescue.provider_json(provider), status=201)


@routes.get("/v1/rescue/providers")
@requires(*BOARD)
async def list_providers(request: web.Request) -> web.Response:
    """All providers with location, freshness, capacity and slots in use."""
    providers, actor = await call(rescue.list_providers), principal_of(request)
    now = utcnow()
    return json_response({"providers": [_provider_view(actor, rescue.provider_json(p, now)) for p in providers]})


def _update_provider(session, actor, provider_id: int, body: dict) -> dict:
    return rescue.provider_json(rescue.update_provider(session, actor, provider_id, body))


@routes.patch("/v1/rescue/providers/{id}")
@requires("dispatcher")
async def update_provider(request: web.Request) -> web.Response:
    """Keep a provider current: location (stamped now), available, capacity, capabilities, name, phone."""
    return await on_item(request, _update_provider)


def _create(session, actor, body: dict) -> tuple[dict, bool]:
    job, created = rescue.create_job(session, actor, body)
    return _job_view(session, actor, job), created


@routes.post("/v1/rescue/jobs")
@requires("customer", *BOARD)
async def create_job(request: web.Request) -> web.Response:
    """Open a rescue job (claim_id, or location for staff; needs, note); offered at once unless in a surge."""
    body = await decimal_body(request)
    job, created = await call(_create, principal_of(request), body)
    return json_response(job, status=201 if created else 200)


def _list(session, actor, state, limit) -> dict:
    return {"jobs": _phones_as_seen(session, actor, [rescue.job_json(session, j)
                                                     for j in rescue.list_jobs(session, actor, state, limit)])}


@routes.get("/v1/rescue/jobs")
@requires("customer", *BOARD)
async def list_jobs(request: web.Request) -> web.Response:
    """Rescue jobs, most urgent first (?state=, ?limit=); a provider's staff see their own jobs."""
    return json_response(await call(_list, principal_of(request), request.query.get("state"),
                                    query_limit(request, 200, 5000)))


@routes.get("/v1/rescue/jobs/{id}")
@requires("customer", *BOARD)
async def get_job(request: web.Request) -> web.Response:
    """One rescue job with its live offer and provider."""
    job_id, actor = path_id(request), principal_of(request)
    return json_response(await call(lambda s: _job_view(s, actor, rescue.get_job(s, actor, job_id))))


def _status(session, actor, job_id: int, body: dict) -> dict:
    status = inputs.text(body.get("status"), "status", required=True)
    note = inputs.text(body.get("note"), "note")
    if status in ("accepted", "rejected"):
        if actor.role == "customer":
            raise Malformed("a customer can only cancel their rescue", "status")
        job = rescue.respond(session, actor, job_id, status == "accepted",
                             provider_id=inputs.integer(body.get("provider_id"), "provider_id", minimum=1),
                             eta_minutes=body.get("eta_minutes"), note=note)
    else:
        job = rescue.advance(session, actor, job_id, status, note)
    return _job_view(session, actor, job)


@routes.post("/v1/rescue/jobs/{id}/status")
@requires("customer", "dispatcher")
async def job_status(request: web.Request) -> web.Response:
    """Report progress: accepted (eta_minutes) | rejected | en_route | on_scene | towing | completed |
    gone_on_arrival | cancelled."""
    return await on_item(request, _status)


def _assign(session, actor, job_id: int, body: dict) -> dict:
    rescue.assign(session, actor, job_id, inputs.integer(body.get("provider_id"), "provider_id", minimum=1,
                                                         required=True))
    return _job_view(session, actor, rescue.get_job(session, actor, job_id))


@routes.post("/v1/rescue/jobs/{id}/assign")
@requires("dispatcher")
async def assign_job(request: web.Request) -> web.Response:
    """Offer a pending job to a chosen provider (provider_id)."""
    return await on_item(request, _assign)


def _reoffer(session, actor, job_id: int, body: dict) -> dict:
    return _job_view(session, actor, rescue.reoffer(session, actor, job_id, inputs.text(body.get("note"), "note")))


@routes.post("/v1/rescue/jobs/{id}/reoffer")
@requires("dispatcher")
async def reoffer_job(request: web.Request) -> web.Response:
    """Take a job back from its provider and offer it to the next best one."""
    return await on_item(request, _reoffer)


@routes.post("/v1/rescue/dispatch")
@requires("dispatcher")
async def dispatch_now(request: web.Request) -> web.Response:
    """Run the batch assignment of pending jobs now (it also runs every few seconds)."""
    result = await call(rescue.dispatch_pending)
    return json_response({"pending": result.pending, "free_slots": result.free_slots, "surge": result.surge,
                          "offered": result.offered, "total_km": round(result.total_km, 3)})


def collect_metrics() -> Iterable[Metric]:
    """Jobs by state and offerable providers, counted by the database."""
    now = utcnow()
    fresh_since = now - timedelta(seconds=get_settings().provider_location_max_age_s)
    with session_scope() as session:
        by_state = dict(session.execute(select(RescueJob.state, func.count()).group_by(RescueJob.state)).all())
        offerable_now = session.execute(select(func.count()).select_from(RescueProvider).where(
            RescueProvider.available.is_(True), RescueProvider.active_jobs < RescueProvider.capacity,
            RescueProvider.location_at.is_not(None), RescueProvider.location_at >= fresh_since)).scalar_one()
    jobs = GaugeMetricFamily("haven_rescue_jobs", "Rescue jobs by state", labels=["state"])
    for state in rescue.JOB_STATES:
        jobs.add_metric([state], by_state.get(state, 0))
    offerable = GaugeMetricFamily("haven_rescue_providers_offerable",
                                  "Providers that can be offered a job now (available, fresh location, free slot)")
    offerable.add_metric([], offerable_now)
    yield from (jobs, offerable)
