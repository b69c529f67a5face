"""Routes: advance payments, approvals, rejections.

Adapters only: parse (web/typed.py), call one greenchannel.service operation, answer its JSON.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from greenchannel import metrics, service
from greenchannel import requests as asks
from greenchannel import responses as views
from greenchannel.inputs import ClientKey
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call, path_id
from web.typed import body, header, responds

routes = web.RouteTableDef()

PAYERS = ("adjuster", "supervisor", "manager")
APPROVERS = ("supervisor", "manager")


@routes.post("/v1/claims/{id}/payments")
@requires(*PAYERS)
@header("Idempotency-Key", ClientKey, required=True, description="one payment per key and claim")
@body(asks.PaymentRequest)
@responds(views.PaymentView, status=201, description="requested")
@responds(views.PaymentView, status=200, description="requested before with this key (Idempotent-Replayed: true)")
async def request_payment(request: web.Request, body: asks.PaymentRequest, idempotency_key: str) -> web.Response:
    """Request a payment (amount as a decimal string, kind advance|settlement); needs Idempotency-Key."""
    payment, created = await call(service.request_payment, principal_of(request), path_id(request), body,
                                  idempotency_key)
    return json_response(payment, status=201 if created else 200,
                         headers=None if created else {"Idempotent-Replayed": "true"})


@routes.post("/v1/payments/{id}/approve")
@requires(*APPROVERS)
@body(asks.PaymentDecision)
@responds(views.PaymentView)
async def approve_payment(request: web.Request, body: asks.PaymentDecision) -> web.Response:
    """Approve a payment waiting for your level (never your own request). With the claim's ID card or bank
    account document missing it is a 409 documents_missing unless override_reason says why (audited)."""
    return json_response(await call(service.decide_payment, principal_of(request), path_id(request), body, True))


@routes.post("/v1/payments/{id}/reject")
@requires(*APPROVERS)
@body(asks.PaymentDecision)
@responds(views.PaymentView)
async def reject_payment(request: web.Request, body: asks.PaymentDecision) -> web.Response:
    """Reject a payment waiting for your level (never your own request), with a reason (note or reason)."""
    return json_response(await call(service.decide_payment, principal_of(request), path_id(request), body, False))


@routes.get("/v1/approvals/waiting")
@requires(*APPROVERS)
@responds(views.ApprovalsWaiting)
async def approvals_waiting(request: web.Request) -> web.Response:
    """How many payments wait for your decision (your level or below, never your own): the console's badge."""
    return json_response(await call(service.approvals_waiting, principal_of(request)))


@routes.get("/v1/claims/{id}/payments")
@requires("customer", *PAYERS)
@responds(views.PaymentList)
async def list_payments(request: web.Request) -> web.Response:
    """A claim's payments and their states (a customer sees their own claims': amounts, states, dates)."""
    return json_response(await call(service.list_payments, principal_of(request), path_id(request)))


def collect_metrics() -> Iterable[Metric]:
    """Payments by state and kind: counted and summed by the database, whatever the number of rows."""
    number = GaugeMetricFamily("haven_payments", "Payments by state and kind", labels=["state", "kind"])
    total = GaugeMetricFamily("haven_payments_amount_cny", "Sum of payments by state and kind (CNY)",
                              labels=["state", "kind"])
    for state, kind, count, amount in metrics.payment_figures():
        number.add_metric([state, kind], count)
        total.add_metric([state, kind], amount)
    yield from (number, total)
