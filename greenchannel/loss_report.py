"""The loss-prevention report's statistics: who counts as warned, and the figures compared by group.

For a CAT event, every insured asset inside its area is in one of two groups: its customer was warned
before the event's window opened (a warning or escalation of one of the event's chains handed to the
provider before `window_start`), or not. The not-warned keep why: warned late, a message saved but
never handed over, opted out of SMS, no phone number, or outside every warned area.

Each group gets, overall and per asset kind: assets with a claim per 1,000 assets, the average
estimate and paid amount per claim, the share of claims opened by an SMS reply "1", and the hours
between the first hand-over and the loss. Rates carry a 95% Wilson score interval. A figure is
"inconclusive" when its denominator is under MIN_GROUP, or when its interval is wider than
MAX_INTERVAL_WIDTH (100 per 1,000): small groups say so instead of showing a bare number.

Plain functions over plain records; the queries are in greenchannel/dao/loss_report_dao.py.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

import numpy as np
import shapely
from scipy.stats import binomtest
from shapely.geometry import shape

ASSET_KINDS = ("vehicle", "home", "shop", "factory")
ALL_KINDS = "all"
CONFIDENCE = 0.95
MIN_GROUP = 30
MAX_INTERVAL_WIDTH = 0.10
CENT = Decimal("0.01")


class Group(StrEnum):
    WARNED = "warned"
    NOT_WARNED = "not_warned"


class NotWarnedReason(StrEnum):
    """Why a customer inside the event's area was not warned in time, the first that applies."""

    WARNED_LATE = "warned_late"  # handed over, but only once the window had opened
    NOT_HANDED_OVER = "not_handed_over"  # a message was saved but failed, expired, was cancelled or held
    OPTED_OUT = "opted_out"
    NO_PHONE = "no_phone"
    OUTSIDE_WARNED_AREA = "outside_warned_area"


class Inconclusive(StrEnum):
    TOO_FEW = "too_few"  # fewer than MIN_GROUP in the denominator
    INTERVAL_TOO_WIDE = "interval_too_wide"


@dataclass(frozen=True)
class CustomerContact:
    customer_id: str
    phone: str | None
    sms_opt_out: bool
    # Every hand-over of a warning of the event's chains (None: saved, never handed over).
    handovers: tuple[datetime | None, ...] = ()


@dataclass(frozen=True)
class InsuredAsset:
    asset_id: str
    customer_id: str
    kind: str


@dataclass(frozen=True)
class ClaimFacts:
    claim_id: int
    asset_id: str
    loss_at: datetime
    estimate: Decimal | None
    paid: Decimal
    by_sms_reply: bool


@dataclass(frozen=True)
class WarningOutcome:
    group: Group
    reason: NotWarnedReason | None
    first_handover: datetime | None  # the first hand-over at any time, for the hours of warning


def warning_outcome(contact: CustomerContact, window_start: datetime) -> WarningOutcome:
    """Warned when a warning was handed to the provider before the window opened; otherwise why not."""
    first = min((at for at in contact.handovers if at is not None), default=None)
    if first is not None and first < window_start:
        return WarningOutcome(Group.WARNED, None, first)
    if first is not None:
        reason = NotWarnedReason.WARNED_LATE
    elif contact.handovers:
        reason = NotWarnedReason.NOT_HANDED_OVER
    elif contact.sms_opt_out:
        reason = NotWarnedReason.OPTED_OUT
    elif not (contact.phone or "").strip():
        reason = NotWarnedReason.NO_PHONE
    else:
        reason = NotWarnedReason.OUTSIDE_WARNED_AREA
    return WarningOutcome(Group.NOT_WARNED, reason, first)


def inside_area(area_geojson: dict, lons: Iterable[float], lats: Iterable[float]) -> np.ndarray:
    """Which points lie inside the area; a point on its boundary counts as inside."""
    area = shape(area_geojson)
    return shapely.intersects_xy(area, np.asarray(list(lons), dtype=float), np.asarray(list(lats), dtype=float))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (no continuity correction); None when n is 0."""
    if n <= 0:
        return None
    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _verdict(n: int, interval: tuple[float, float] | None) -> tuple[bool, str | None]:
    if n < MIN_GROUP:
        return False, Inconclusive.TOO_FEW
    if interval is not None and interval[1] - interval[0] > MAX_INTERVAL_WIDTH:
        return False, Inconclusive.INTERVAL_TOO_WIDE
    return True, None


def rate(successes: int, n: int) -> dict:
    interval = wilson_interval(successes, n)
    conclusive, reason = _verdict(n, interval)
    share = successes / n if n else None
    low, high = interval if interval else (None, None)

    def per_1000(value):
        return None if value is None else round(value * 1000, 2)

    return {"successes": successes, "n": n, "share": share, "low": low, "high": high,
            "per_1000": per_1000(share), "low_per_1000": per_1000(low), "high_per_1000": per_1000(high),
            "conclusive": conclusive, "reason": reason}


class Difference(StrEnum):
    FEWER = "fewer"  # the warned group claimed less, and the interval says so
    MORE = "more"
    NO_CLEAR_DIFFERENCE = "no_clear_difference"


def difference(warned: dict, not_warned: dict) -> dict:
    """Warned minus not-warned claims per 1,000, with Newcombe's hybrid score interval (built from the two
    Wilson intervals); conclusive only when both rates are."""
    if not warned["n"] or not not_warned["n"]:
        return {"per_1000": None, "low_per_1000": None, "high_per_1000": None, "verdict": None,
                "conclusive": False, "reason": Inconclusive.TOO_FEW}
    p1, l1, u1 = warned["share"], warned["low"], warned["high"]
    p2, l2, u2 = not_warned["share"], not_warned["low"], not_warned["high"]
    gap = p1 - p2
    low = gap - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = gap + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    verdict = Difference.FEWER if high < 0 else Difference.MORE if low > 0 else Difference.NO_CLEAR_DIFFERENCE
    conclusive = warned["conclusive"] and not_warned["conclusive"]
    reason = None if conclusive else (warned["reason"] or not_warned["reason"])
    return {"per_1000": round(gap * 1000, 2), "low_per_1000": round(low * 1000, 2),
            "high_per_1000": round(high * 1000, 2), "verdict": verdict, "conclusive": conclusive, "reason": reason}


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def average_amount(amounts: list[Decimal]) -> dict:
    conclusive, reason = _verdict(len(amounts), None)
    mean = sum(amounts, Decimal(0)) / len(amounts) if amounts else None
    return {"amount": money(mean), "n": len(amounts), "conclusive": conclusive, "reason": reason}


def warning_hours(hours: list[float]) -> dict:
    conclusive, reason = _verdict(len(hours), None)
    return {"median": round(statistics.median(hours), 2) if hours else None,
            "mean": round(statistics.fmean(hours), 2) if hours else None,
            "n": len(hours), "conclusive": conclusive, "reason": reason}


def group_figures(assets: list[InsuredAsset], claims: list[ClaimFacts],
                  first_handover: dict[str, datetime | None]) -> dict:
    """The figures of one group (its assets and the claims on them)."""
    owner = {asset.asset_id: asset.customer_id for asset in assets}
    claimed = {claim.asset_id for claim in claims}
    hours = []
    for claim in claims:
        handed = first_handover.get(owner[claim.asset_id])
        if handed is not None and handed <= claim.loss_at:
            hours.append((claim.loss_at - handed).total_seconds() / 3600)
    return {
        "customers": len(set(owner.values())),
        "assets": len(assets),
        "claims": len(claims),
        "claimed_assets": len(claimed),
        "claims_per_1000": rate(len(claimed), len(assets)),
        "average_estimate": average_amount([c.estimate for c in claims if c.estimate is not None]),
        "average_paid": average_amount([c.paid for c in claims if c.paid > 0]),
        "reply_one_share": rate(sum(1 for c in claims if c.by_sms_reply), len(claims)),
        "warning_hours": warning_hours(hours),
    }


def build(assets: list[InsuredAsset], contacts: dict[str, CustomerContact], claims: list[ClaimFacts],
          window_start: datetime) -> dict:
    """Groups, the not-warned breakdown and the figures per asset kind and overall."""
    outcomes = {customer_id: warning_outcome(contact, window_start) for customer_id, contact in contacts.items()}
    kinds = [*ASSET_KINDS, *sorted({a.kind for a in assets} - set(ASSET_KINDS))]
    by_kind_group: dict[tuple[str, Group], list[InsuredAsset]] = defaultdict(list)
    group_of_asset: dict[str, tuple[str, Group]] = {}
    for asset in assets:
        group = outcomes[asset.customer_id].group
        for kind in (ALL_KINDS, asset.kind):
            by_kind_group[kind, group].append(asset)
        group_of_asset[asset.asset_id] = (asset.kind, group)
    claims_by: dict[tuple[str, Group], list[ClaimFacts]] = defaultdict(list)
    for claim in claims:
        kind, group = group_of_asset[claim.asset_id]
        claims_by[ALL_KINDS, group].append(claim)
        claims_by[kind, group].append(claim)
    first = {customer_id: outcome.first_handover for customer_id, outcome in outcomes.items()}
    rows = [{"kind": kind, **{group.value: group_figures(by_kind_group[kind, group], claims_by[kind, group], first)
                              for group in Group}}
            for kind in (ALL_KINDS, *kinds)]
    for row in rows:
        row["difference"] = difference(row[Group.WARNED]["claims_per_1000"], row[Group.NOT_WARNED]["claims_per_1000"])
    return {"kinds": rows, "not_warned_reasons": _breakdown(assets, outcomes)}


def _breakdown(assets: list[InsuredAsset], outcomes: dict[str, WarningOutcome]) -> list[dict]:
    customers: dict[NotWarnedReason, set[str]] = defaultdict(set)
    counted: dict[NotWarnedReason, int] = defaultdict(int)
    for asset in assets:
        reason = outcomes[asset.customer_id].reason
        if reason is not None:
            customers[reason].add(asset.customer_id)
            counted[reason] += 1
    return [{"reason": reason, "customers": len(customers[reason]), "assets": counted[reason]}
            for reason in NotWarnedReason]


CSV_COLUMNS = (
    "cat_event", "synthetic", "kind", "group", "customers", "assets", "claims", "claimed_assets",
    "claims_per_1000", "claims_per_1000_low", "claims_per_1000_high", "claims_conclusive", "claims_reason",
    "average_estimate_cny", "estimates", "average_paid_cny", "paid_claims",
    "reply_one_claims", "reply_one_share", "reply_one_low", "reply_one_high", "reply_one_conclusive",
    "warning_hours_median", "warning_hours_mean", "warning_hours_n",
    "warned_minus_not_warned_per_1000", "difference_low", "difference_high", "difference_verdict",
    "difference_conclusive",
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_csv(report: dict) -> str:
    """One row per asset kind and group, the same figures as the JSON (empty cells where it has null); the
    difference between the groups is repeated on both rows of its kind."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["kinds"]:
        for group in Group:
            f = row[group.value]
            claims, reply, gap = f["claims_per_1000"], f["reply_one_share"], row["difference"]
            writer.writerow(_cell(v) for v in (
                report["cat_event"]["code"], report["synthetic"], row["kind"], group.value, f["customers"],
                f["assets"], f["claims"], f["claimed_assets"], claims["per_1000"], claims["low_per_1000"],
                claims["high_per_1000"], claims["conclusive"], claims["reason"],
                f["average_estimate"]["amount"], f["average_estimate"]["n"], f["average_paid"]["amount"],
                f["average_paid"]["n"], reply["successes"], reply["share"], reply["low"], reply["high"],
                reply["conclusive"], f["warning_hours"]["median"], f["warning_hours"]["mean"],
                f["warning_hours"]["n"], gap["per_1000"], gap["low_per_1000"], gap["high_per_1000"],
                gap["verdict"], gap["conclusive"]))
    return out.getvalue()


def area_bounds(area_geojson: dict) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the area."""
    return tuple(float(v) for v in shape(area_geojson).bounds)


def summary_line(report: dict) -> str:
    """One sentence for a terminal: both groups' claims per 1,000 assets, and whether it is synthetic."""
    overall = report["kinds"][0]

    def part(name: str, figures: dict) -> str:
        claims = figures["claims_per_1000"]
        if claims["n"] == 0:
            return f"{name}: no insured asset"
        said = f"{name}: {claims['successes']:,} of {claims['n']:,} assets claimed"
        if claims["per_1000"] is not None and claims["conclusive"]:
            said += f" ({claims['per_1000']:.1f} per 1,000, 95% {claims['low_per_1000']:.1f}-{claims['high_per_1000']:.1f})"
        else:
            said += " (too few to conclude anything from)"
        return said

    label = " (synthetic data)" if report["synthetic"] else ""
    return (f"loss-prevention report for {report['cat_event']['code']}{label}: "
            f"{part('warned before the window', overall['warned'])}; {part('not warned', overall['not_warned'])}")
