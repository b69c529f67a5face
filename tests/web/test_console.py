"""The console in headless Chromium (docs/architecture.md, the pages people use): the operations map, the dispatch board, the
fast-track queue with the approver's inbox, and the customer's claim page, kept live by Server-Sent Events.

Each test serves the real app (api_server) on a small demo book, drives Debian's chromium through
Playwright, changes the world through the HTTP API the way a feed, a truck or a colleague would, and
checks that the page shows it without a reload. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright
from shapely.geometry import Point, shape
from sqlalchemy import select

from alerts.reading.replay import replay
from config.seed import seed_demo_book
from store.db import session_scope
from store.models import Asset
from store.types import utcnow
from tests.greenchannel.conftest import real_jpeg
from tests.support import ROOT, make_user, wait_until
from tests.web.people import sign_in_with_key_owner

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "var" / "screenshots"
BIG_SCREEN = {"width": 1680, "height": 1000}
SMALL_BOOK = {"HAVEN_DEMO_CUSTOMERS": 400, "HAVEN_DEMO_ASSETS": 1600}
DEMO_WARNING = ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml"
LIVE = 15_000  # ms: the stream polls every second; this leaves room for a loaded machine


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/ensure_services.sh)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page: Page, name: str) -> None:
    """Save a screenshot, once the page shows no error (a failed call or a script error is a toast)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    errors = page.locator(".toast.error").all_inner_texts() + page.context.script_errors
    assert not errors, f"{name}: the page shows errors: {errors}"


def sign_in(browser, base_url: str, key: str, viewport=None, login_shot: str | None = None) -> Page:
    """A fresh browser context signed in through the sign-in page as the owner of this API key; the page
    stays on the console."""
    context = browser.new_context(viewport=viewport or BIG_SCREEN, locale="en-GB")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    page.goto(base_url + "/")
    expect(page.get_by_test_id("login")).to_be_visible()
    if login_shot:
        shot(page, login_shot)
    sign_in_with_key_owner(page, base_url, key, wrong_first=True)  # staff by password, customers by link
    expect(page.locator("#topbar")).to_be_visible()
    expect(page.get_by_test_id("live")).to_contain_text("Live", timeout=LIVE)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    return page


def nav_pages(page: Page) -> list[str]:
    return page.locator("#nav a").evaluate_all("links => links.map(a => a.dataset.page)")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"


# --- the world, changed through the API ----------------------------------------------------------

def ingest_demo_warning(api) -> dict:
    """The demo's orange typhoon warning, re-stamped to now, posted as a feed poller would."""
    raw = replay([DEMO_WARNING.read_bytes()], utcnow(), tag=uuid.uuid4().hex[:8])[0]
    response = api.post("/v1/alerts?confirm=true", data=raw, headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text
    return response.json()["alerts"][0]


def assets_inside(database_url: str, area: dict, kind: str = "vehicle") -> list[tuple[str, str]]:
    """Cars inside the area, one per customer."""
    region = shape(area)
    with session_scope(database_url) as session:
        rows = session.execute(select(Asset.asset_id, Asset.customer_id, Asset.lon, Asset.lat)
                               .where(Asset.kind == kind).order_by(Asset.asset_id)).all()
    inside, customers = [], set()
    for asset_id, customer_id, lon, lat in rows:
        if customer_id not in customers and region.covers(Point(lon, lat)):  # one claim per customer
            inside.append((asset_id, customer_id))
            customers.add(customer_id)
    return inside


@dataclass
class Scene:
    """A typhoon has landed: warning in force, green channel open, claims filed, trucks out."""

    database_url: str
    api: object
    keys: dict[str, str]
    warning: dict
    cat_event: dict
    claims: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)

    def as_role(self, role: str):
        return self.api.as_user(self.keys[role])


def green_channel_scene(api_server, database_url: str, claims: int = 6, jobs: int = 3) -> Scene:
    api = api_server(database_url, **SMALL_BOOK)
    seed_demo_book()
    keys = {role: make_user(database_url, role, f"{role.title()} {name}") for role, name in
            (("dispatcher", "Dee"), ("adjuster", "Ada"), ("supervisor", "Sam"), ("manager", "Max"))}
    dispatcher, supervisor = api.as_user(keys["dispatcher"]), api.as_user(keys["supervisor"])
    warning = ingest_demo_warning(dispatcher)
    now = utcnow()
    event = supervisor.post("/v1/cat-events", json={
        "code": "CAT-2021-0725-INFA", "hazard": "typhoon", "chain_ids": [warning["chain_id"]],
        "window_start": (now - timedelta(hours=6)).isoformat(), "window_end": (now + timedelta(days=3)).isoformat()})
    assert event.status_code == 201, event.text
    scene = Scene(database_url, api, keys, warning, event.json())
    inside = assets_inside(database_url, scene.cat_event["area"])
    assert len(inside) >= claims, "the small demo book has too few cars inside the storm"
    for index, (asset_id, _) in enumerate(inside[:claims]):
        body = {"asset_id": asset_id, "loss_at": (now - timedelta(hours=1, minutes=index)).isoformat(),
                "description": "台风烟花：车辆被淹", "vehicle_in_water": index % 2 == 0,
                "person_trapped": index == 1, "flood_depth_level": 3 + index % 3 if index % 2 == 0 else None}
        filed = dispatcher.post("/v1/claims", json=body)
        assert filed.status_code == 201, filed.text
        scene.claims.append(filed.json())
    for index, claim in enumerate(scene.claims[:jobs]):
        lon, lat = claim["location"]["lon"], claim["location"]["lat"]
        provider = dispatcher.post("/v1/rescue/providers", json={
            "name": f"平板救援{index + 1:02d}号", "kind": "flatbed", "capacity": 2, "phone": f"+8657400000{index:02d}",
            "location": [round(lon + 0.03 * (index + 1), 5), round(lat - 0.02, 5)]})
        assert provider.status_code == 201, provider.text
        scene.providers.append(provider.json())
    for claim in scene.claims[:jobs]:
        job = dispatcher.post("/v1/rescue/jobs", json={"claim_id": claim["id"], "dispatch": False})
        assert job.status_code == 201, job.text
        scene.jobs.append(job.json())
    return scene


# --- the operations map --------------------------------------------------------------------------

def delivery_counts(api, alert_id: int) -> dict[str, int]:
    """What the map should show for an alert's area, from the API's reach report."""
    reach = api.get(f"/v1/alerts/{alert_id}/notifications").json()
    states: dict[str, int] = {}
    for by_state in reach["by_channel"].values():
        for state, n in by_state.items():
            states[state] = states.get(state, 0) + n
    return {"warned": reach["customers"], "delivered": states.get("delivered", 0),
            "failed": sum(states.get(s, 0) for s in ("failed", "undelivered", "expired")),
            "pending": sum(states.get(s, 0) for s in ("created", "queued", "sending", "sent"))}


def watch_a_new_warning_arrive(browser, api, key: str, label: str) -> None:
    """Sign in on the map, ingest the demo warning through the API, and see it appear without a reload."""
    page = sign_in(browser, api.base_url, key, login_shot="login")
    assert nav_pages(page) == ["map", "dispatch"]
    expect(page.get_by_test_id("warnings-count")).to_have_text("0")
    expect(page.locator(".leaflet-base-pane canvas")).to_be_visible()  # the offline base layer
    shot(page, f"map-1-before-warning-{label}")

    dispatcher = api.as_user(key)
    stored = ingest_demo_warning(dispatcher)
    matched = wait_until(lambda: dispatcher.get(f"/v1/alerts/{stored['id']}").json()["matched_assets"],
                         message="the warning matched against the book")
    card = page.get_by_test_id("warning-card")
    expect(card).to_have_count(1, timeout=LIVE)
    expect(card).to_contain_text("CMA issues an orange typhoon warning")  # the info in the page's language
    expect(page.get_by_test_id("warnings-count")).to_have_text("1")
    expect(page.get_by_test_id("assets-total")).to_have_attribute("data-total", str(matched), timeout=LIVE)
    clusters = page.locator(".cluster")
    expect(clusters.first).to_be_visible()
    assert sum(int(c) for c in clusters.evaluate_all("cs => cs.map(c => c.dataset.count)")) == matched
    expect(page.locator(".leaflet-areas-pane path.leaflet-interactive")).to_be_visible()  # the warning's area

    card.click()
    counts = page.get_by_test_id("selected-area").get_by_test_id("area-counts")
    expect(counts.get_by_test_id("count-assets")).to_have_text(f"{matched:,}")

    def shown() -> dict[str, int]:
        return {name: int(counts.get_by_test_id(f"count-{name}").inner_text().replace(",", ""))
                for name in ("warned", "delivered", "failed", "pending")}

    # Fan-out and delivery may still be under way: page and API must meet, the page never reloading.
    agreed = wait_until(lambda: (lambda want: want if shown() == want else None)(delivery_counts(dispatcher, stored["id"])),
                        timeout=LIVE / 1000 * 2, interval=0.5, message="the map's counts to match the reach report")
    assert agreed["warned"] > 0 and agreed["delivered"] + agreed["pending"] > 0
    expect(page.get_by_test_id("area-popup")).to_be_visible()  # clicking an area (or its card) opens its counts
    expect(page.get_by_test_id("chain-history").locator("li")).to_have_count(1)
    assert_not_reloaded(page)
    shot(page, f"map-2-warning-live-{label}")
    page.context.close()


def test_a_new_warning_appears_on_the_map_with_its_area_and_counts_without_a_reload(api_server, db_url, browser):
    api = api_server(db_url, **SMALL_BOOK)
    seed_demo_book()
    watch_a_new_warning_arrive(browser, api, make_user(db_url, "dispatcher", "Dee Dispatcher"), db_url.split(":")[0])


def test_the_map_follows_matching_and_delivery_done_by_celery_workers_in_other_processes(
        api_server, pg_clean_url, celery_worker, browser):
    api = api_server(pg_clean_url, **SMALL_BOOK)
    seed_demo_book()
    celery_worker(pg_clean_url, concurrency=2)
    watch_a_new_warning_arrive(browser, api, make_user(pg_clean_url, "dispatcher", "Dee Dispatcher"), "workers")


# --- the dispatch board --------------------------------------------------------------------------

def test_a_dispatcher_assigns_a_pending_job_and_sees_it_accepted_live(api_server, sqlite_url, browser):
    scene = green_channel_scene(api_server, sqlite_url)
    page = sign_in(browser, scene.api.base_url, scene.keys["dispatcher"])
    page.get_by_test_id("nav-dispatch").click()
    job = scene.jobs[0]
    card = page.locator(f'[data-testid=job-card][data-job-id="{job["id"]}"]')
    expect(card).to_have_attribute("data-state", "created")
    expect(page.get_by_test_id("column-created").get_by_test_id("job-card")).to_have_count(len(scene.jobs))
    assign = card.get_by_test_id("assign").first
    provider_id = int(assign.get_attribute("data-provider-id"))
    expect(card.locator(".nearest li").first).to_contain_text(re.compile(r"\d+(\.\d)? km · ETA \d+ min"))
    shot(page, "dispatch-1-pending")

    assign.click()
    expect(card).to_have_attribute("data-state", "offered")
    expect(page.get_by_test_id("column-offered").locator(f'[data-job-id="{job["id"]}"]')).to_be_visible()
    expect(card.get_by_test_id("countdown")).to_contain_text(re.compile(r"expires in \d+:\d\d"))
    offered = scene.as_role("dispatcher").get(f"/v1/rescue/jobs/{job['id']}").json()
    assert offered["state"] == "offered" and offered["offer"]["provider_id"] == provider_id
    assert offered["offer"]["mode"] == "manual"
    shot(page, "dispatch-2-offered")

    # The truck answers (through the API, as the provider's app would): the board follows without a reload.
    accepted = scene.as_role("dispatcher").post(f"/v1/rescue/jobs/{job['id']}/status",
                                                json={"status": "accepted", "provider_id": provider_id, "eta_minutes": 25})
    assert accepted.status_code == 200, accepted.text
    expect(card).to_have_attribute("data-state", "accepted", timeout=LIVE)
    expect(card).to_contain_text("ETA 25 min")

    other = page.locator(f'[data-testid=job-card][data-job-id="{scene.jobs[1]["id"]}"]')
    cancel = other.get_by_test_id("cancel")
    cancel.click()
    expect(cancel).to_have_text("Click again to confirm")
    cancel.click()
    expect(other).to_have_count(0)
    assert scene.as_role("dispatcher").get(f"/v1/rescue/jobs/{scene.jobs[1]['id']}").json()["state"] == "cancelled"
    assert_not_reloaded(page)
    shot(page, "dispatch-3-accepted")

    card.get_by_test_id("reoffer").click()  # the truck broke down: the next nearest free one gets the offer
    expect(card).to_have_attribute("data-state", "offered")
    expect(card).to_contain_text("attempt 2")
    reoffered = scene.as_role("dispatcher").get(f"/v1/rescue/jobs/{job['id']}").json()
    assert reoffered["offer"]["provider_id"] != provider_id and reoffered["offer"]["attempt"] == 2

    page.get_by_test_id("nav-map").click()  # the same day on the map: storm, green channel, jobs, trucks
    expect(page.locator(".truck")).to_have_count(len(scene.providers))
    expect(page.locator(".cat-label")).to_contain_text("CAT-2021-0725-INFA")
    expect(page.get_by_test_id("cat-event")).to_have_count(1)
    expect(page.locator(".cluster").first).to_be_visible()
    jobs_drawn = page.locator(".leaflet-jobs-pane path.leaflet-interactive")
    expect(jobs_drawn).to_have_count(3)  # offered, pending, and the one cancelled within the hour
    shot(page, "map-3-storm-green-channel-rescue")
    page.context.close()


# --- the fast-track queue and the approver's inbox -----------------------------------------------

def test_an_adjuster_takes_the_next_claim_and_a_supervisor_approves_the_advance(api_server, sqlite_url, browser):
    scene = green_channel_scene(api_server, sqlite_url, jobs=0)
    adjuster = scene.as_role("adjuster")
    page = sign_in(browser, scene.api.base_url, scene.keys["adjuster"])
    assert nav_pages(page) == ["queue"]
    top = adjuster.get("/v1/queue").json()["queue"][0]
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(len(scene.claims))
    expect(rows.first).to_have_attribute("data-claim-id", str(top["claim_id"]))
    expect(rows.first).to_contain_text("Person trapped")
    expect(rows.first).to_contain_text("first contact: in")
    shot(page, "queue-1-ordered")

    page.get_by_test_id("take-next").click()
    expect(page).to_have_url(re.compile(rf"#/queue/claim/{top['claim_id']}$"))
    view = page.get_by_test_id("claim-view")
    expect(view.get_by_test_id("lease")).to_contain_text("Leased to you")
    view.get_by_test_id("advance-stage").click()
    expect(view.get_by_test_id("claim-stage")).to_have_text("Surveyed")
    view.get_by_test_id("estimate").fill("60000")
    view.get_by_test_id("advance-stage").click()
    expect(view.get_by_test_id("claim-stage")).to_have_text("Loss assessed")
    # Not flooded, so green channel: photos, ID, bank account and driving licence (no police report).
    expect(view.get_by_test_id("documents").locator("li.missing")).to_have_count(4)

    view.get_by_test_id("advance-amount").fill("20000")
    view.get_by_test_id("advance-reason").fill("car under water, customer needs a hire car")
    view.get_by_test_id("request-advance").dblclick()  # a double click still makes one payment
    payment_row = view.get_by_test_id("payment")
    expect(payment_row).to_have_count(1)
    expect(payment_row).to_have_attribute("data-state", "pending_approval")
    payments = adjuster.get(f"/v1/claims/{top['claim_id']}/payments").json()["payments"]
    assert [(p["amount"], p["state"], p["required_role"]) for p in payments] == [("20000.00", "pending_approval", "supervisor")]
    shot(page, "queue-2-claim-advance-requested")

    supervisor = sign_in(browser, scene.api.base_url, scene.keys["supervisor"])
    assert nav_pages(supervisor) == ["map", "queue", "approvals", "complaints", "catevents", "warnings", "feeds"]
    supervisor.get_by_test_id("nav-approvals").click()
    item = supervisor.locator(f'[data-testid=approval][data-payment-id="{payments[0]["id"]}"]')
    expect(item).to_contain_text("20,000.00")
    expect(item).to_contain_text("Adjuster Ada")
    shot(supervisor, "approvals-1-inbox")
    item.get_by_test_id("approve").click()  # no ID card or bank account yet: the approver must say why
    supervisor.get_by_test_id("override-dialog-reason").fill("photos checked; ID seen on the video call")
    supervisor.get_by_test_id("override-dialog-confirm").click()
    expect(supervisor.get_by_test_id("approvals-count")).to_have_text("0")
    wait_until(lambda: adjuster.get(f"/v1/claims/{top['claim_id']}/payments").json()["payments"][0]["state"] == "paid",
               message="the approved advance paid out")

    expect(payment_row).to_have_attribute("data-state", "paid", timeout=LIVE)  # the adjuster sees it without a reload
    assert_not_reloaded(page)
    shot(page, "queue-3-advance-paid")
    supervisor.context.close()
    page.context.close()


# --- the customer's claim page -------------------------------------------------------------------

def test_a_customer_uploads_the_missing_document_and_sees_the_stage_change(api_server, sqlite_url, browser):
    scene = green_channel_scene(api_server, sqlite_url, claims=2, jobs=0)
    claim = scene.claims[0]
    adjuster = scene.as_role("adjuster")
    for body in ({"to": "surveyed"}, {"to": "assessed", "estimate": "48000"}):
        moved = adjuster.post(f"/v1/claims/{claim['id']}/transition", json=body)
        assert moved.status_code == 200, moved.text
    key = make_user(scene.database_url, "customer", "陈阿婆", customer_id=claim["customer_id"])
    customer = scene.api.as_user(key)
    for kind in ("id", "bank_account"):
        sent = customer.post(f"/v1/claims/{claim['id']}/documents", data={"kind": kind},
                             files={"file": (f"{kind}.jpg", real_jpeg(), "image/jpeg")})
        assert sent.status_code == 201, sent.text
    other = scene.claims[1]
    assert other["customer_id"] != claim["customer_id"]
    assert customer.get(f"/v1/claims/{other['id']}").status_code == 404

    page = sign_in(browser, scene.api.base_url, key, viewport={"width": 1100, "height": 1000})
    assert nav_pages(page) == ["claims"]
    page.goto(scene.api.base_url + "/#/queue")  # a page of another role
    expect(page).to_have_url(re.compile(r"#/claims$"))
    page.evaluate("window.sameDocument = true")
    shown = page.get_by_test_id("customer-claim")
    expect(shown).to_have_attribute("data-claim-id", str(claim["id"]))
    expect(page.get_by_test_id("customer-claim")).to_have_count(1)  # never another customer's claim
    expect(page.get_by_test_id("claim-status")).to_have_text(
        "We have worked out the amount of your loss. We need your documents to go on.")
    current = page.get_by_test_id("customer-stages").locator("li.current")
    expect(current).to_have_attribute("data-stage", "assessed")
    expect(page.get_by_test_id("customer-stages").locator("li.done")).to_have_count(2)
    expect(page.get_by_test_id("missing-document")).to_have_count(1)
    expect(page.get_by_test_id("action-call")).to_contain_text("400-000-0000")

    page.get_by_test_id("large-type").click()
    page.get_by_test_id("lang").click()
    expect(page.get_by_test_id("claim-status")).to_have_text("我们已核定损失金额，需要您提交材料才能继续。")
    shot(page, "customer-1-missing-document-large-zh")

    page.get_by_test_id("file-photos").set_input_files(
        {"name": "flooded-car.jpg", "mimeType": "image/jpeg", "buffer": real_jpeg()})
    expect(page.get_by_test_id("missing-document")).to_have_count(0)
    expect(page.get_by_test_id("claim-status")).to_have_text("我们已收到您的单证，正在审核。")

    reviewed = adjuster.post(f"/v1/claims/{claim['id']}/transition", json={"to": "documents_reviewed",
                                                                            "note": "all documents in order"})
    assert reviewed.status_code == 200, reviewed.text
    expect(current).to_have_attribute("data-stage", "documents_reviewed", timeout=LIVE)
    expect(page.get_by_test_id("claim-status")).to_have_text("您的材料已审核齐全。")
    assert_not_reloaded(page)
    shot(page, "customer-2-stage-changed-large-zh")

    page.get_by_test_id("large-type").click()
    page.get_by_test_id("lang").click()
    expect(page.get_by_test_id("claim-status")).to_have_text("Your documents are checked and complete.")
    shot(page, "customer-3-standard-en")

    page.get_by_test_id("withdraw").click()
    page.get_by_test_id("withdraw-confirm").click()
    expect(page.get_by_test_id("claim-status")).to_have_text("You withdrew this claim")
    expect(shown).to_have_attribute("data-stage", "withdrawn")
    assert customer.get(f"/v1/claims/{claim['id']}").json()["stage"] == "withdrawn"
    page.context.close()


# --- the event stream and the session cookie, over plain HTTP ------------------------------------

def server_sent_events(response):
    """(event, data) pairs as they arrive on a text/event-stream response."""
    name = None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: ") and name:
            yield name, line[len("data: "):]


def test_the_event_stream_tells_a_customer_about_their_own_claims_only(api_server, sqlite_url):
    scene = green_channel_scene(api_server, sqlite_url, claims=2, jobs=0)
    mine, theirs = scene.claims
    key = make_user(sqlite_url, "customer", "Chen", customer_id=mine["customer_id"])
    assert scene.api.get("/v1/console/events").status_code == 401

    signed_in = requests.Session()
    login = signed_in.post(scene.api.base_url + "/v1/console/session", json={"api_key": key}, timeout=10)
    assert login.status_code == 200 and login.json()["pages"] == ["claims"]
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert signed_in.get(scene.api.base_url + "/v1/console/dispatch", timeout=10).status_code == 403
    assert signed_in.post(scene.api.base_url + "/v1/console/session", json={"api_key": "hv_cus_nope"},
                          timeout=10).status_code == 401

    adjuster = scene.as_role("adjuster")
    with signed_in.get(scene.api.base_url + "/v1/console/events", stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        events = server_sent_events(stream)
        assert next(events)[0] == "hello"  # from here on, every change is seen
        assert adjuster.post(f"/v1/claims/{theirs['id']}/transition", json={"to": "surveyed"}).status_code == 200
        assert adjuster.post(f"/v1/claims/{mine['id']}/transition", json={"to": "surveyed"}).status_code == 200
        name, data = next(events)
    assert name == "claim" and json.loads(data) == {"topic": "claim", "claim_ids": [mine["id"]]}

    assert signed_in.delete(scene.api.base_url + "/v1/console/session", timeout=10).status_code == 204
    assert signed_in.get(scene.api.base_url + "/v1/console/me", timeout=10).status_code == 401


def test_the_console_and_its_map_library_are_served_offline(api_server, sqlite_url):
    api = api_server(sqlite_url)
    page = api.get("/")
    assert page.status_code == 200 and "/static/vendor/leaflet/leaflet.js" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    library = api.get("/static/vendor/leaflet/leaflet.js")
    assert library.status_code == 200 and "Leaflet" in library.text[:300]
    key = make_user(sqlite_url, "dispatcher", "Dee")
    basemap = api.as_user(key).get("/v1/console/basemap").json()
    levels = {f["properties"]["level"] for f in basemap["features"]}
    assert levels == {"province", "city", "county"}
    assert any(f["properties"]["name"] == "浙江省" for f in basemap["features"])
    assert api.as_user(key).get("/v1/console/map/assets?cell=abc").json()["error"]["field"] == "cell"
    spec = api.get("/openapi.json").json()["paths"]
    assert spec["/v1/console/dispatch"]["get"]["x-roles"] == ["dispatcher"]
