"""Whom a customer's Call button dials, over real HTTP on PostgreSQL: the hotline (adjuster null) until an
adjuster leases the claim, then that adjuster's work number; the last one who moved the stage once the
lease is given back; null again when the one handling it has no number. Another customer's claim is 404."""

from __future__ import annotations

import pytest

from store.db import session_scope
from store.types import utcnow
from store.users import create_user
from tests.greenchannel.conftest import seed_book
from tests.support import make_user

ALICE, CAROL = "C0000001", "C0000003"  # seed_book's customers; Alice has a car
LI_PHONE = "+8613900000011"  # fictitious, like the demo staff numbers


def staff_with_phone(url: str, role: str, name: str, phone: str | None) -> str:
    with session_scope(url) as session:
        _, key = create_user(session, role, name, phone=phone)
    return key


@pytest.fixture
def people(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    api = api_server(pg_clean_url)
    return {
        "alice": api.as_user(make_user(pg_clean_url, "customer", "Alice", customer_id=ALICE)),
        "carol": api.as_user(make_user(pg_clean_url, "customer", "Carol", customer_id=CAROL)),
        "li": api.as_user(staff_with_phone(pg_clean_url, "adjuster", "Li", LI_PHONE)),
        "bo": api.as_user(staff_with_phone(pg_clean_url, "adjuster", "Bo", None)),
    }


def adjuster_seen_by(person, claim_id: int):
    answer = person.get(f"/v1/claims/{claim_id}")
    assert answer.status_code == 200, f"the customer cannot read their own claim: {answer.status_code} {answer.text}"
    body = answer.json()
    assert "adjuster" in body, f"the customer's claim view has no adjuster field: {sorted(body)}"
    return body["adjuster"]


def ok(response, what: str) -> dict:
    assert response.status_code == 200, f"{what} failed: {response.status_code} {response.text}"
    return response.json()


def test_the_customer_sees_the_adjuster_holding_their_claim_and_the_hotline_otherwise(people):
    alice, carol, li, bo = people["alice"], people["carol"], people["li"], people["bo"]
    filed = alice.post("/v1/claims", json={"asset_id": "A00000001", "loss_at": utcnow().isoformat(),
                                           "description": "flooded in the car park"})
    assert filed.status_code == 201, filed.text
    claim_id = filed.json()["id"]
    assert filed.json()["adjuster"] is None, f"a claim nobody works on names an adjuster: {filed.json()['adjuster']}"
    assert adjuster_seen_by(alice, claim_id) is None, "before any lease the page should fall back to the hotline"

    ok(li.post(f"/v1/claims/{claim_id}/lease", json={}), "Li leasing the claim")
    assert adjuster_seen_by(alice, claim_id) == {"name": "Li", "phone": LI_PHONE}, \
        "once Li leased the claim, the customer should be able to call Li"
    refused = carol.get(f"/v1/claims/{claim_id}")
    assert refused.status_code == 404, f"another customer reached Alice's claim: {refused.status_code} {refused.text}"
    assert LI_PHONE not in refused.text, "a 404 for another customer leaked the adjuster's number"

    ok(li.post(f"/v1/claims/{claim_id}/transition", json={"to": "surveyed"}), "Li moving the claim to surveyed")
    ok(li.post(f"/v1/claims/{claim_id}/release"), "Li giving the claim back")
    assert adjuster_seen_by(alice, claim_id) == {"name": "Li", "phone": LI_PHONE}, \
        "after Li gave the lease back, Li (who moved the stage last) should still be the one to call"

    ok(bo.post(f"/v1/claims/{claim_id}/lease", json={}), "Bo leasing the claim")
    assert adjuster_seen_by(alice, claim_id) is None, \
        "Bo holds the claim and has no work number: the page should fall back to the hotline"
