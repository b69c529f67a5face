"""Money over real HTTP on PostgreSQL: authority counted per claim, the estimate floor, strict amounts,
and what a customer sees of a claim's payments."""

import json
import threading

import pytest

from tests.greenchannel.conftest import seed_book
from tests.support import make_user

STAFF_ONLY_PAYMENT_FIELDS = {"reason", "requested_by", "requester_role", "decided_by", "required_role",
                             "idempotency_key", "gateway_ref", "failure"}


@pytest.fixture
def api(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    server = api_server(pg_clean_url)
    keys = {name: make_user(pg_clean_url, role, name, customer) for name, role, customer in [
        ("ann", "adjuster", None), ("ben", "adjuster", None), ("sup", "supervisor", None),
        ("mgr", "manager", None), ("alice", "customer", "C0000001")]}
    return {name: server.as_user(key) for name, key in keys.items()} | {"anonymous": server}


def _claim(api, estimate="1000000.00", asset="A00000001"):
    filed = api["alice"].post("/v1/claims", json={"asset_id": asset, "loss_at": "2021-07-25T14:10:00+08:00",
                                                   "description": "车被水淹到车门"})
    assert filed.status_code == 201, f"filing the claim failed: {filed.text}"
    claim_id = filed.json()["id"]
    patched = api["ann"].patch(f"/v1/claims/{claim_id}", json={"estimate": estimate})
    assert patched.status_code == 200, f"setting the estimate failed: {patched.text}"
    return claim_id


def _pay(api, who, claim_id, amount, key, **extra):
    return api[who].post(f"/v1/claims/{claim_id}/payments", headers={"Idempotency-Key": key},
                         json={"amount": amount, **extra})


def _error(response, status):
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    return response.json()["error"]


def test_an_adjuster_cannot_split_120000_into_twelve_requests_of_10000(api):
    claim_id = _claim(api)
    answers = [_pay(api, "ann", claim_id, "10000.00", f"split-{i}") for i in range(12)]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    states = [a.json()["state"] for a in answers]
    assert states[0] == "approved", f"the first 10,000 is within the adjuster's authority: {states[0]}"
    assert states[1:] == ["pending_approval"] * 11, f"requests 2-12 must wait for a higher level: {states}"
    roles = [a.json()["required_role"] for a in answers]
    assert roles[1:10] == ["supervisor"] * 9, f"20,000-100,000 in total needs a supervisor: {roles}"
    assert roles[10:] == ["manager"] * 2, f"110,000 and 120,000 in total need a manager: {roles}"

    listed = api["ann"].get(f"/v1/claims/{claim_id}/payments").json()["payments"]
    paid = sum(float(p["amount"]) for p in listed if p["state"] in ("approved", "paid"))
    assert paid == 10000.0, f"only 10,000 may leave without an approver, but {paid} did"
    assert api["alice"].get(f"/v1/claims/{claim_id}").json()["advance_paid"] == "10000.00", \
        "the customer's claim page shows the one advance paid"

    decided = api["sup"].post(f"/v1/payments/{answers[1].json()['id']}/approve",
                              json={"note": "photos seen", "override_reason": "ID and bank card seen on a call"})
    assert decided.status_code == 200 and decided.json()["state"] == "approved", decided.text
    refused = api["sup"].post(f"/v1/payments/{answers[11].json()['id']}/approve")
    assert _error(refused, 403)["code"] == "above_authority", "the 12th request needs a manager"
    own = api["ben"].post(f"/v1/claims/{claim_id}/payments", headers={"Idempotency-Key": "ben-1"},
                          json={"amount": "10000.00"})
    assert own.status_code == 201 and own.json()["state"] == "approved", \
        f"another adjuster's own authority on the claim is untouched: {own.text}"


def test_two_parallel_requests_of_6000_by_one_adjuster_never_both_pass(api):
    for round_number in range(5):
        claim_id = _claim(api, asset="A00000001" if round_number % 2 == 0 else "A00000006")
        barrier, answers = threading.Barrier(2), [None, None]

        def send(index, claim_id=claim_id, round_number=round_number, barrier=barrier, answers=answers):
            barrier.wait()
            answers[index] = _pay(api, "ann", claim_id, "6000.00", f"race-{round_number}-{index}")

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(a is not None and a.status_code == 201 for a in answers), \
            f"round {round_number}: {[a and a.text for a in answers]}"
        states = sorted(a.json()["state"] for a in answers)
        assert states == ["approved", "pending_approval"], \
            f"round {round_number}: 12,000 by one adjuster on one claim, yet the states were {states}"


def test_the_estimate_never_drops_below_paid_plus_pending(api):
    claim_id = _claim(api, "200000.00")
    big = _pay(api, "ann", claim_id, "50000.00", "big")
    assert big.json()["state"] == "pending_approval", big.text
    assert api["sup"].post(f"/v1/payments/{big.json()['id']}/approve",
                           json={"override_reason": "ID and bank card seen on a call"}).status_code == 200
    waiting = _pay(api, "ann", claim_id, "20000.00", "waiting")
    assert waiting.json()["state"] == "pending_approval", waiting.text

    lowered = api["ann"].patch(f"/v1/claims/{claim_id}", json={"estimate": "1000.00"})
    error = _error(lowered, 409)
    assert error["field"] == "estimate" and error["code"] == "estimate_below_payments", error
    for figure in ("1,000.00", "50,000.00", "20,000.00", "70,000.00"):
        assert figure in error["message"], f"the refusal says why, with {figure}: {error['message']}"
    claim = api["ann"].get(f"/v1/claims/{claim_id}").json()
    assert claim["estimate"] == "200000.00", f"the refused change left the estimate alone: {claim['estimate']}"

    assert api["ann"].patch(f"/v1/claims/{claim_id}", json={"estimate": "70000.00"}).status_code == 200, \
        "an estimate equal to paid + pending is allowed"
    assert api["ann"].post(f"/v1/claims/{claim_id}/transition", json={"to": "surveyed"}).status_code == 200
    moved = api["ann"].post(f"/v1/claims/{claim_id}/transition", json={"to": "assessed", "estimate": "69999.99"})
    assert _error(moved, 409)["field"] == "estimate", "a transition cannot lower the estimate below either"
    rejected = api["sup"].post(f"/v1/payments/{waiting.json()['id']}/reject", json={"reason": "duplicate"})
    assert rejected.status_code == 200, rejected.text
    moved = api["ann"].post(f"/v1/claims/{claim_id}/transition", json={"to": "assessed", "estimate": "50000.00"})
    assert moved.status_code == 200 and moved.json()["estimate"] == "50000.00", \
        f"a rejected payment no longer holds the estimate up: {moved.text}"


BAD_AMOUNTS = ["99999999999999999999999999999.00", "1e400", "1_000", "１００", " 100 ", "-5", "NaN", "Infinity",
               "", "100000000000.00", "5000.001", "0", "1,000", "0x10", "+5", "5.", True, [], {}, -5, 0]
RAW_BAD_NUMBERS = ["1e999", "1e400", "-1e999", "1e-999", "12.345", "1" + "0" * 5000, "99999999999999999999999999999.00"]


def _claim_ready_for_assessment(api):
    claim_id = _claim(api, "100000.00")
    assert api["ann"].post(f"/v1/claims/{claim_id}/transition", json={"to": "surveyed"}).status_code == 200
    return claim_id


def _entries(api, claim_id):
    """Every place an amount enters: (description, send(json_text) -> response, field)."""
    headers = {"Content-Type": "application/json"}
    return [
        ("payment", lambda body: api["ann"].post(f"/v1/claims/{claim_id}/payments", data=body,
                                                 headers={**headers, "Idempotency-Key": "strict"}), "amount"),
        ("claim estimate", lambda body: api["ann"].post("/v1/claims", data=body, headers=headers), "estimate"),
        ("PATCH estimate", lambda body: api["ann"].patch(f"/v1/claims/{claim_id}", data=body, headers=headers),
         "estimate"),
        ("transition estimate", lambda body: api["ann"].post(f"/v1/claims/{claim_id}/transition", data=body,
                                                             headers=headers), "estimate"),
    ]


def _body(where: str, field: str, value_json: str) -> str:
    extra = {"payment": "", "claim estimate": '"asset_id": "A00000001", "loss_at": "2021-07-25T14:10:00+08:00", ',
             "PATCH estimate": "", "transition estimate": '"to": "assessed", '}[where]
    return "{" + extra + f'"{field}": {value_json}' + "}"


def test_strict_money_everywhere_an_amount_enters(api):
    claim_id = _claim_ready_for_assessment(api)
    for where, send, field in _entries(api, claim_id):
        for value in BAD_AMOUNTS:
            answer = send(_body(where, field, json.dumps(value, ensure_ascii=False)))
            assert answer.status_code == 400, f"{where} {field}={value!r}: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["error"]["field"] == field, f"{where} {field}={value!r} names the field: {answer.text}"
        for number in RAW_BAD_NUMBERS:
            answer = send(_body(where, field, number))
            assert answer.status_code == 400, f"{where} {field}={number[:40]}: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["error"]["field"] == field, f"{where} {field}={number[:40]}: {answer.text[:300]}"
        for literal in ("NaN", "Infinity", "-Infinity"):
            answer = send(_body(where, field, literal))
            assert answer.status_code == 400, f"{where} {field}={literal} (not JSON): {answer.text}"
        if where in ("payment", "PATCH estimate"):
            required = send(_body(where, field, "null"))
            assert _error(required, 400)["field"] == field, f"{where}: null where an amount is required"
    claim = api["ann"].get(f"/v1/claims/{claim_id}").json()
    assert (claim["stage"], claim["estimate"]) == ("surveyed", "100000.00"), \
        f"no refused request changed the claim: {claim['stage']} {claim['estimate']}"
    assert api["ann"].get(f"/v1/claims/{claim_id}/payments").json()["payments"] == [], "no payment was made"


def test_well_formed_amounts_as_strings_and_exact_json_numbers(api):
    claim_id = _claim(api, "100000.00")
    for key, body, expected in [("s", '{"amount": "100"}', "100.00"), ("d", '{"amount": "100.5"}', "100.50"),
                                ("n", '{"amount": 250.25}', "250.25"), ("i", '{"amount": 300}', "300.00"),
                                ("e", '{"amount": 1e2}', "100.00"), ("z", '{"amount": "0012.30"}', "12.30")]:
        answer = api["mgr"].post(f"/v1/claims/{claim_id}/payments", data=body,
                                 headers={"Content-Type": "application/json", "Idempotency-Key": f"ok-{key}"})
        assert answer.status_code == 201, f"{body} is a valid amount: {answer.text}"
        assert answer.json()["amount"] == expected, f"{body} reads as {expected}: {answer.json()['amount']}"
    top = api["mgr"].patch(f"/v1/claims/{claim_id}", json={"estimate": "99999999999.99"})
    assert top.status_code == 200 and top.json()["estimate"] == "99999999999.99", \
        f"the documented upper bound itself is accepted: {top.text}"


def test_a_customer_sees_amounts_states_and_dates_of_payments_but_never_staff_fields(api):
    claim_id = _claim(api)
    made = _pay(api, "ann", claim_id, "30000.00", "app-retry-7f3c", reason="possible fraud, check bank acct")
    assert made.status_code == 201, made.text
    api["sup"].post(f"/v1/payments/{made.json()['id']}/reject", json={"reason": "bank account mismatch"})
    _pay(api, "ann", claim_id, "2000.00", "tow-bill")

    seen = api["alice"].get(f"/v1/claims/{claim_id}/payments")
    assert seen.status_code == 200, seen.text
    payments = seen.json()["payments"]
    assert [(p["amount"], p["state"]) for p in payments] == [("30000.00", "rejected"), ("2000.00", "paid")], payments
    for payment in payments:
        leaked = STAFF_ONLY_PAYMENT_FIELDS & set(payment)
        assert not leaked, f"the customer sees staff-only fields {sorted(leaked)}: {payment}"
        assert payment["created_at"] and "paid_at" in payment and "decided_at" in payment, \
            f"the customer sees the dates: {payment}"
    text = seen.text
    for secret in ("possible fraud", "app-retry-7f3c", "bank account mismatch"):
        assert secret not in text, f"{secret!r} reached the customer"

    staff = api["sup"].get(f"/v1/claims/{claim_id}/payments").json()["payments"]
    assert staff[0]["reason"] == "possible fraud, check bank acct" and staff[0]["idempotency_key"] == "app-retry-7f3c"
    assert set(staff[0]) >= STAFF_ONLY_PAYMENT_FIELDS, f"staff keep the full view: {sorted(staff[0])}"
