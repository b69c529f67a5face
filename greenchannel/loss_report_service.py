"""The loss-prevention report of a CAT event, one read transaction (greenchannel/loss_report.py has the
statistics, greenchannel/dao/loss_report_dao.py the queries)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from greenchannel import loss_report
from greenchannel.dao import loss_report_dao as dao
from greenchannel.errors import NotFound
from greenchannel.service import run_unit
from store.types import utcnow


def loss_report_of(event_id: int) -> dict:
    return run_unit(_report, event_id)


def mark_demo_report(event_id: int) -> dict:
    """For `haven demo`: label the event's report as synthetic data, and return the report."""
    run_unit(dao.mark_synthetic, event_id, "made by haven demo over the synthetic book")
    return loss_report_of(event_id)


def _report(session, event_id: int) -> dict:
    event = dao.cat_event(session, event_id)
    if event is None:
        raise NotFound(f"CAT event {event_id}")
    rows = dao.assets_in_box(session, *loss_report.area_bounds(event.area_geojson))
    inside = loss_report.inside_area(event.area_geojson, (r.lon for r in rows), (r.lat for r in rows))
    rows = [rows[index] for index in inside.nonzero()[0].tolist()]
    handovers = defaultdict(list)
    for customer_id, handed_at in dao.warnings_sent(session, event):
        handovers[customer_id].append(handed_at)
    contacts = {}
    for row in rows:
        if row.customer_id not in contacts:
            contacts[row.customer_id] = loss_report.CustomerContact(
                row.customer_id, row.phone, bool(row.sms_opt_out), tuple(handovers.get(row.customer_id, ())))
    assets = [loss_report.InsuredAsset(row.asset_id, row.customer_id, row.kind or "vehicle") for row in rows]
    in_area = {asset.asset_id for asset in assets}
    paid = dao.paid_by_claim(session, event)
    found = dao.claims(session, event)
    claims = [loss_report.ClaimFacts(claim_id, asset_id, loss_at, estimate, paid.get(claim_id, Decimal(0)), by_reply)
              for claim_id, asset_id, loss_at, estimate, by_reply in found if asset_id in in_area]
    figures = loss_report.build(assets, contacts, claims, event.window_start)
    return {
        "cat_event": {"id": event.id, "code": event.code, "hazard": event.hazard, "status": event.status,
                      "window_start": event.window_start, "window_end": event.window_end},
        "synthetic": dao.is_synthetic(session, event.id),
        "generated_at": utcnow(),
        "currency": "CNY",
        "method": {"warned_before": event.window_start, "chain_ids": dao.chains_of(event),
                   "confidence": loss_report.CONFIDENCE, "min_group": loss_report.MIN_GROUP,
                   "max_interval_width_per_1000": loss_report.MAX_INTERVAL_WIDTH * 1000},
        "claims_outside_area": len(found) - len(claims),
        **figures,
    }


def demo_report_line(event_id: int) -> str:
    """What `haven demo` prints last about its event: the report, labelled as synthetic data."""
    return loss_report.summary_line(mark_demo_report(event_id)) + " (console: Loss prevention)"
