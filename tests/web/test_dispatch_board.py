"""The dispatch board for a storm, over HTTP on PostgreSQL and in headless Chromium (Playwright).

A typhoon has landed (the demo's orange In-Fa warning, a CAT event, claims in its area, flatbeds near
three of them). Over HTTP: every job carries its address and its customer's name, a dispatcher's hold
keeps a job out of the batch, a truck beyond the radius needs a reason, the batch says why each job it
could not place waits, and a truck's position dated ahead of the clock is stored as now. In Chromium at
1280x800 and 1920x1080 (and 390 px wide): the dispatcher reads addresses, calls a customer (a tel: link
with the full number), holds and assigns a job by hand, reads why a job has no truck, runs the batch and
reads its report; every column is in view, no page scrolls sideways, axe-core finds nothing serious,
and the page reads in English and in Chinese.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from greenchannel import rescue, service
from store.db import session_scope
from store.models import Customer, RescueJob, RescueProvider
from store.types import utcnow
from store.users import principal_for_key
from tests.support import ROOT
from tests.web.people import axe_violations, horizontal_overflow, password_for, phone_of
from tests.web.test_console import (
    LIVE,
    browser,  # noqa: F401  (the module's Chromium fixture)
    green_channel_scene,
)

SCREENSHOTS = ROOT / "var" / "screenshots"
CJK = re.compile(r"[\u3400-\u9fff]")
FAR_AWAY = (110.35, 20.02)  # Haikou, Hainan: inside the gazetteer, far from every truck of the scene
# Words the page must never show as such.
RAW = ("none_within_radius", "all_declined", "no_capable_provider", "waiting_for_batch", "person_trapped",
       "vehicle_in_water", "undefined", "null", "NaN", "board.", "dispatch.", "rescue.")
OWN_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('[data-outside], script, style, #toasts, #lang, .leaflet-container')) continue;
    if (!parent.checkVisibility()) continue;
    parts.push(node.textContent);
  }
  return parts.join(' ');
}"""


def principal(key: str):
    with session_scope() as session:
        return principal_for_key(session, key)


def storm(api_server, database_url):
    """The scene, plus a job far from every truck and a job whose nearest truck let its offer expire."""
    scene = green_channel_scene(api_server, database_url, claims=6, jobs=4)
    dispatcher = scene.as_role("dispatcher")
    far_customer = scene.claims[5]["customer_id"]
    far = dispatcher.post("/v1/rescue/jobs", json={"location": list(FAR_AWAY), "customer_id": far_customer,
                                                   "needs": "flatbed", "dispatch": False, "note": "困在海口"})
    assert far.status_code == 201, far.text
    scene.far_job = far.json()
    lapsed = scene.jobs[3]
    truck = scene.providers[3]  # placed beside the fourth claim
    rules = service.rules().rescue
    service.run_unit(rescue.assign, principal(scene.keys["dispatcher"]), lapsed["id"], truck["id"], rules,
                     utcnow() - timedelta(minutes=6))
    others = [p for p in scene.providers if p["id"] != truck["id"]]
    for other in others:  # busy elsewhere while the offer lapses, so nothing cascades
        assert dispatcher.patch(f"/v1/rescue/providers/{other['id']}", json={"available": False}).status_code == 200
    assert service.expire_offers() == 1, "the six-minute-old offer expired"
    for other in others:
        assert dispatcher.patch(f"/v1/rescue/providers/{other['id']}", json={"available": True}).status_code == 200
    scene.lapsed_job, scene.lapsed_truck = lapsed, truck
    with session_scope(database_url) as session:  # reported a while ago: the board ages them
        session.get(RescueJob, scene.jobs[2]["id"]).created_at = utcnow() - timedelta(minutes=14)
        session.get(RescueJob, scene.far_job["id"]).created_at = utcnow() - timedelta(minutes=35)
    return scene


# --- HTTP on PostgreSQL --------------------------------------------------------------------------

def test_every_job_names_its_address_and_customer_and_only_a_dispatcher_sees_the_full_number(
        api_server, pg_clean_url):
    scene = storm(api_server, pg_clean_url)
    listed = scene.as_role("dispatcher").get("/v1/rescue/jobs").json()["jobs"]
    assert len(listed) == len(scene.jobs) + 1, "the listing has every job"
    for job in listed:
        assert job["address"], f"job {job['id']} has no address"
        assert "customer_name" in job and job["customer_name"], f"job {job['id']} has no customer name"
    by_id = {job["id"]: job for job in listed}
    with session_scope(pg_clean_url) as session:
        customer = session.get(Customer, scene.claims[0]["customer_id"])
        name, phone = customer.name, customer.phone
    first = by_id[scene.jobs[0]["id"]]
    assert first["customer_name"] == name, "the customer's name from the book"
    assert first["at_asset"] and "号" in first["address"], "a job at the insured car shows the asset's street address"
    assert first["customer_phone"] == phone, "a dispatcher sees the full number of a customer with a live rescue"
    far = by_id[scene.far_job["id"]]
    assert far["place"] == {"zh-CN": "海口市美兰区", "en": "Meilan District, Haikou"} or \
        far["place"]["en"].endswith(", Haikou"), f"a shared location is named by its district: {far['place']}"
    assert far["address"] == far["place"]["zh-CN"], "the address of a shared location is its district"
    adjuster_view = scene.as_role("adjuster").get(f"/v1/rescue/jobs/{scene.jobs[0]['id']}").json()
    assert "****" in adjuster_view["customer_phone"], "an adjuster sees the customer's number masked"
    assert adjuster_view["address"] == first["address"], "the single job view carries the address too"


def test_a_hold_keeps_a_job_out_of_the_batch_and_the_batch_says_why_the_rest_wait(api_server, pg_clean_url):
    scene = storm(api_server, pg_clean_url)
    dispatcher = scene.as_role("dispatcher")
    held_job = scene.jobs[0]
    held = dispatcher.post(f"/v1/rescue/jobs/{held_job['id']}/hold", json={})
    assert held.status_code == 200, held.text
    assert held.json()["held_until"], "the hold answers with its end"
    assert scene.as_role("adjuster").post(f"/v1/rescue/jobs/{held_job['id']}/hold", json={}).status_code == 403, \
        "only dispatchers hold jobs"

    batch = dispatcher.post("/v1/rescue/dispatch", json={})
    assert batch.status_code == 200, batch.text
    result = batch.json()
    assert result["held"] == 1, "the held job is counted and left out"
    assert held_job["id"] not in {o["job_id"] for o in result["offered_jobs"]}, "the held job was not offered"
    assert dispatcher.get(f"/v1/rescue/jobs/{held_job['id']}").json()["state"] == "created"
    unplaced = {u["job_id"]: u["reason"] for u in result["unplaced"]}
    far = unplaced[scene.far_job["id"]]
    assert far["code"] == "none_within_radius", f"the far job waits for want of a truck in reach: {far}"
    assert far["nearest_free"]["distance_km"] > 100, "and the words carry how far the nearest free truck is"
    assert all(o["provider_name"] for o in result["offered_jobs"]), "each offer names its truck"
    assert result["offered"] == len(result["offered_jobs"]), "the count and the list agree"


def test_a_truck_beyond_the_radius_needs_a_reason_and_hostile_input_is_refused_naming_the_field(
        api_server, pg_clean_url):
    scene = storm(api_server, pg_clean_url)
    dispatcher = scene.as_role("dispatcher")
    truck = scene.providers[1]
    refused = dispatcher.post(f"/v1/rescue/jobs/{scene.far_job['id']}/assign", json={"provider_id": truck["id"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "override_reason", "the refusal names override_reason"
    too_long = dispatcher.post(f"/v1/rescue/jobs/{scene.far_job['id']}/assign",
                               json={"provider_id": truck["id"], "override_reason": "x" * 501})
    assert (too_long.status_code, too_long.json()["error"]["field"]) == (400, "override_reason")
    sent = dispatcher.post(f"/v1/rescue/jobs/{scene.far_job['id']}/assign",
                           json={"provider_id": truck["id"], "override_reason": "海口的车都淹了，从温州调平板"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["offer"]["distance_km"] > 100 and sent.json()["offer"]["mode"] == "manual"
    bad_time = dispatcher.patch(f"/v1/rescue/providers/{truck['id']}",
                                json={"location": [120.7, 28.0], "location_at": "yesterday-ish"})
    assert (bad_time.status_code, bad_time.json()["error"]["field"]) == (400, "location_at")
    alone = dispatcher.patch(f"/v1/rescue/providers/{truck['id']}", json={"location_at": utcnow().isoformat()})
    assert (alone.status_code, alone.json()["error"]["field"]) == (400, "location_at")
    done = dispatcher.post(f"/v1/rescue/jobs/{scene.jobs[1]['id']}/status", json={"status": "cancelled"})
    assert done.status_code == 200
    finished = dispatcher.post(f"/v1/rescue/jobs/{scene.jobs[1]['id']}/hold", json={})
    assert (finished.status_code, finished.json()["error"]["code"]) == (409, "not_pending")


def test_a_position_dated_ahead_of_the_server_clock_is_stored_as_now(api_server, pg_clean_url):
    scene = storm(api_server, pg_clean_url)
    dispatcher = scene.as_role("dispatcher")
    truck = scene.providers[2]
    before = utcnow()
    ahead = (before + timedelta(hours=11, minutes=52)).isoformat()
    moved = dispatcher.patch(f"/v1/rescue/providers/{truck['id']}", json={"location": [120.70, 28.00],
                                                                            "location_at": ahead})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["location_clamped"] is True, "the answer flags the clamp"
    stored = body["location_at"]
    assert stored < ahead and stored >= before.isoformat()[:19], f"stored as the server's now, not {stored}"
    with session_scope(pg_clean_url) as session:  # a writer that bypassed the API (a replayed story)
        session.get(RescueProvider, truck["id"]).location_at = utcnow() + timedelta(hours=3)
    board = dispatcher.get("/v1/console/dispatch").json()
    for provider in board["providers"]:
        assert provider["location_age_s"] is None or provider["location_age_s"] >= 0, \
            f"{provider['name']}: a position age is never negative"
    shown = next(p for p in board["providers"] if p["id"] == truck["id"])
    assert shown["location_in_future"] is True and shown["location_age_s"] == 0, "a future position reads as 0 s old"
    assert all(job["waited_s"] >= 0 for job in board["jobs"]), "waiting times are never negative"


# --- Chromium ------------------------------------------------------------------------------------

def open_board(browser, base_url: str, key: str, viewport: dict, locale: str = "en-GB") -> Page:  # noqa: F811
    """Sign in with a username and password (a session cookie), on a screen in China Standard Time."""
    _, username, password = password_for(key)
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Asia/Shanghai")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    signed_in = context.request.post(f"{base_url}/v1/auth/login", data={"username": username, "password": password})
    assert signed_in.ok, f"the dispatcher could not sign in: {signed_in.status}"
    language = "zh-CN" if locale.startswith("zh") else "en"
    page.goto(f"{base_url}/?lang={language}#/dispatch")
    expect(page.get_by_test_id("job-card").first).to_be_visible(timeout=LIVE)
    return page


def assert_board_reads_well(page: Page, where: str, chinese: bool) -> None:
    assert horizontal_overflow(page) <= 0, f"{where}: the page scrolls sideways by {horizontal_overflow(page)} px"
    width = page.evaluate("window.innerWidth")
    if width >= 1280:
        for key in ("created", "offered", "accepted", "en_route", "on_scene"):
            column = page.get_by_test_id(f"column-{key}")
            expect(column).to_be_visible()
            box = column.bounding_box() or (page.wait_for_timeout(300), column.bounding_box())[1]  # mid re-render
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, \
                f"{where}: the column {key} is not wholly in view ({box})"
            covering = page.evaluate("""([x, y]) => {
                const hit = document.elementFromPoint(x, y);
                return hit && !hit.closest('[data-testid^=column-]') ? hit.className || hit.tagName : null;
            }""", [box["x"] + box["width"] / 2, box["y"] + 12])
            assert covering is None, f"{where}: the column {key} is covered by {covering}"
    own = page.evaluate(OWN_TEXT)
    raw = [word for word in RAW if word in own]
    assert not raw, f"{where}: raw codes or keys are shown: {raw}"
    if chinese:
        assert not re.search(r"\b(Waiting|Choose|Assign|Call|Pending|Offered|truck)\b", own), \
            f"{where}: English words in the Chinese board"
    else:
        assert not CJK.findall(own), f"{where}: Chinese characters in the English board: {CJK.findall(own)[:10]}"
    violations = axe_violations(page)
    assert not violations, f"{where}: axe-core finds serious or critical violations: {violations}"
    assert not page.context.script_errors, f"{where}: script errors {page.context.script_errors}"


def card_of(page: Page, job_id: int):
    return page.locator(f'[data-testid=job-card][data-job-id="{job_id}"]')


def test_a_dispatcher_works_a_storm_on_the_board_in_english_and_chinese(api_server, pg_clean_url, browser):  # noqa: F811
    scene = storm(api_server, pg_clean_url)
    api = scene.as_role("dispatcher")
    jobs = {job["id"]: job for job in api.get("/v1/rescue/jobs").json()["jobs"]}
    page = open_board(browser, scene.api.base_url, scene.keys["dispatcher"], {"width": 1280, "height": 800})

    # Addresses, names and a call button with the full number of a live job.
    first = card_of(page, scene.jobs[0]["id"])
    expect(first.get_by_test_id("job-address")).to_have_text(jobs[scene.jobs[0]["id"]]["address"])
    expect(first.get_by_test_id("customer-name")).to_have_text(jobs[scene.jobs[0]["id"]]["customer_name"])
    full = phone_of(scene.claims[0]["customer_id"])
    expect(first.get_by_test_id("call")).to_have_attribute("href", f"tel:{full}")
    expect(first.get_by_test_id("customer-phone")).to_contain_text("****")
    expect(first.get_by_test_id("waited")).to_contain_text(re.compile(r"waiting \d+"))
    aged, old = card_of(page, scene.jobs[2]["id"]), card_of(page, scene.far_job["id"])
    expect(aged).to_have_attribute("data-age", "amber")
    expect(aged.get_by_test_id("waited")).to_contain_text(re.compile(r"waiting 14 min · waiting long"))
    expect(old).to_have_attribute("data-age", "red")
    expect(old.get_by_test_id("waited")).to_contain_text(re.compile(r"waiting 3\d min · waiting too long"))
    person = card_of(page, scene.jobs[1]["id"])  # the claim filed with a person trapped
    expect(person.get_by_test_id("problems")).to_contain_text("Person trapped")
    pending_order = page.get_by_test_id("column-created").get_by_test_id("job-card").evaluate_all(
        "cards => cards.map(c => Number(c.dataset.jobId))")
    assert pending_order[0] == scene.jobs[1]["id"], "the job with a person at risk comes first"

    # Why jobs wait, in words.
    far = card_of(page, scene.far_job["id"])
    expect(far.get_by_test_id("job-address")).to_contain_text("Haikou")
    expect(far.get_by_test_id("unplaced-reason")).to_contain_text(
        re.compile(r"No free truck that can do a flatbed job within 100 km; nearest free truck .+, \d+(\.\d)? km\."))
    lapsed = card_of(page, scene.lapsed_job["id"])
    expect(lapsed.get_by_test_id("unplaced-reason")).to_contain_text(
        re.compile(re.escape(scene.lapsed_truck["name"]) + r" let its offer expire at \d\d:\d\d CST \(Beijing\)"))
    expect(lapsed.locator(f'[data-testid=truck-choice][data-provider-id="{scene.lapsed_truck["id"]}"]')
           .get_by_test_id("declined")).to_contain_text("let this job's offer expire at")
    assert_board_reads_well(page, "board 1280x800 en", chinese=False)

    # Assign by hand: opening the chooser holds the job, so the batch leaves it alone meanwhile.
    job = scene.jobs[0]
    card = card_of(page, job["id"])
    card.get_by_test_id("choose").click()
    panel = card.get_by_test_id("assign-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(re.compile(r"Held for manual assignment until \d\d:\d\d CST"), timeout=LIVE)
    assert api.get(f"/v1/rescue/jobs/{job['id']}").json()["held_until"], "the board held the job"
    batch = api.post("/v1/rescue/dispatch", json={}).json()
    assert job["id"] not in {o["job_id"] for o in batch["offered_jobs"]}, "the held job was not auto-offered"
    expect(card).to_have_attribute("data-state", "created", timeout=LIVE)
    choice = panel.get_by_test_id("assign").first
    provider_id = int(choice.get_attribute("data-provider-id"))
    choice.click()
    expect(card).to_have_attribute("data-state", "offered", timeout=LIVE)
    offered = api.get(f"/v1/rescue/jobs/{job['id']}").json()
    assert (offered["offer"]["mode"], offered["offer"]["provider_id"]) == ("manual", provider_id), \
        "the dispatcher's choice got the offer"

    # The batch button reports what it offered and why the rest wait.
    page.get_by_test_id("batch").click()
    report = page.get_by_test_id("batch-report")
    expect(report).to_be_visible()
    expect(report.get_by_test_id("batch-unplaced")).to_contain_text("No free truck that can do a flatbed job within 100 km")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dispatch-board-1280-en.png"))

    # Finished jobs are hidden until asked for.
    page.wait_for_load_state("networkidle")  # the batch's own re-render is done: the armed button stays
    cancel = card_of(page, scene.far_job["id"]).get_by_test_id("cancel")
    cancel.click()
    expect(cancel).to_have_text("Click again to confirm")
    cancel.click()
    expect(card_of(page, scene.far_job["id"])).to_have_count(0, timeout=LIVE)
    expect(page.get_by_test_id("finished-jobs")).to_be_hidden()
    page.get_by_test_id("show-finished").check()
    expect(page.get_by_test_id("finished-job").filter(has_text="Haikou")).to_have_count(1)
    assert_board_reads_well(page, "board 1280x800 en, after the batch", chinese=False)
    page.context.close()

    wide = open_board(browser, scene.api.base_url, scene.keys["dispatcher"], {"width": 1920, "height": 1080}, "zh-CN")
    expect(wide.get_by_test_id("dispatch-map").locator(".truck")).to_have_count(len(scene.providers))
    expect(card_of(wide, scene.lapsed_job["id"]).get_by_test_id("unplaced-reason")).to_contain_text(
        re.compile(r"未在 \d\d:\d\d 北京时间 前响应派单"))
    expect(card_of(wide, scene.jobs[2]["id"]).get_by_test_id("call")).to_have_text("拨打")
    expect(card_of(wide, scene.jobs[2]["id"]).get_by_test_id("waited")).to_contain_text("等待较久")
    assert_board_reads_well(wide, "board 1920x1080 zh-CN", chinese=True)
    wide.screenshot(path=str(SCREENSHOTS / "dispatch-board-1920-zh.png"))
    wide.context.close()

    for locale in ("en-GB", "zh-CN"):
        phone = open_board(browser, scene.api.base_url, scene.keys["dispatcher"], {"width": 390, "height": 844}, locale)
        assert horizontal_overflow(phone) <= 0, f"390 px {locale}: the board scrolls sideways"
        phone.context.close()

    wide = open_board(browser, scene.api.base_url, scene.keys["dispatcher"], {"width": 1440, "height": 900})
    assert_board_reads_well(wide, "board 1440x900 en", chinese=False)
    wide.screenshot(path=str(SCREENSHOTS / "dispatch-board-1440-en.png"))
    wide.context.close()

    widest = open_board(browser, scene.api.base_url, scene.keys["dispatcher"], {"width": 1920, "height": 1080})
    expect(widest.get_by_test_id("dispatch-map").locator(".truck")).to_have_count(len(scene.providers))
    live_jobs = len(api.get("/v1/rescue/jobs").json()["jobs"]) - 1  # all but the cancelled one
    expect(widest.get_by_test_id("dispatch-map").locator(".leaflet-jobs-pane path.leaflet-interactive")) \
        .to_have_count(live_jobs)
    assert_board_reads_well(widest, "board 1920x1080 en", chinese=False)
    widest.screenshot(path=str(SCREENSHOTS / "dispatch-board-1920-en.png"))
    widest.context.close()
