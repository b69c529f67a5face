"""The fast-track queue and the approvals over real HTTP on PostgreSQL: claims waiting on the customer in
their own tab and never above workable ones, "take next" saying why nothing is workable, search by claim,
name, phone and asset, pages; "remind customer" once a day under concurrent clicks; paying without the ID
card or bank account only with an audited override; rejecting only with a reason."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from store.db import session_scope
from store.models import AuditEvent, Notification
from tests.greenchannel.conftest import seed_book
from tests.support import make_user, wait_until


@pytest.fixture
def api(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    server = api_server(pg_clean_url)
    keys = {name: make_user(pg_clean_url, role, name, None) for name, role in [
        ("ann", "adjuster"), ("ben", "adjuster"), ("sup", "supervisor"), ("mgr", "manager"), ("root", "admin")]}
    api = {name: server.as_user(key) for name, key in keys.items()}
    api["url"] = pg_clean_url
    return api


def _file(api, asset, **flags):
    filed = api["ann"].post("/v1/claims", json={"asset_id": asset, "loss_at": "2021-07-25T14:10:00+08:00",
                                                 "description": "车被水淹", **flags})
    assert filed.status_code == 201, f"filing a claim on {asset} failed: {filed.text}"
    return filed.json()["id"]


def _waiting_on_customer(api, asset, **flags):
    """A claim assessed with an estimate whose documents are all still missing."""
    claim_id = _file(api, asset, **flags)
    for to, extra in (("surveyed", {}), ("assessed", {"estimate": "80000.00"})):
        moved = api["ann"].post(f"/v1/claims/{claim_id}/transition", json={"to": to, **extra})
        assert moved.status_code == 200, f"moving claim {claim_id} to {to} failed: {moved.text}"
    return claim_id


def _error(response, status):
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    return response.json()["error"]


def test_claims_waiting_on_the_customer_have_their_own_tab_and_take_next_says_why(api):
    workable = [_file(api, "A00000003"), _file(api, "A00000004")]
    # A person trapped would top the queue; its documents are missing, so it waits on the customer.
    waiting = _waiting_on_customer(api, "A00000001", person_trapped=True)

    everything = api["ann"].get("/v1/queue").json()
    assert [e["claim_id"] for e in everything["queue"]][-1] == waiting, \
        "a claim waiting on the customer sits above workable claims in the full listing"
    assert everything["counts"] == {"workable": 2, "waiting_on_customer": 1}, \
        f"the tab counts are wrong: {everything['counts']}"
    tab = api["ann"].get("/v1/queue?tab=workable").json()
    assert sorted(e["claim_id"] for e in tab["queue"]) == sorted(workable), \
        "the workable tab holds something else than the workable claims"
    assert tab["total"] == 2, f"the workable tab's total is {tab['total']}, not 2"
    other = api["ann"].get("/v1/queue?tab=waiting_on_customer").json()["queue"]
    assert [e["claim_id"] for e in other] == [waiting], "the waiting tab does not hold exactly the waiting claim"
    assert other[0]["waiting_on"] == "customer", "the waiting claim does not say it waits on the customer"
    assert {"photos", "id", "bank_account"} <= set(other[0]["missing_documents"]), \
        f"the waiting claim lists the wrong missing documents: {other[0]['missing_documents']}"
    assert {"code": "person_trapped"} in other[0]["why_first"], "the why-first facts lost the trapped person"
    assert other[0]["customer_phone"] == "+86 170****0001", \
        f"an adjuster sees the customer's phone unmasked: {other[0]['customer_phone']}"

    taken = [api[who].post("/v1/queue/next", json={}).json()["claim"]["id"] for who in ("ann", "ben")]
    assert sorted(taken) == sorted(workable), f"take next leased {taken}, not the two workable claims"
    nothing = api["sup"].post("/v1/queue/next", json={}).json()
    assert nothing["claim"] is None, "take next leased a claim waiting on the customer"
    assert nothing["nothing_to_take"] == {"open": 3, "waiting_on_customer": 1, "leased": 2}, \
        f"take next does not say why nothing is workable: {nothing}"


def test_search_finds_a_claim_by_id_name_phone_and_asset_and_pages_through(api):
    first = _file(api, "A00000001")
    second = _file(api, "A00000002")
    third = _file(api, "A00000003")

    def found(query):
        answer = api["ann"].get("/v1/queue", params={"q": query})
        assert answer.status_code == 200, f"searching {query!r} failed: {answer.text}"
        return sorted(e["claim_id"] for e in answer.json()["queue"])

    assert found(str(second)) == [second], "searching the claim number does not find that claim alone"
    assert found("customer c0000003") == [third], "searching the customer's name does not find their claim"
    assert found("170 0000 0001") == [first], "searching the phone's digits with spaces does not find the claim"
    assert found("a00000002") == [second], "searching the asset (plate) does not find its claim"
    assert found("100%_") == [], "a search with LIKE wildcards matched claims"
    refused = _error(api["ann"].get("/v1/queue", params={"q": "x" * 101}), 400)
    assert refused["field"] == "q", f"an oversized search is not refused naming q: {refused}"
    nul = _error(api["ann"].get("/v1/queue", params={"q": "王\x00"}), 400)
    assert nul["field"] == "q", f"a search holding a NUL is not refused naming q: {nul}"
    assert _error(api["ann"].get("/v1/queue?tab=everything"), 400)["field"] == "tab", "an unknown tab is not refused"
    pages = [api["ann"].get("/v1/queue", params={"limit": 2, "page": n}).json() for n in (1, 2)]
    assert [len(p["queue"]) for p in pages] == [2, 1], "pages of two do not split three claims into 2 and 1"
    assert {e["claim_id"] for p in pages for e in p["queue"]} == {first, second, third}, \
        "paging lost or repeated a claim"
    assert _error(api["ann"].get("/v1/queue?page=0"), 400)["field"] == "page", "page 0 is not refused naming page"


def test_a_customer_is_reminded_once_a_day_however_many_click_at_once(api):
    claim_id = _waiting_on_customer(api, "A00000003")  # customer C0000003 reads English
    answers: list = [None] * 8

    def remind(index):
        answers[index] = api["ann" if index % 2 else "ben"].post(f"/v1/claims/{claim_id}/remind", json={})

    threads = [threading.Thread(target=remind, args=(i,)) for i in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 7, f"eight clicks at once did not give one reminder: {statuses}"
    refusals = {a.json()["error"]["code"] for a in answers if a.status_code == 409}
    assert refusals == {"already_reminded_today"}, f"the refusals are not 'already reminded today': {refusals}"
    later = api["sup"].post(f"/v1/claims/{claim_id}/remind", json={})
    assert _error(later, 409)["code"] == "already_reminded_today", "a second reminder the same day was sent"

    with session_scope(api["url"]) as session:
        sms = session.scalars(select(Notification).where(Notification.kind == "claim_reminder")).all()
        trail = session.scalars(select(AuditEvent).where(AuditEvent.entity == "claim",
                                                         AuditEvent.action == "customer_reminded")).all()
        bodies = [(m.customer_id, m.recipient, m.body) for m in sms]
    assert len(bodies) == 1, f"{len(bodies)} reminder SMS were saved, not one"
    customer, recipient, body = bodies[0]
    assert (customer, recipient) == ("C0000003", "+8617000000003"), "the reminder went to someone else"
    assert "/c/" in body and all(name in body for name in ("photos of the damage", "ID card", "bank account")), \
        f"the reminder does not name the missing documents in English with a signed link: {body}"
    assert [e.entity_id for e in trail] == [str(claim_id)], "the reminder is not audited once on the claim"
    wait_until(lambda: any("/c/" in m["body"] for m in api["root"].get(
        "/v1/outbox", params={"customer_id": "C0000003"}).json()["messages"]), timeout=20,
        message="the reminder SMS with its signed link in the outbox")
    entry = api["ann"].get("/v1/queue?tab=waiting_on_customer").json()["queue"][0]
    assert entry["last_reminded_at"] is not None, "the queue does not say when the customer was last reminded"

    opted_out = _waiting_on_customer(api, "A00000005")  # C0000005 takes no SMS
    assert _error(api["ann"].post(f"/v1/claims/{opted_out}/remind", json={}), 409)["code"] == "sms_opt_out", \
        "a customer who opted out of SMS was sent a reminder"


def test_paying_without_id_or_bank_document_needs_an_audited_override_and_rejecting_a_reason(api):
    claim_id = _waiting_on_customer(api, "A00000001")
    requested = [api["ann"].post(f"/v1/claims/{claim_id}/payments", headers={"Idempotency-Key": f"adv-{n}"},
                                 json={"amount": "15000.00"}).json() for n in (1, 2)]
    assert [p["state"] for p in requested] == ["pending_approval"] * 2, f"the advances do not wait: {requested}"
    assert api["sup"].get("/v1/approvals/waiting").json() == {"waiting": 2}, "the badge count is not 2"
    card = api["sup"].get("/v1/console/approvals").json()["payments"][0]["claim"]
    assert card["identity_check"] == {"id": False, "bank_account": False}, \
        f"the approval card's identity check is wrong: {card['identity_check']}"
    assert card["customer_name"] == "Customer C0000001" and card["customer_phone"] == "+86 170****0001", \
        "the approval card does not name the payee with a masked phone"

    first, second = (p["id"] for p in requested)
    refused = _error(api["sup"].post(f"/v1/payments/{first}/approve", json={"note": "looks fine"}), 409)
    assert (refused["code"], refused["field"]) == ("documents_missing", "override_reason"), \
        f"paying without ID and bank account was not refused naming override_reason: {refused}"
    assert "id, bank_account" in refused["message"], f"the refusal does not name what is missing: {refused}"
    approved = api["sup"].post(f"/v1/payments/{first}/approve",
                               json={"override_reason": "ID and bank card seen on a video call"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text

    no_reason = _error(api["sup"].post(f"/v1/payments/{second}/reject", json={}), 400)
    assert no_reason["field"] == "reason", f"a rejection without a reason is not refused naming reason: {no_reason}"
    rejected = api["sup"].post(f"/v1/payments/{second}/reject", json={"reason": "duplicate of the first"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected", rejected.text
    assert api["sup"].get("/v1/approvals/waiting").json() == {"waiting": 0}, "the badge still counts decided payments"

    with session_scope(api["url"]) as session:
        overrides = session.scalars(select(AuditEvent).where(AuditEvent.entity == "payment",
                                                             AuditEvent.action == "identity_override")).all()
        trail = [(o.entity_id, o.note, o.data["missing"]) for o in overrides]
        rejection = session.scalars(select(AuditEvent).where(AuditEvent.entity == "payment",
                                                             AuditEvent.action == "rejected")).one()
        rejection_note = rejection.note
    assert trail == [(str(first), "ID and bank card seen on a video call", ["id", "bank_account"])], \
        f"the override is not audited with its reason and what was missing: {trail}"
    assert rejection_note == "duplicate of the first", "the rejection's reason is not in the audit trail"
