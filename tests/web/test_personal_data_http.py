"""Phone numbers on a need-to-know basis, over real HTTP on PostgreSQL: the outbox is for admins, claims
staff see masked numbers, a dispatcher sees the numbers of the trucks and of a customer whose rescue is live."""

import pytest

from tests.greenchannel.conftest import PLACES, seed_book
from tests.support import make_user

ALICE_PHONE, ALICE_MASKED = "+8617000000001", "+86 170****0001"  # seed_book's number for C0000001
TRUCK_PHONE, TRUCK_MASKED = "+8613812345678", "+86 138****5678"
CLAIMS_STAFF = ("ann", "sup", "mgr")
ZHOUSHAN_SQUARE = {"type": "Polygon", "coordinates": [[[121.9, 29.7], [122.5, 29.7], [122.5, 30.3], [121.9, 30.3],
                                                       [121.9, 29.7]]]}


@pytest.fixture
def api(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    server = api_server(pg_clean_url)
    keys = {name: make_user(pg_clean_url, role, name, customer) for name, role, customer in [
        ("dee", "dispatcher", None), ("ann", "adjuster", None), ("sup", "supervisor", None),
        ("mgr", "manager", None), ("root", "admin", None), ("alice", "customer", "C0000001"),
        ("carol", "customer", "C0000003")]}
    return {name: server.as_user(key) for name, key in keys.items()}


def _ok(response, what):
    assert response.status_code in (200, 201), f"{what}: {response.status_code} {response.text}"
    return response.json()


def _live_rescue(api):
    event = api["sup"].post("/v1/cat-events", json={
        "code": "CAT-2021-0725-INFA", "hazard": "typhoon", "area": ZHOUSHAN_SQUARE,
        "window_start": "2021-07-24T00:00:00+08:00", "window_end": "2021-07-30T00:00:00+08:00"})
    _ok(event, "declaring the CAT event")
    lon, lat = PLACES["zhoushan"]
    provider = _ok(api["dee"].post("/v1/rescue/providers", json={
        "name": "舟山平板1号", "kind": "flatbed", "capacity": 2, "phone": TRUCK_PHONE,
        "location": {"lon": lon + 0.01, "lat": lat}}), "registering the truck")
    claim = _ok(api["alice"].post("/v1/claims", json={"asset_id": "A00000001", "vehicle_in_water": True,
                                                      "loss_at": "2021-07-25T14:10:00+08:00"}), "filing")
    job = _ok(api["alice"].post("/v1/rescue/jobs", json={"claim_id": claim["id"]}), "asking for a rescue")
    _ok(api["dee"].post(f"/v1/rescue/jobs/{job['id']}/status", json={"status": "accepted", "eta_minutes": 20}),
        "the truck accepting")
    return claim, job, provider


def test_the_outbox_is_for_admins_only(api):
    _live_rescue(api)
    for name in ("dee", "ann", "sup", "mgr", "alice"):
        answer = api[name].get("/v1/outbox")
        assert answer.status_code == 403, f"{name} must not read every customer's texts: {answer.status_code}"
        assert ALICE_PHONE not in answer.text, f"{name} got a phone number in the refusal"
    messages = _ok(api["root"].get("/v1/outbox"), "the admin's outbox")["messages"]
    assert [m["recipient"] for m in messages] == [ALICE_PHONE], f"the admin sees the rescue SMS in full: {messages}"


def test_claims_staff_see_masked_phones_and_a_dispatcher_sees_them_while_the_rescue_is_live(api):
    claim, job, provider = _live_rescue(api)
    path = f"/v1/rescue/jobs/{job['id']}"

    seen = _ok(api["dee"].get(path), "the dispatcher's job view")
    assert (seen["customer_phone"], seen["provider"]["phone"]) == (ALICE_PHONE, TRUCK_PHONE), \
        f"the dispatcher calls the customer and the truck during a live rescue: {seen}"
    for name in CLAIMS_STAFF:
        for answer in (api[name].get(path), api[name].get("/v1/rescue/jobs"), api[name].get("/v1/rescue/providers"),
                       api[name].get(f"/v1/claims/{claim['id']}"), api[name].get("/v1/claims")):
            assert answer.status_code == 200, f"{name} {answer.url}: {answer.text}"
            for full in (ALICE_PHONE, TRUCK_PHONE, ALICE_PHONE[1:], TRUCK_PHONE[3:]):
                assert full not in answer.text, f"{name} sees {full} in full at {answer.url}"
        masked = _ok(api[name].get(path), f"{name}'s job view")
        assert (masked["customer_phone"], masked["provider"]["phone"]) == (ALICE_MASKED, TRUCK_MASKED), masked
        listed = _ok(api[name].get("/v1/rescue/providers"), f"{name}'s provider list")["providers"]
        assert [p["phone"] for p in listed] == [TRUCK_MASKED], listed

    root = _ok(api["root"].get(path), "the admin's job view")
    assert (root["customer_phone"], root["provider"]["phone"]) == (ALICE_PHONE, TRUCK_PHONE), root
    own = _ok(api["alice"].get(path), "the customer's own job")
    assert (own["customer_phone"], own["provider"]["phone"]) == (ALICE_PHONE, TRUCK_PHONE), \
        f"the customer sees their own number and their truck's: {own}"
    assert api["carol"].get(path).status_code == 404, "another customer never sees this job"

    for status in ("en_route", "on_scene", "towing", "completed"):
        _ok(api["dee"].post(f"{path}/status", json={"status": status}), f"moving the job to {status}")
    done = _ok(api["dee"].get(path), "the dispatcher's view of the completed job")
    assert done["customer_phone"] == ALICE_MASKED, \
        f"once the rescue is over, the dispatcher no longer needs the customer's number: {done['customer_phone']}"
    assert done["provider"]["phone"] == TRUCK_PHONE, "the dispatcher still calls the trucks"
    board = _ok(api["dee"].get("/v1/rescue/jobs"), "the dispatcher's job list")["jobs"]
    assert [j["customer_phone"] for j in board] == [ALICE_MASKED], board


def test_the_operations_map_masks_the_trucks_numbers_for_claims_staff(api):
    _live_rescue(api)
    for name, expected in (("sup", TRUCK_MASKED), ("mgr", TRUCK_MASKED), ("dee", TRUCK_PHONE), ("root", TRUCK_PHONE)):
        answer = api[name].get("/v1/console/map")
        assert answer.status_code == 200, f"{name}: {answer.text[:300]}"
        phones = [p["phone"] for p in answer.json()["providers"]]
        assert phones == [expected], f"{name} sees the truck's number as {phones}, expected {expected}"
        assert ALICE_PHONE not in answer.text, f"the map never carries a customer's number ({name})"
