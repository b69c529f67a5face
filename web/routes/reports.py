"""Routes: the loss-prevention report of a CAT event (greenchannel/loss_report.py), as JSON or CSV.

`GET /v1/cat-events/{id}/loss-report` answers JSON; `?format=csv`, or `Accept: text/csv` without a
`format`, answers the same figures as a CSV file, one row per asset kind and group.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from greenchannel import loss_report, loss_report_service
from greenchannel.loss_report import Difference, Inconclusive, NotWarnedReason
from store.models.greenchannel import CatEventStatus
from web.common import json_response, requires
from web.routes.greenchannel import call, path_id
from web.typed import query, responds

routes = web.RouteTableDef()

REPORT_ROLES = ("manager",)


class LossReportQuery(BaseModel):
    format: Literal["json", "csv"] | None = Field(None, description="csv for the CSV file; json by default")


class Rate(BaseModel):
    """A proportion with its 95% Wilson score interval, also per 1,000."""

    successes: int
    n: int
    share: float | None
    low: float | None
    high: float | None
    per_1000: float | None
    low_per_1000: float | None
    high_per_1000: float | None
    conclusive: bool
    reason: Inconclusive | None = Field(None, description="why it is not conclusive: too_few (n under "
                                                          "min_group) or interval_too_wide")


class Average(BaseModel):
    amount: Decimal | None = Field(None, description="CNY, two decimals, as a string")
    n: int
    conclusive: bool
    reason: Inconclusive | None = None


class WarningHours(BaseModel):
    median: float | None
    mean: float | None
    n: int = Field(description="claims whose customer was handed a warning before the loss")
    conclusive: bool
    reason: Inconclusive | None = None


class GroupFigures(BaseModel):
    customers: int
    assets: int
    claims: int
    claimed_assets: int
    claims_per_1000: Rate = Field(description="assets with a claim per 1,000 assets")
    average_estimate: Average
    average_paid: Average = Field(description="paid per claim, over the claims with a payment made")
    reply_one_share: Rate = Field(description="share of the claims opened by an SMS reply 1")
    warning_hours: WarningHours = Field(description="hours from the first warning handed over to the loss")


class ClaimsDifference(BaseModel):
    """Warned minus not-warned claims per 1,000 assets, with Newcombe's hybrid score interval (95%)."""

    per_1000: float | None
    low_per_1000: float | None
    high_per_1000: float | None
    verdict: Difference | None = Field(description="fewer or more when the interval leaves out 0")
    conclusive: bool
    reason: Inconclusive | None = None


class KindRow(BaseModel):
    kind: str = Field(description="all, vehicle, home, shop, factory")
    warned: GroupFigures
    not_warned: GroupFigures
    difference: ClaimsDifference


class ReasonCount(BaseModel):
    reason: NotWarnedReason
    customers: int
    assets: int


class EventSummary(BaseModel):
    id: int
    code: str
    hazard: str
    status: CatEventStatus
    window_start: datetime
    window_end: datetime | None


class Method(BaseModel):
    warned_before: datetime
    chain_ids: list[int]
    confidence: float
    min_group: int
    max_interval_width_per_1000: float


class LossReport(BaseModel):
    """Warned against not-warned customers with assets inside a CAT event's area."""

    cat_event: EventSummary
    synthetic: bool = Field(description="true when the event was made by haven demo over the synthetic book")
    generated_at: datetime
    currency: Literal["CNY"]
    method: Method
    claims_outside_area: int
    kinds: list[KindRow] = Field(description="overall (kind all) first, then by asset kind")
    not_warned_reasons: list[ReasonCount]


def _wants_csv(request: web.Request, asked: LossReportQuery) -> bool:
    if asked.format is not None:
        return asked.format == "csv"
    return "text/csv" in request.headers.get("Accept", "")


def _filename(code: str) -> str:
    return "loss-report-" + re.sub(r"[^A-Za-z0-9._-]", "_", code) + ".csv"


@routes.get("/v1/cat-events/{id}/loss-report")
@requires(*REPORT_ROLES)
@query(LossReportQuery)
@responds(LossReport, description="JSON; ?format=csv or Accept: text/csv gives the same figures as CSV")
async def cat_event_loss_report(request: web.Request, query: LossReportQuery) -> web.Response:
    """Loss-prevention report: customers warned before the CAT event's window against those who were not.

    Per asset kind and overall: claims per 1,000 assets, average estimate and paid amount, share of claims
    opened by an SMS reply 1, hours of warning before the loss; rates with 95% Wilson intervals, and
    groups too small to conclude anything from marked as such.
    """
    report = await call(loss_report_service.loss_report_of, path_id(request))
    if _wants_csv(request, query):
        return web.Response(text=loss_report.as_csv(report), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{_filename(report["cat_event"]["code"])}"'})
    return json_response(report)
