"""Routes: rescue providers and jobs, the dispatcher's board.

Adapters only: parse (web/typed.py), call one greenchannel.service operation, answer its JSON.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from greenchannel import metrics, service
from greenchannel import requests as asks
from greenchannel import responses as views
from store.models.greenchannel import JobState
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call, path_id
from web.typed import body, query, responds

routes = web.RouteTableDef()

BOARD = ("dispatcher", "adjuster", "supervisor", "manager")


@routes.post("/v1/rescue/providers")
@requires("dispatcher")
@body(asks.ProviderRegistration)
@responds(views.ProviderView, status=201)
async def register_provider(request: web.Request, body: asks.ProviderRegistration) -> web.Response:
    """Register a provider: name, kind (tow|flatbed|boat), capabilities, capacity, location, phone, user_id."""
    return json_response(await call(service.register_provider, principal_of(request), body), status=201)


@routes.get("/v1/rescue/providers")
@requires(*BOARD)
@responds(views.ProviderList)
async def list_providers(request: web.Request) -> web.Response:
    """All providers with location, freshness, capacity and slots in use."""
    return json_response(await call(service.list_providers, principal_of(request)))


@routes.patch("/v1/rescue/providers/{id}")
@requires("dispatcher")
@body(asks.ProviderChanges)
@responds(views.ProviderView)
async def update_provider(request: web.Request, body: asks.ProviderChanges) -> web.Response:
    """Keep a provider current: location (stamped now), available, capacity, capabilities, name, phone."""
    return json_response(await call(service.update_provider, principal_of(request), path_id(request), body))


@routes.post("/v1/rescue/jobs")
@requires("customer", *BOARD)
@body(asks.JobRequest)
@responds(views.RescueJobView, status=201, description="opened")
@responds(views.RescueJobView, status=200, description="the claim's live job, opened before")
async def create_job(request: web.Request, body: asks.JobRequest) -> web.Response:
    """Open a rescue job (claim_id, or location for staff; needs, note); offered at once unless in a surge."""
    job, created = await call(service.open_rescue_job, principal_of(request), body)
    return json_response(job, status=201 if created else 200)


@routes.get("/v1/rescue/jobs")
@requires("customer", *BOARD)
@query(asks.JobListQuery)
@responds(views.RescueJobList)
async def list_jobs(request: web.Request, query: asks.JobListQuery) -> web.Response:
    """Rescue jobs, most urgent first (?state=, ?limit=); a provider's staff see their own jobs."""
    return json_response(await call(service.list_rescue_jobs, principal_of(request), query))


@routes.get("/v1/rescue/jobs/{id}")
@requires("customer", *BOARD)
@responds(views.RescueJobView)
async def get_job(request: web.Request) -> web.Response:
    """One rescue job with its live offer and provider."""
    return json_response(await call(service.view_rescue_job, principal_of(request), path_id(request)))


@routes.post("/v1/rescue/jobs/{id}/status")
@requires("customer", "dispatcher")
@body(asks.JobStatusReport)
@responds(views.RescueJobView)
async def job_status(request: web.Request, body: asks.JobStatusReport) -> web.Response:
    """Report progress: accepted (eta_minutes) | rejected | en_route | on_scene | towing | completed |
    gone_on_arrival | cancelled."""
    return json_response(await call(service.report_job_status, principal_of(request), path_id(request), body))


@routes.post("/v1/rescue/jobs/{id}/assign")
@requires("dispatcher")
@body(asks.Assignment)
@responds(views.RescueJobView)
async def assign_job(request: web.Request, body: asks.Assignment) -> web.Response:
    """Offer a pending job to a chosen provider (provider_id); a truck beyond the radius an automatic offer
    reaches needs override_reason (audited)."""
    return json_response(await call(service.assign_job, principal_of(request), path_id(request), body))


@routes.post("/v1/rescue/jobs/{id}/hold")
@requires("dispatcher")
@body(asks.JobHold)
@responds(views.RescueJobView)
async def hold_job(request: web.Request, body: asks.JobHold) -> web.Response:
    """A dispatcher is working this pending job by hand: it is not offered automatically for the hold
    (HAVEN_RESCUE_HOLD_S, default 60 s); the board renews it while the job is open there."""
    return json_response(await call(service.hold_job, principal_of(request), path_id(request)))


@routes.post("/v1/rescue/jobs/{id}/reoffer")
@requires("dispatcher")
@body(asks.Reoffer)
@responds(views.RescueJobView)
async def reoffer_job(request: web.Request, body: asks.Reoffer) -> web.Response:
    """Take a job back from its provider and offer it to the next best one."""
    return json_response(await call(service.reoffer_job, principal_of(request), path_id(request), body))


@routes.post("/v1/rescue/dispatch")
@requires("dispatcher")
@responds(views.DispatchRun)
async def dispatch_now(request: web.Request) -> web.Response:
    """Run the batch assignment of pending jobs now (it also runs every few seconds): which jobs were offered
    to which truck, and why each other job was not placed."""
    result = await call(service.dispatch_pending)
    return json_response({"pending": result.pending, "free_slots": result.free_slots, "surge": result.surge,
                          "offered": result.offered, "total_km": round(result.total_km, 3), "held": result.held,
                          "offered_jobs": result.offered_jobs, "unplaced": result.unplaced})


def collect_metrics() -> Iterable[Metric]:
    """Jobs by state and offerable providers, counted by the database."""
    figures = metrics.rescue_figures(service.rules().rescue)
    jobs = GaugeMetricFamily("haven_rescue_jobs", "Rescue jobs by state", labels=["state"])
    for state in JobState:
        jobs.add_metric([state], figures.jobs_by_state.get(state, 0))
    offerable = GaugeMetricFamily("haven_rescue_providers_offerable",
                                  "Providers that can be offered a job now (available, fresh location, free slot)")
    offerable.add_metric([], figures.offerable_providers)
    yield from (jobs, offerable)
