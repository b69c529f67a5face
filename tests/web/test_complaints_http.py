"""Answering a complaint over real HTTP on PostgreSQL: who may answer, one answer and one SMS however often
it is sent (two at once included), the customer reading it on their own list, the audit trail, and hostile
input refused with a 4xx naming the field."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from store.db import session_scope
from store.models import AuditEvent, Notification
from store.types import utcnow
from tests.greenchannel.conftest import seed_book
from tests.support import make_user
from tests.web.test_customer_http import people as customer_people  # noqa: F401 - a fixture
from tests.web.test_customer_http import refusal

ANSWER = "Sorry for the wait: your adjuster Li will call you today before 18:00."


@pytest.fixture
def people(customer_people, pg_clean_url):  # noqa: F811 - the fixture imported above
    """The customer endpoints' cast (Alice, Carol, an adjuster, supervisor Sam), and the other staff roles."""
    api = customer_people["alice"]
    more = {role: api.as_user(make_user(pg_clean_url, role, name))
            for role, name in (("dispatcher", "Dee"), ("manager", "Max"), ("admin", "Root"))}
    return {**customer_people, **more}


def complain(customer, text: str, claim_id: int | None = None) -> dict:
    filed = customer.post("/v1/customer/complaints", json={"text": text, "claim_id": claim_id})
    assert filed.status_code == 201, f"filing a complaint: {filed.text}"
    return filed.json()


def answer_sms(database_url: str, complaint_id: int) -> list[Notification]:
    with session_scope(database_url) as session:
        rows = session.query(Notification).filter(Notification.kind == "complaint_answer").all()
        return [row for row in rows if f":complaint-{complaint_id}:" in row.idempotency_key]


def test_a_supervisor_answers_once_and_the_customer_gets_one_sms_and_reads_it(people, pg_clean_url):
    alice = people["alice"]
    filed = alice.post("/v1/claims", json={"asset_id": "A00000001", "loss_at": utcnow().isoformat()})
    assert filed.status_code == 201, filed.text
    claim_id = filed.json()["id"]
    complaint = complain(alice, "Nobody called me back.", claim_id)

    listed = people["supervisor"].get("/v1/complaints").json()["complaints"]
    row = listed[0]
    assert row["customer_phone"] and "****" in row["customer_phone"], f"the phone is not masked: {row}"
    assert row["claim"] == {"stage": "reported", "asset_kind": "vehicle"}, f"the claim it concerns: {row}"
    assert row["state"] == "open", f"a new complaint's state: {row}"

    for role in ("adjuster", "dispatcher", "admin", "alice"):
        refusal(people[role].post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": ANSWER}), 403, None)

    answered = people["supervisor"].post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": f"  {ANSWER} "})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["state"] == "answered", f"the state after answering: {body}"
    assert body["answer"] == ANSWER, f"the stored answer: {body}"
    assert body["answered_by_name"] == "Sam", f"who answered: {body}"
    assert body["sms_saved"] is True, f"the answer SMS was not saved: {body}"

    again = people["supervisor"].post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": ANSWER})
    assert again.status_code == 200, f"the same answer again is not a quiet repeat: {again.text}"
    assert again.json()["sms_saved"] is False, "a repeated answer saved another SMS"
    other = people["manager"].post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": "Something else"})
    refusal(other, 409, None)
    assert other.json()["error"]["code"] == "already_answered", f"the conflict's code: {other.text}"

    messages = answer_sms(pg_clean_url, complaint["id"])
    assert len(messages) == 1, f"answer SMS saved {len(messages)} times"
    assert ANSWER in messages[0].body, f"the SMS does not carry the answer: {messages[0].body!r}"
    assert "/c/" in messages[0].body, f"the SMS does not carry the customer's signed link: {messages[0].body!r}"
    assert messages[0].state != "created", "the answer SMS was saved but never queued"

    mine = alice.get("/v1/customer/complaints")
    assert mine.status_code == 200, mine.text
    assert [(c["state"], c["answer"]) for c in mine.json()["complaints"]] == [("answered", ANSWER)], \
        f"the customer's own list: {mine.json()}"
    assert people["carol"].get("/v1/customer/complaints").json()["complaints"] == [], "Carol sees Alice's complaint"
    refusal(people["supervisor"].get("/v1/customer/complaints"), 403, None)
    assert people["supervisor"].get("/v1/complaints").json()["complaints"] == [], "an answered complaint is still open"
    every = people["supervisor"].get("/v1/complaints?open=false").json()["complaints"]
    assert [c["state"] for c in every] == ["answered"], f"?open=false: {every}"

    with session_scope(pg_clean_url) as session:
        actions = [e.action for e in session.query(AuditEvent).filter(AuditEvent.entity == "complaint")]
    assert actions == ["filed", "answered"], f"the audit trail of the complaint: {actions}"


def test_two_answers_at_once_store_one_answer_and_send_one_sms(people, pg_clean_url):
    complaint = complain(people["alice"], "The truck never came.")
    clients = [people["supervisor"], people["manager"]] * 3

    def answer(client):
        return client.post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": ANSWER})

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(answer, clients))
    assert sorted(r.status_code for r in results) == [200] * len(clients), [r.text for r in results]
    assert sum(r.json()["sms_saved"] for r in results) == 1, "not exactly one answer saved the SMS"
    assert len(answer_sms(pg_clean_url, complaint["id"])) == 1, "two answers at once saved two SMS"


def test_answers_refuse_hostile_input_naming_the_field(people):
    complaint = complain(people["alice"], "Late.")
    supervisor = people["supervisor"]
    where = f"/v1/complaints/{complaint['id']}/answer"
    refusal(supervisor.post(where, json={}), 400, "answer")
    refusal(supervisor.post(where, json={"answer": "   "}), 400, "answer")
    refusal(supervisor.post(where, json={"answer": "x" * 501}), 400, "answer")
    refusal(supervisor.post(where, json={"answer": 42}), 400, "answer")
    refusal(supervisor.post(where, data='{"answer": "late\\u0000"}', headers={"Content-Type": "application/json"}),
            400, "answer")
    refusal(supervisor.post(where, data="{not json", headers={"Content-Type": "application/json"}), 400, None)
    refusal(supervisor.post("/v1/complaints/999999/answer", json={"answer": ANSWER}), 404, None)
    refusal(supervisor.post("/v1/complaints/abc/answer", json={"answer": ANSWER}), 404, None)
    still = supervisor.get("/v1/complaints").json()["complaints"]
    assert [c["state"] for c in still] == ["open"], f"a refused answer changed the complaint: {still}"


def test_one_answer_and_one_sms_on_the_embedded_database_too(api_server, sqlite_url):
    seed_book(sqlite_url)
    api = api_server(sqlite_url)
    complaint = complain(api.as_user(make_user(sqlite_url, "customer", "Alice", customer_id="C0000001")), "Late.")
    supervisor = api.as_user(make_user(sqlite_url, "supervisor", "Sam"))
    answers = [supervisor.post(f"/v1/complaints/{complaint['id']}/answer", json={"answer": ANSWER}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json()["sms_saved"] for a in answers] == [True, False], "not exactly the first answer saved the SMS"
    assert len(answer_sms(sqlite_url, complaint["id"])) == 1, "answering twice on SQLite saved two SMS"
