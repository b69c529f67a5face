"""The customer-only endpoints over real HTTP on PostgreSQL: a customer's own assets and nobody else's,
the page's settings, complaints with their 24-hour answer clock for supervisors, and hostile input
refused with a 4xx naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from store.types import utcnow
from tests.greenchannel.conftest import seed_book
from tests.support import make_user

ALICE, CAROL = "C0000001", "C0000003"  # seed_book's customers; Alice has a car and a factory


@pytest.fixture
def people(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    api = api_server(pg_clean_url)
    return {
        "alice": api.as_user(make_user(pg_clean_url, "customer", "Alice", customer_id=ALICE)),
        "carol": api.as_user(make_user(pg_clean_url, "customer", "Carol", customer_id=CAROL)),
        "adjuster": api.as_user(make_user(pg_clean_url, "adjuster", "Ada")),
        "supervisor": api.as_user(make_user(pg_clean_url, "supervisor", "Sam")),
    }


def refusal(response, status: int, field: str | None) -> None:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    error = response.json()["error"]
    assert error["field"] == field, f"the refusal names {error['field']!r}, not {field!r}: {error}"


def test_a_customer_sees_only_their_own_assets_and_the_page_settings(people):
    mine = people["alice"].get("/v1/customer/assets")
    assert mine.status_code == 200, mine.text
    assets = {a["asset_id"]: a for a in mine.json()["assets"]}
    assert set(assets) == {"A00000001", "A00000006"}, f"Alice's assets: {sorted(assets)}"
    assert assets["A00000001"]["kind"] == "vehicle", f"the car's kind: {assets['A00000001']}"
    assert set(assets["A00000006"]["location"]) == {"lon", "lat"}, "an asset's location is not lon/lat"
    theirs = people["carol"].get("/v1/customer/assets").json()["assets"]
    assert {a["asset_id"] for a in theirs} == {"A00000003", "A00000007"}, f"Carol's assets: {theirs}"
    refusal(people["adjuster"].get("/v1/customer/assets"), 403, None)

    settings = people["alice"].get("/v1/customer/settings").json()
    assert settings["hotline"] == "400-000-0000", f"hotline: {settings}"
    assert settings["upload_limit_bytes"] == 5 * 1024 * 1024, f"upload limit: {settings}"
    assert {"image/jpeg", "application/pdf"} <= set(settings["upload_types"]), f"upload types: {settings}"


def test_a_complaint_gets_a_24_hour_answer_clock_and_reaches_supervisors(people):
    alice = people["alice"]
    filed = alice.post("/v1/claims", json={"asset_id": "A00000001", "loss_at": utcnow().isoformat(),
                                           "description": "flooded in the car park"})
    assert filed.status_code == 201, filed.text
    claim_id = filed.json()["id"]
    before = utcnow()
    answer = alice.post("/v1/customer/complaints", json={"text": "  Nobody called me back.  ", "claim_id": claim_id})
    assert answer.status_code == 201, answer.text
    complaint = answer.json()
    assert complaint["text"] == "Nobody called me back.", f"the text was not kept as written: {complaint}"
    due = datetime.fromisoformat(complaint["answer_due_at"])
    assert timedelta(hours=23, minutes=59) < due - before < timedelta(hours=24, minutes=1), f"answer clock: {due}"
    assert complaint["overdue"] is False, "a fresh complaint is overdue"

    listed = people["supervisor"].get("/v1/complaints")
    assert listed.status_code == 200, listed.text
    rows = listed.json()["complaints"]
    assert [(c["customer_id"], c["claim_id"]) for c in rows] == [(ALICE, claim_id)], f"supervisor's list: {rows}"
    refusal(people["adjuster"].get("/v1/complaints"), 403, None)
    refusal(alice.get("/v1/complaints"), 403, None)
    refusal(people["supervisor"].get("/v1/complaints?limit=0"), 400, "limit")


def test_complaints_refuse_hostile_or_misplaced_input_naming_the_field(people):
    alice, carol = people["alice"], people["carol"]
    refusal(alice.post("/v1/customer/complaints", json={}), 400, "text")
    refusal(alice.post("/v1/customer/complaints", json={"text": "   "}), 400, "text")
    refusal(alice.post("/v1/customer/complaints", json={"text": "x" * 1001}), 400, "text")
    refusal(alice.post("/v1/customer/complaints", json={"text": ["not", "text"]}), 400, "text")
    refusal(alice.post("/v1/customer/complaints", json={"text": "late", "claim_id": "one"}), 400, "claim_id")
    refusal(alice.post("/v1/customer/complaints", data="{not json", headers={"Content-Type": "application/json"}),
            400, None)
    filed = carol.post("/v1/claims", json={"asset_id": "A00000003", "loss_at": utcnow().isoformat()})
    assert filed.status_code == 201, filed.text
    # Someone else's claim is "not found", exactly like a claim that does not exist.
    refusal(alice.post("/v1/customer/complaints", json={"text": "late", "claim_id": filed.json()["id"]}), 404, None)
    refusal(alice.post("/v1/customer/complaints", json={"text": "late", "claim_id": 999999}), 404, None)
    refusal(people["adjuster"].post("/v1/customer/complaints", json={"text": "late"}), 403, None)
    assert people["supervisor"].get("/v1/complaints").json()["complaints"] == [], "a refused complaint was stored"
