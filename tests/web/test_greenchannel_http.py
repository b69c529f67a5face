"""The green channel over real HTTP: roles, JSON errors, uploads, idempotency headers, metrics."""

from datetime import timedelta

import pytest

from greenchannel import claims
from store.users import Principal
from tests.greenchannel.conftest import LANDFALL, PLACES, real_jpeg, seed_book
from tests.support import make_user

ZHOUSHAN_SQUARE = {"type": "Feature", "properties": {"name": "Zhoushan"}, "geometry": {
    "type": "Polygon", "coordinates": [[[121.9, 29.7], [122.5, 29.7], [122.5, 30.3], [121.9, 30.3], [121.9, 29.7]]]}}


@pytest.fixture
def api(api_server, sqlite_url):
    seed_book(sqlite_url)
    server = api_server(sqlite_url, HAVEN_MAX_BODY_BYTES=64 * 1024)
    keys = {name: make_user(sqlite_url, role, name, customer) for name, role, customer in [
        ("sup", "supervisor", None), ("mgr", "manager", None), ("ann", "adjuster", None),
        ("ben", "adjuster", None), ("dee", "dispatcher", None), ("alice", "customer", "C0000001"),
        ("carol", "customer", "C0000003"), ("root", "admin", None)]}
    return {name: server.as_user(key) for name, key in keys.items()} | {"anonymous": server, "url": sqlite_url}


def _error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def _open_event(api):
    response = api["sup"].post("/v1/cat-events", json={
        "code": "CAT-2021-0725-INFA", "hazard": "typhoon", "area": ZHOUSHAN_SQUARE,
        "window_start": "2021-07-24T00:00:00+08:00", "window_end": "2021-07-30T00:00:00+08:00"})
    assert response.status_code == 201, response.text
    return response.json()


def _file(api, who="alice", asset="A00000001", key=None, **flags):
    headers = {"Idempotency-Key": key} if key else {}
    return api[who].post("/v1/claims", headers=headers, json={
        "asset_id": asset, "loss_at": "2021-07-25T14:10:00+08:00", "description": "车被水淹到车门", **flags})


def test_cat_events_and_claims_over_http(api):
    event = _open_event(api)
    assert event["status"] == "open", 'expected event["status"] == "open"'
    assert event["area"]["type"] == "MultiPolygon", 'expected event["area"]["type"] == "MultiPolygon"'
    assert _error(api["sup"].post("/v1/cat-events", json={"code": "CAT-2021-0725-INFA", "hazard": "typhoon",
                                                           "area": ZHOUSHAN_SQUARE,
                                                           "window_start": "2021-07-24T00:00:00+08:00"}),
                  409)["code"] == "duplicate_code"
    assert _error(api["sup"].post("/v1/cat-events", json={"code": "CAT-2021-0725-X", "hazard": "typhoon",
                                                           "area": ZHOUSHAN_SQUARE, "window_start": "2021-07-24"}),
                  400)["field"] == "window_start"
    assert _error(api["ann"].post("/v1/cat-events", json={}), 403)["code"] == "forbidden"
    assert [e["code"] for e in api["dee"].get("/v1/cat-events?area=false").json()["cat_events"]] == [event["code"]]

    filed = _file(api, key="app-3f9c", vehicle_in_water=True, flood_depth_level="L4")
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    assert claim["fast_track"], 'expected claim["fast_track"]'
    assert claim["cat_code"] == "CAT-2021-0725-INFA", 'expected claim["cat_code"] == "CAT-2021-0725-INFA"'
    assert claim["documents"]["missing"] == ["photos", "id", "bank_account"]
    assert [s["stage"] for s in claim["stages"]] == list(claims.STAGES), \
        'expected [s["stage"] for s in claim["stages"]] == list(claims.STAGES)'
    assert claim["stages"][0]["reached_at"], 'expected claim["stages"][0]["reached_at"]'
    retried = _file(api, key="app-3f9c", vehicle_in_water=True, flood_depth_level="L4")
    assert retried.status_code == 200, 'expected retried.status_code == 200'
    assert retried.json()["id"] == claim["id"], 'expected retried.json()["id"] == claim["id"]'
    assert _error(_file(api, asset="A00000002"), 422)["field"] == "asset_id"
    assert _error(_file(api, flood_depth_level="L9"), 400)["field"] == "flood_depth_level"
    assert _error(api["carol"].get(f"/v1/claims/{claim['id']}"), 404)["code"] == "not_found"
    assert [c["id"] for c in api["alice"].get("/v1/claims").json()["claims"]] == [claim["id"]]
    assert api["carol"].get("/v1/claims").json()["claims"] == []

    closed = api["sup"].post(f"/v1/cat-events/{event['id']}/close", json={"note": "water receding"})
    assert closed.status_code == 200, 'expected closed.status_code == 200'
    assert closed.json()["status"] == "closed", 'expected closed.json()["status"] == "closed"'
    assert _file(api, asset="A00000001").json()["fast_track"] is False
    assert api["alice"].get(f"/v1/claims/{claim['id']}").json()["cat_code"] == "CAT-2021-0725-INFA"


def test_documents_are_uploaded_by_multipart_with_type_and_size_checks(api):
    _open_event(api)
    claim = _file(api, vehicle_in_water=True).json()
    path = f"/v1/claims/{claim['id']}/documents"
    uploaded = api["alice"].post(path, data={"kind": "photos"},
                                 files={"file": ("IMG_0412.JPG", real_jpeg(), "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert body["content_type"] == "image/jpeg", 'expected body["content_type"] == "image/jpeg"'
    assert body["size"] == len(real_jpeg()), 'expected body["size"] == len(real_jpeg())'
    import hashlib

    assert body["sha256"] == hashlib.sha256(real_jpeg()).hexdigest()
    not_a_photo = api["alice"].post(path, data={"kind": "id"},
                                    files={"file": ("id.jpg", b"MZ\x90\x00 not an image", "image/jpeg")})
    assert _error(not_a_photo, 422)["code"] == "unsupported_type"
    too_big = api["alice"].post(path, data={"kind": "id"},
                                files={"file": ("scan.pdf", b"%PDF-1.7\n" + b"0" * 70_000, "application/pdf")})
    assert _error(too_big, 413)["code"] == "file_too_large"
    assert _error(api["alice"].post(path, data={"kind": "selfie"},
                                    files={"file": ("a.jpg", real_jpeg(), "image/jpeg")}), 400)["field"] == "kind"
    assert _error(api["carol"].post(path, data={"kind": "id"},
                                    files={"file": ("a.jpg", real_jpeg(), "image/jpeg")}), 404)["code"] == "not_found"
    view = api["alice"].get(f"/v1/claims/{claim['id']}").json()
    assert view["documents"]["missing"] == ["id", "bank_account"]


def test_the_queue_leases_and_transitions_over_http(api):
    _open_event(api)
    first = _file(api, person_trapped=True).json()
    second = _file(api, who="carol", asset="A00000003").json()  # Jiaxing: outside this small area
    queue = api["ann"].get("/v1/queue").json()["queue"]
    assert [q["claim_id"] for q in queue] == [first["id"], second["id"]]
    assert queue[0]["reasons"][:2] == ["green channel CAT-2021-0725-INFA", "person trapped"]
    assert queue[0]["sla"]["clock"] == "first_contact"
    assert api["ann"].post("/v1/queue/next").json()["claim"]["id"] == first["id"]
    nothing = api["ben"].post("/v1/queue/next", json={"fast_track_only": True}).json()
    assert nothing["claim"] is None and nothing["nothing_to_take"]["leased"] == 1, \
        f"take next does not say the only green-channel claim is held: {nothing}"
    leased = _error(api["ben"].post(f"/v1/claims/{first['id']}/transition", json={"to": "surveyed"}), 409)
    assert leased["code"] == "leased"
    skip = _error(api["ann"].post(f"/v1/claims/{first['id']}/transition", json={"to": "assessed"}), 409)
    assert skip["code"] == "illegal_transition", 'expected skip["code"] == "illegal_transition"'
    assert "next stage is surveyed" in skip["message"], 'expected "next stage is surveyed" in skip["message"]'
    assert _error(api["ann"].post(f"/v1/claims/{first['id']}/transition", json={"to": "paid"}), 400)["field"] == "to"
    moved = api["ann"].post(f"/v1/claims/{first['id']}/transition", json={"to": "surveyed", "note": "on site"})
    assert moved.status_code == 200, 'expected moved.status_code == 200'
    assert moved.json()["history"][-1]["note"] == "on site", 'expected moved.json()["history"][-1]["note"] == "on site"'
    assert api["ann"].post(f"/v1/claims/{first['id']}/release").status_code == 200
    assert _error(api["dee"].post(f"/v1/claims/{first['id']}/transition", json={"to": "assessed"}), 403)
    assert _error(api["alice"].get("/v1/queue"), 403)
    withdrawn = api["carol"].post(f"/v1/claims/{second['id']}/withdraw", json={"reason": "found the keys"})
    assert withdrawn.json()["closed_as"]["state"] == "withdrawn"


def test_payments_over_http_need_a_key_and_decimals_and_follow_authority(api):
    _open_event(api)
    claim = _file(api, vehicle_in_water=True).json()
    api["ann"].patch(f"/v1/claims/{claim['id']}", json={"estimate": "180000.00"})
    path = f"/v1/claims/{claim['id']}/payments"
    assert _error(api["ann"].post(path, json={"amount": "5000.00"}), 400)["field"] == "Idempotency-Key"
    three_places = api["ann"].post(path, headers={"Idempotency-Key": "a1"}, json={"amount": "5000.001"})
    assert _error(three_places, 400)["field"] == "amount"
    assert _error(api["alice"].post(path, headers={"Idempotency-Key": "a1"}, json={"amount": "10"}), 403)
    first = api["ann"].post(path, headers={"Idempotency-Key": "a1"}, json={"amount": 50000.10, "reason": "tow+hotel"})
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == "50000.10", 'expected first.json()["amount"] == "50000.10"'
    assert first.json()["state"] == "pending_approval", 'expected first.json()["state"] == "pending_approval"'
    again = api["ann"].post(path, headers={"Idempotency-Key": "a1"}, json={"amount": "50000.10"})
    assert again.status_code == 200, 'expected again.status_code == 200'
    assert again.headers["Idempotent-Replayed"] == "true", 'expected again.headers["Idempotent-Replayed"] == "true"'
    assert again.json()["id"] == first.json()["id"]
    payment_id = first.json()["id"]
    assert _error(api["ann"].post(f"/v1/payments/{payment_id}/approve"), 403)
    assert _error(api["root"].post(f"/v1/payments/{payment_id}/approve"), 403)["code"] == "above_authority"
    approved = api["sup"].post(f"/v1/payments/{payment_id}/approve",
                               json={"note": "photos checked", "override_reason": "ID seen on a video call"})
    assert approved.status_code == 200, 'expected approved.status_code == 200'
    assert approved.json()["state"] == "approved", 'expected approved.json()["state"] == "approved"'
    assert _error(api["mgr"].post(f"/v1/payments/{payment_id}/reject"), 409)["code"] == "already_decided"
    listed = api["alice"].get(path).json()["payments"]
    assert [(p["amount"], p["state"]) for p in listed] == [("50000.10", "paid")]
    assert api["alice"].get(f"/v1/claims/{claim['id']}").json()["advance_paid"] == "50000.10"
    over = api["sup"].post(path, headers={"Idempotency-Key": "a2"}, json={"amount": "40000.00"})
    assert _error(over, 422)["code"] == "above_advance_ratio"


def test_rescue_over_http_and_the_metrics(api):
    from greenchannel.requests import FirstNotice
    from greenchannel.service import run_unit

    _open_event(api)
    lon, lat = PLACES["zhoushan"]
    provider = api["dee"].post("/v1/rescue/providers", json={
        "name": "舟山平板1号", "kind": "flatbed", "capacity": 2, "phone": "+8658000000001"})
    assert provider.status_code == 201, 'expected provider.status_code == 201'
    assert provider.json()["capabilities"] == ["flatbed", "tow"], \
        'expected provider.json()["capabilities"] == ["flatbed", "tow"]'
    provider_id = provider.json()["id"]
    assert _error(api["dee"].patch(f"/v1/rescue/providers/{provider_id}", json={"location": [300, 0]}),
                  400)["field"] == "location.lon"
    moved = api["dee"].patch(f"/v1/rescue/providers/{provider_id}", json={"location": {"lon": lon + 0.01, "lat": lat}})
    assert moved.json()["location_fresh"] is True
    claim = _file(api, vehicle_in_water=True).json()
    job = api["alice"].post("/v1/rescue/jobs", json={"claim_id": claim["id"]})
    assert job.status_code == 201, 'expected job.status_code == 201'
    assert job.json()["state"] == "offered", 'expected job.json()["state"] == "offered"'
    assert job.json()["needs"] == "flatbed", 'expected job.json()["needs"] == "flatbed"'
    job_id = job.json()["id"]
    assert api["alice"].post("/v1/rescue/jobs", json={"claim_id": claim["id"]}).json()["id"] == job_id
    assert _error(api["alice"].post(f"/v1/rescue/jobs/{job_id}/status", json={"status": "accepted"}), 400)
    accepted = api["dee"].post(f"/v1/rescue/jobs/{job_id}/status", json={"status": "accepted", "eta_minutes": 18})
    assert accepted.status_code == 200, 'expected accepted.status_code == 200'
    assert accepted.json()["eta_minutes"] == 18, 'expected accepted.json()["eta_minutes"] == 18'
    assert api["alice"].get(f"/v1/claims/{claim['id']}").json()["rescue"]["provider"] == "舟山平板1号"
    assert [j["id"] for j in api["dee"].get("/v1/rescue/jobs?state=accepted").json()["jobs"]] == [job_id]

    # A claim filed during the landfall that nobody has called since: its 30-minute clock ran out long ago.
    ann = Principal(api["ann"].get("/v1/me").json()["id"], "ann", "adjuster", None)
    run_unit(claims.file_claim, ann, FirstNotice(asset_id="A00000001", loss_at=LANDFALL + timedelta(hours=1)),
             now=LANDFALL + timedelta(hours=2))
    api["ann"].post(f"/v1/claims/{claim['id']}/payments", headers={"Idempotency-Key": "m1"}, json={"amount": "1"})
    api["ann"].patch(f"/v1/claims/{claim['id']}", json={"estimate": "10000"})
    api["ann"].post(f"/v1/claims/{claim['id']}/payments", headers={"Idempotency-Key": "m2"}, json={"amount": "3000"})
    text = api["anonymous"].get("/metrics").text
    assert 'haven_claims_sla_breached{clock="first_contact"} 1.0' in text
    assert 'haven_queue_depth{track="green_channel"} 2.0' in text
    assert 'haven_rescue_jobs{state="accepted"} 1.0' in text
    assert 'haven_payments{kind="advance",state="paid"} 1.0' in text
    assert 'haven_payments_amount_cny{kind="advance",state="paid"} 3000.0' in text
    assert 'haven_cat_events{status="open"} 1.0' in text
    spec = api["anonymous"].get("/openapi.json").json()["paths"]
    assert {"/v1/cat-events", "/v1/claims/{id}/documents", "/v1/queue/next", "/v1/rescue/jobs/{id}/status",
            "/v1/payments/{id}/approve"} <= set(spec)


def test_hostile_bodies_and_queries_are_refused_naming_the_field(api):
    _open_event(api)
    claim = _file(api).json()
    refusals = [
        ("a list for a body", api["alice"].post("/v1/claims", json=[1, 2]), None),
        ("a number for the asset", _file(api, asset=5), "asset_id"),
        ("a time without offset", api["alice"].post("/v1/claims", json={"asset_id": "A00000001",
                                                                         "loss_at": "2021-07-25T14:10:00"}), "loss_at"),
        ("a word for a location", _file(api, location="Zhoushan"), "location"),
        ("a string for a flag", _file(api, person_trapped="yes"), "person_trapped"),
        ("a field PATCH does not know", api["ann"].patch(f"/v1/claims/{claim['id']}", json={"colour": "red"}),
         "colour"),
        ("a stage that does not exist", api["ann"].post(f"/v1/claims/{claim['id']}/transition",
                                                        json={"to": "paid"}), "to"),
        ("a limit of zero", api["ann"].get("/v1/claims?limit=0"), "limit"),
        ("a job state that does not exist", api["dee"].get("/v1/rescue/jobs?state=flying"), "state"),
        ("a flag that is neither", api["ann"].get("/v1/queue?fast_track=maybe"), "fast_track"),
        ("a kind of truck that does not exist", api["dee"].post("/v1/rescue/providers",
                                                                json={"name": "x", "kind": "car"}), "kind"),
        ("true for a capacity", api["dee"].post("/v1/rescue/providers",
                                                json={"name": "x", "kind": "tow", "capacity": True}), "capacity"),
        ("a payment kind that does not exist", api["ann"].post(f"/v1/claims/{claim['id']}/payments",
                                                               headers={"Idempotency-Key": "h1"},
                                                               json={"amount": "10", "kind": "gift"}), "kind"),
        ("a 5,000-digit eta", api["dee"].post("/v1/rescue/jobs/1/status",
                                              json={"status": "accepted", "eta_minutes": int("9" * 4000)}),
         "eta_minutes"),
    ]
    for what, response, field in refusals:
        assert response.status_code == 400, f"{what}: 400, got {response.status_code} {response.text[:300]}"
        error = response.json()["error"]
        assert error["field"] == field, f"{what}: the error names {field}, got {error}"
        assert error["message"], f"{what}: the error says why"


def test_openapi_describes_what_each_green_channel_operation_takes_and_answers(api):
    spec = api["anonymous"].get("/openapi.json").json()
    green = {path: operations for path, operations in spec["paths"].items()
             if path.startswith(("/v1/cat-events", "/v1/claims", "/v1/queue", "/v1/rescue", "/v1/payments"))
             and not path.endswith("/loss-report")}
    without_json_body = {("post", "/v1/claims/{id}/documents"), ("post", "/v1/claims/{id}/release"),
                         ("post", "/v1/rescue/dispatch")}
    for path, operations in green.items():
        for method, operation in operations.items():
            if method in ("post", "patch") and (method, path) not in without_json_body:
                assert "requestBody" in operation, f"{method} {path} has a request schema"
            answers = {status: answer for status, answer in operation["responses"].items() if status.startswith("2")}
            assert answers, f"{method} {path} lists its 2xx answers"
            for status, answer in answers.items():
                assert "schema" in answer.get("content", {}).get("application/json", {}), \
                    f"{method} {path} {status} has a response schema"
            assert operation["responses"]["401"]["content"], f"{method} {path} gives the error shape for 401"
    listed = {path: {p["name"] for p in green[path]["get"].get("parameters", []) if p["in"] == "query"}
              for path in ("/v1/claims", "/v1/queue", "/v1/rescue/jobs", "/v1/cat-events")}
    assert listed == {"/v1/claims": {"cat_code", "stage", "limit"}, "/v1/queue": {"fast_track", "leased", "tab", "q", "page", "limit"},
                      "/v1/rescue/jobs": {"state", "limit"}, "/v1/cat-events": {"status", "area"}}, listed
    payment = green["/v1/claims/{id}/payments"]["post"]
    key = [p for p in payment["parameters"] if p["in"] == "header"]
    assert key, f"the payment request lists its header: {key}"
    assert key[0]["name"] == "Idempotency-Key", f"the payment request lists its header: {key}"
    assert key[0]["required"] is True, "Idempotency-Key is required for payments"
    schema = spec["components"]["schemas"]["PaymentRequest"]
    assert schema["required"] == ["amount"], f"a payment request needs an amount: {schema}"
    assert spec["components"]["schemas"]["PaymentState"]["enum"] == [
        "requested", "pending_approval", "approved", "paid", "rejected", "failed"], "payment states come from one enum"


def test_the_console_boards_read_the_green_channel(api):
    _open_event(api)
    lon, lat = PLACES["zhoushan"]
    truck = api["dee"].post("/v1/rescue/providers", json={"name": "Flatbed 7", "kind": "flatbed",
                                                           "location": [lon + 0.02, lat]}).json()
    claim = _file(api, vehicle_in_water=True).json()
    job = api["dee"].post("/v1/rescue/jobs", json={"claim_id": claim["id"], "dispatch": False}).json()
    board = api["dee"].get("/v1/console/dispatch")
    assert board.status_code == 200, board.text
    [row] = [j for j in board.json()["jobs"] if j["id"] == job["id"]]
    assert row["state"] == "created", f"the board shows the pending job: {row}"
    nearest = row["nearest_free"]
    assert [n["provider_id"] for n in nearest] == [truck["id"]], f"the free flatbed is listed nearest: {nearest}"
    assert 1.5 < nearest[0]["distance_km"] < 2.5, f"0.02 degrees east at 30 N is about 1.9 km: {nearest}"
    shown = api["dee"].get("/v1/console/map").json()
    assert job["id"] in [j["id"] for j in shown["jobs"]], "the map draws the job"
    assert truck["id"] in [p["id"] for p in shown["providers"]], "the map draws the truck"
    api["ann"].patch(f"/v1/claims/{claim['id']}", json={"estimate": "100000"})
    asked = api["ann"].post(f"/v1/claims/{claim['id']}/payments", headers={"Idempotency-Key": "c1"},
                            json={"amount": "20000"}).json()
    assert asked["state"] == "pending_approval", f"20,000 is above an adjuster's authority: {asked}"
    inbox = api["sup"].get("/v1/console/approvals").json()["payments"]
    assert [p["id"] for p in inbox] == [asked["id"]], f"the supervisor's inbox holds the request: {inbox}"
    assert inbox[0]["claim"]["advance_cap"] == "50000.00", f"the cap is half the estimate: {inbox[0]['claim']}"
    assert [p["id"] for p in api["mgr"].get("/v1/console/approvals").json()["payments"]] == [asked["id"]], \
        "a manager may decide a supervisor-level request too"
