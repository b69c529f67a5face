"""Routes: advance payments, approvals, rejections (see DESIGN.md, Interfaces: HTTP)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Float, cast, func, select

from greenchannel import claims, inputs, payments
from store.db import session_scope
from store.models import Payment
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call, decimal_body, idempotency_key, on_item, path_id

routes = web.RouteTableDef()

PAYERS = ("adjuster", "supervisor", "manager")
APPROVERS = ("supervisor", "manager")


def _request(session, actor, claim_id: int, body: dict, key: str) -> tuple[dict, bool]:
    payment, created = payments.request_payment(
        session, actor, claim_id, inputs.money(body.get("amount"), "amount"), key,
        kind=body.get("kind") or "advance", reason=inputs.text(body.get("reason"), "reason"))
    return payments.to_json(payment), created


@routes.post("/v1/claims/{id}/payments")
@requires(*PAYERS)
async def request_payment(request: web.Request) -> web.Response:
    """Request a payment (amount as a decimal string, kind advance|settlement); needs Idempotency-Key."""
    claim_id = path_id(request)
    key = idempotency_key(request, required=True)
    body = await decimal_body(request)
    payment, created = await call(_request, principal_of(request), claim_id, body, key)
    return json_response(payment, status=201 if created else 200,
                         headers=None if created else {"Idempotent-Replayed": "true"})


def _decide(session, actor, payment_id: int, body: dict, approve: bool) -> dict:
    note = inputs.text(body.get("note") or body.get("reason"), "note")
    decide = payments.approve if approve else payments.reject
    return payments.to_json(decide(session, actor, payment_id, note))


@routes.post("/v1/payments/{id}/approve")
@requires(*APPROVERS)
async def approve_payment(request: web.Request) -> web.Response:
    """Approve a payment waiting for your level (never your own request)."""
    return await on_item(request, _decide, True)


@routes.post("/v1/payments/{id}/reject")
@requires(*APPROVERS)
async def reject_payment(request: web.Request) -> web.Response:
    """Reject a payment waiting for your level (never your own request)."""
    return await on_item(request, _decide, False)


def _list(session, actor, claim_id: int) -> dict:
    claims.visible_claim(session, actor, claim_id)
    return {"payments": [payments.view_for(actor, p) for p in payments.payments_for(session, claim_id)]}


@routes.get("/v1/claims/{id}/payments")
@requires("customer", *PAYERS)
async def list_payments(request: web.Request) -> web.Response:
    """A claim's payments and their states (a customer sees their own claims': amounts, states, dates)."""
    return json_response(await call(_list, principal_of(request), path_id(request)))


def collect_metrics() -> Iterable[Metric]:
    """Payments by state and kind: counted and summed by the database, whatever the number of rows."""
    with session_scope() as session:
        rows = session.execute(select(Payment.state, Payment.kind, func.count(),
                                      func.sum(cast(Payment.amount, Float)))
                               .group_by(Payment.state, Payment.kind)
                               .order_by(Payment.state, Payment.kind)).all()
    number = GaugeMetricFamily("haven_payments", "Payments by state and kind", labels=["state", "kind"])
    total = GaugeMetricFamily("haven_payments_amount_cny", "Sum of payments by state and kind (CNY)",
                              labels=["state", "kind"])
    for state, kind, count, amount in rows:
        number.add_metric([state, kind], count)
        total.add_metric([state, kind], float(amount or 0))  # Prometheus samples are floats by definition
    yield from (number, total)
