"""The loss-prevention report (greenchannel/loss_report.py and its dao) on a book built so that every
expected figure is known, on PostgreSQL and SQLite; and its route over real HTTP on PostgreSQL.

The book, inside a CAT event's square area over Wenzhou: 1,000 vehicles whose owners were handed a warning
five hours before the window opened, 50 of them claimed; 1,000 vehicles whose owners were not warned in
time (300 warned late, 100 whose SMS failed, 300 opted out, 100 without a phone number, 200 outside every
warned area), 120 of them claimed; 12 warned and 10 unwarned shops with 2 and 3 claims, a group too small
to conclude anything from. Outside the area, one more car with a claim in the window; and a withdrawn
claim on a warned car, which counts for nothing.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from greenchannel import loss_report
from greenchannel.loss_report_service import loss_report_of, mark_demo_report
from store.db import session_scope
from store.models import Asset, CatEvent, Claim, Customer, Notification, Payment, User
from tests.support import make_user

WINDOW_START = datetime(2026, 7, 25, 4, 0, tzinfo=UTC)
AREA = {"type": "MultiPolygon", "coordinates": [[[[120.5, 27.8], [120.9, 27.8], [120.9, 28.2], [120.5, 28.2],
                                                  [120.5, 27.8]]]]}
LOSS_AT = WINDOW_START + timedelta(hours=1)
WARNED_AT = WINDOW_START - timedelta(hours=5)
Z = 1.959963984540054  # the 97.5th percentile of the standard normal distribution
# Not-warned vehicles by reason: (how many, how many of them claimed).
UNWARNED = {"warned_late": (300, 40), "not_handed_over": (100, 10), "opted_out": (300, 40),
            "no_phone": (100, 10), "outside_warned_area": (200, 20)}


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, written out from its formula."""
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


@dataclass
class Book:
    event_id: int
    payer_id: int


def _place(index: int) -> tuple[float, float]:
    return 120.55 + (index % 300) * 0.001, 27.85 + (index // 300) * 0.001


def build_book(database_url: str) -> Book:
    """The book of the module docstring; returns the CAT event's id."""
    with session_scope(database_url) as session:
        payer = User(name="Pat Payer", role="supervisor")
        event = CatEvent(code="CAT-2026-0725-TEST", hazard="typhoon", area_geojson=AREA, window_start=WINDOW_START,
                         window_end=WINDOW_START + timedelta(days=3), status="open")
        session.add_all([payer, event])
        session.flush()
        counter = iter(range(10**6))
        customers, assets, notifications, claims = [], [], [], []

        def insured(kind: str, *, warned_at=None, state="delivered", phone="+8613800000000", opted_out=False,
                    claimed=False, estimate=Decimal("10000.00"), paid=None, lon_lat=None) -> None:
            index = next(counter)
            customer_id, asset_id = f"LR-C{index:05d}", f"LR-A{index:05d}"
            lon, lat = lon_lat or _place(index)
            customers.append(Customer(customer_id=customer_id, phone=phone, sms_opt_out=opted_out))
            assets.append(Asset(asset_id=asset_id, customer_id=customer_id, kind=kind, lon=lon, lat=lat))
            if warned_at is not None or state == "failed":
                notifications.append(Notification(
                    idempotency_key=f"lr-{index}", customer_id=customer_id, channel="sms", kind="warning",
                    recipient=phone, body="Typhoon warning", state=state,
                    sent_at=warned_at if state != "failed" else None,
                    created_at=(warned_at or WARNED_AT) - timedelta(seconds=5)))
            if claimed:
                claims.append((Claim(customer_id=customer_id, asset_id=asset_id, asset_kind=kind, loss_at=LOSS_AT,
                                     loss_lon=lon, loss_lat=lat, estimate=estimate, cat_event_id=event.id,
                                     cat_code=event.code), paid))

        for i in range(1000):  # warned vehicles: 50 claims of 10,000.00 / 12,000.00, 30 of them paid 3,000.00
            insured("vehicle", warned_at=WARNED_AT, claimed=i < 50,
                    estimate=Decimal("10000.00") if i % 2 else Decimal("12000.00"),
                    paid=Decimal("3000.00") if i < 30 else None)
        for reason, (count, claimed) in UNWARNED.items():
            for i in range(count):
                insured("vehicle", claimed=i < claimed, estimate=Decimal("20000.00"),
                        paid=Decimal("5000.00") if i < 5 else None,
                        warned_at=WINDOW_START + timedelta(hours=2) if reason == "warned_late" else None,
                        state="failed" if reason == "not_handed_over" else "delivered",
                        phone="" if reason == "no_phone" else "+8613900000000",
                        opted_out=reason == "opted_out")
        for i in range(12):
            insured("shop", warned_at=WARNED_AT, claimed=i < 2, estimate=Decimal("50000.00"))
        for i in range(10):
            insured("shop", claimed=i < 3, estimate=Decimal("80000.00"))
        insured("vehicle", claimed=True, lon_lat=(118.0, 24.5))  # Xiamen: outside the event's area
        claims.append((Claim(customer_id="LR-C00000", asset_id="LR-A00000", asset_kind="vehicle", loss_at=LOSS_AT,
                             loss_lon=120.55, loss_lat=27.85, estimate=Decimal("99999.00"), cat_event_id=event.id,
                             stage="withdrawn"), None))
        for rows in (customers, assets + notifications, [claim for claim, _ in claims]):
            session.add_all(rows)
            session.flush()
        session.add_all(Payment(claim_id=claim.id, idempotency_key=f"pay-{claim.id}", amount=paid, state="paid",
                                required_role="adjuster", requested_by=payer.id)
                        for claim, paid in claims if paid is not None)
        return Book(event.id, payer.id)


def _row(report: dict, kind: str) -> dict:
    [row] = [r for r in report["kinds"] if r["kind"] == kind]
    return row


def _check_rate(rate: dict, successes: int, n: int, what: str) -> None:
    low, high = wilson(successes, n)
    assert rate["successes"] == successes, f"{what}: {rate['successes']} successes, expected {successes}"
    assert rate["n"] == n, f"{what}: n is {rate['n']}, expected {n}"
    assert rate["per_1000"] == round(1000 * successes / n, 2), f"{what}: per 1,000 is {rate['per_1000']}"
    assert rate["low"] == pytest.approx(low, abs=1e-9), f"{what}: Wilson low bound {rate['low']} != {low}"
    assert rate["high"] == pytest.approx(high, abs=1e-9), f"{what}: Wilson high bound {rate['high']} != {high}"


@pytest.fixture
def book(db_url, haven_env):
    haven_env(db_url)
    return build_book(db_url)


def test_the_report_finds_the_known_rates_and_wilson_bounds_of_the_built_book(book):
    report = loss_report_of(book.event_id)
    vehicles = _row(report, "vehicle")
    warned, unwarned = vehicles["warned"], vehicles["not_warned"]
    assert warned["assets"] == 1000, f"warned vehicles inside the area: {warned['assets']}"
    assert unwarned["assets"] == 1000, f"unwarned vehicles inside the area: {unwarned['assets']}"
    _check_rate(warned["claims_per_1000"], 50, 1000, "warned vehicles' claims")
    _check_rate(unwarned["claims_per_1000"], 120, 1000, "unwarned vehicles' claims")
    assert warned["claims_per_1000"]["per_1000"] == 50.0, "50 claims on 1,000 warned vehicles is 50 per 1,000"
    assert unwarned["claims_per_1000"]["per_1000"] == 120.0, "120 claims on 1,000 unwarned vehicles is 120 per 1,000"
    assert warned["claims_per_1000"]["conclusive"] and unwarned["claims_per_1000"]["conclusive"], \
        "1,000 vehicles per group is enough to conclude from"

    assert warned["average_estimate"]["amount"] == "11000.00", \
        f"warned claims' estimates average 11,000.00 CNY: {warned['average_estimate']}"
    assert unwarned["average_estimate"]["amount"] == "20000.00", f"unwarned: {unwarned['average_estimate']}"
    assert warned["average_paid"] == {"amount": "3000.00", "n": 30, "conclusive": True, "reason": None}, \
        f"30 warned claims were paid 3,000.00 each: {warned['average_paid']}"
    assert unwarned["average_paid"]["n"] == 25 and unwarned["average_paid"]["conclusive"] is False, \
        f"25 paid unwarned claims are fewer than 30: {unwarned['average_paid']}"
    assert unwarned["average_paid"]["reason"] == "too_few", f"why: {unwarned['average_paid']}"
    assert warned["warning_hours"]["median"] == 6.0, f"warned 5 h before a window opened 1 h before the loss: " \
                                                      f"{warned['warning_hours']}"
    assert warned["warning_hours"]["mean"] == 6.0 and warned["warning_hours"]["n"] == 50, f"{warned['warning_hours']}"
    assert unwarned["warning_hours"]["n"] == 0, "late warnings came after the loss: no hours of warning"
    assert warned["reply_one_share"]["successes"] == 0 and warned["reply_one_share"]["n"] == 50, \
        f"no claim was opened by an SMS reply; n is shown: {warned['reply_one_share']}"


def test_warned_vehicles_claimed_fewer_by_an_interval_that_leaves_out_zero(book):
    gap = _row(loss_report_of(book.event_id), "vehicle")["difference"]
    (l1, u1), (l2, u2) = wilson(50, 1000), wilson(120, 1000)
    low = (0.05 - 0.12) - math.sqrt((0.05 - l1) ** 2 + (u2 - 0.12) ** 2)  # Newcombe's hybrid score interval
    high = (0.05 - 0.12) + math.sqrt((u1 - 0.05) ** 2 + (0.12 - l2) ** 2)
    assert gap["per_1000"] == -70.0, f"50 minus 120 claims per 1,000 is -70: {gap}"
    assert gap["low_per_1000"] == round(low * 1000, 2), f"the difference's low bound {gap} != {low * 1000}"
    assert gap["high_per_1000"] == round(high * 1000, 2), f"the difference's high bound {gap} != {high * 1000}"
    assert gap["verdict"] == "fewer" and gap["conclusive"] is True, f"warned cars claimed fewer, clearly: {gap}"


def test_a_group_too_small_to_conclude_anything_from_is_marked_as_such(book):
    shops = _row(loss_report_of(book.event_id), "shop")
    for group, assets, claimed in (("warned", 12, 2), ("not_warned", 10, 3)):
        rate = shops[group]["claims_per_1000"]
        _check_rate(rate, claimed, assets, f"{group} shops")
        assert rate["conclusive"] is False, f"{assets} {group} shops are too few to conclude from: {rate}"
        assert rate["reason"] == "too_few", f"{group} shops: the reason is named: {rate}"
    assert shops["difference"]["conclusive"] is False, f"nor is the shops' difference: {shops['difference']}"
    assert shops["difference"]["reason"] == "too_few", f"why: {shops['difference']}"
    homes = _row(loss_report_of(book.event_id), "home")
    assert homes["warned"]["assets"] == 0 and homes["warned"]["claims_per_1000"]["per_1000"] is None, \
        f"no homes: no rate rather than zero: {homes['warned']}"


def test_the_unwarned_keep_their_reason_and_the_overall_row_adds_the_kinds_up(book):
    report = loss_report_of(book.event_id)
    reasons = {r["reason"]: r["assets"] for r in report["not_warned_reasons"]}
    expected = {reason: count for reason, (count, _) in UNWARNED.items()}
    expected["outside_warned_area"] += 10  # the unwarned shops' owners were never warned either
    assert reasons == expected, f"not warned, by reason: {reasons}"
    overall = _row(report, "all")
    _check_rate(overall["warned"]["claims_per_1000"], 52, 1012, "all warned assets")
    _check_rate(overall["not_warned"]["claims_per_1000"], 123, 1010, "all unwarned assets")
    assert report["kinds"][0]["kind"] == "all", "the overall row comes first"
    assert report["claims_outside_area"] == 1, "the Xiamen car's claim lies outside the area and is left out"
    assert report["synthetic"] is False, "a declared event's report is real data"
    assert report["currency"] == "CNY"


def test_the_demo_hook_labels_the_report_as_synthetic(book):
    report = mark_demo_report(book.event_id)
    assert report["synthetic"] is True, "an event made by haven demo gives a synthetic report"
    again = mark_demo_report(book.event_id)
    assert again["synthetic"] is True, "marking twice changes nothing"
    line = loss_report.summary_line(again)
    assert "(synthetic data)" in line, \
        f"the demo's line says the data is synthetic: {line}"


def test_wilson_interval_of_edge_cases():
    assert loss_report.wilson_interval(0, 0) is None, "no assets: no interval"
    low, high = loss_report.wilson_interval(0, 40)
    assert low == pytest.approx(0, abs=1e-12) and high == pytest.approx(wilson(0, 40)[1]), \
        f"no claim in 40: the interval still has width: {(low, high)}"
    wide = loss_report.rate(20, 40)
    assert wide["conclusive"] is False and wide["reason"] == "interval_too_wide", \
        f"40 assets with half of them claimed: the interval is wider than 100 per 1,000: {wide}"


# --- the route over HTTP ---------------------------------------------------------------------------

def test_the_route_answers_managers_refuses_adjusters_and_its_csv_matches_the_json(api_server, pg_clean_url):
    api = api_server(pg_clean_url)
    book = build_book(pg_clean_url)
    manager = api.as_user(make_user(pg_clean_url, "manager", "Max Manager"))
    adjuster = api.as_user(make_user(pg_clean_url, "adjuster", "Ada Adjuster"))

    answer = manager.get(f"/v1/cat-events/{book.event_id}/loss-report")
    assert answer.status_code == 200, f"a manager reads the report: {answer.status_code} {answer.text[:300]}"
    report = answer.json()
    assert _row(report, "vehicle")["warned"]["claims_per_1000"]["per_1000"] == 50.0, "the JSON holds the figures"

    refused = adjuster.get(f"/v1/cat-events/{book.event_id}/loss-report")
    assert refused.status_code == 403, f"an adjuster may not read it: {refused.status_code}"
    assert refused.json()["error"]["code"] == "forbidden", f"{refused.text}"
    missing = manager.get("/v1/cat-events/987654/loss-report")
    assert missing.status_code == 404, f"an unknown event is a 404: {missing.status_code} {missing.text}"
    assert missing.json()["error"]["code"] == "not_found", missing.text
    for odd in ("１２", "12abc", "99999999999999999999", "-1"):
        answer = manager.get(f"/v1/cat-events/{odd}/loss-report")
        assert answer.status_code == 404, f"event id {odd!r} names no event: {answer.status_code} {answer.text}"
    admin = api.as_user(make_user(pg_clean_url, "admin", "Ops Admin"))
    assert admin.get(f"/v1/cat-events/{book.event_id}/loss-report").status_code == 200, "admins read it too"
    customer = api.as_user(make_user(pg_clean_url, "customer", "A Customer", "LR-C00001"))
    assert customer.get(f"/v1/cat-events/{book.event_id}/loss-report").status_code == 403, "customers may not"
    bad = manager.get(f"/v1/cat-events/{book.event_id}/loss-report?format=pdf")
    assert bad.status_code == 400, f"an unknown format is a 400: {bad.status_code} {bad.text}"
    assert bad.json()["error"]["field"] == "format", f"the error names the field: {bad.text}"

    exported = manager.get(f"/v1/cat-events/{book.event_id}/loss-report?format=csv")
    assert exported.status_code == 200, f"CSV export: {exported.status_code}"
    assert exported.headers["Content-Type"].startswith("text/csv"), exported.headers["Content-Type"]
    assert "loss-report-CAT-2026-0725-TEST.csv" in exported.headers["Content-Disposition"], \
        f"the file is named after the event: {exported.headers['Content-Disposition']}"
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2 * len(report["kinds"]), f"one row per kind and group: {len(rows)}"
    for row in rows:
        figures = _row(report, row["kind"])[row["group"]]
        assert int(row["assets"]) == figures["assets"], f"CSV {row['kind']}/{row['group']} assets differ"
        assert int(row["claimed_assets"]) == figures["claimed_assets"], f"CSV {row['kind']}/{row['group']} claims"
        assert row["claims_per_1000"] == ("" if figures["claims_per_1000"]["per_1000"] is None
                                          else str(figures["claims_per_1000"]["per_1000"])), \
            f"CSV {row['kind']}/{row['group']} rate {row['claims_per_1000']}"
        assert row["claims_conclusive"] == str(figures["claims_per_1000"]["conclusive"]).lower(), \
            f"CSV {row['kind']}/{row['group']} says whether it is conclusive"
        assert row["average_estimate_cny"] == (figures["average_estimate"]["amount"] or ""), \
            f"CSV {row['kind']}/{row['group']} average estimate"
    by_accept = manager.get(f"/v1/cat-events/{book.event_id}/loss-report", headers={"Accept": "text/csv"})
    assert by_accept.headers["Content-Type"].startswith("text/csv"), "Accept: text/csv gives the CSV too"
    assert by_accept.text.splitlines()[1:] == exported.text.splitlines()[1:], "the same CSV either way"
