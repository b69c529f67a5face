"""Text from outside stays text in the console, and the security headers back that up.

A dispatcher once posted a CAP alert whose headline was an <img onerror=...>; a supervisor hovering the
area on the map ran it and approved a payment. Here every place where outside text reaches a page gets
markup: the alert's headline, event, instruction and sender name, a provider's name, a rescue job's
note, a CAT event's hazard, staff names, a claim's description and notes, a payment's reason. Each is
stored through the real API on a real server (PostgreSQL), then Debian's chromium opens every page that
shows it, hovers and clicks the map, and checks that the text reads literally, that no element of the
payload exists, that nothing ran, and that the Content-Security-Policy reported nothing.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from datetime import timedelta
from html import escape
from html.parser import HTMLParser

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from shapely.geometry import Point, shape
from sqlalchemy import select

from config.seed import seed_demo_book
from store.db import session_scope
from store.models import Asset
from store.types import utcnow
from tests.support import ROOT, make_user
from tests.web.people import sign_in_with_key_owner
from tests.web.test_console import (
    LIVE,
    SMALL_BOOK,
    browser,  # noqa: F401  (the module's Chromium fixture)
    shot,
)

HEADLINE = '<img src=x onerror="window.__pwned=1"> Typhoon </b><script>window.__pwned=2</script>'
EVENT = '<svg onload="window.__pwned=3">Storm surge'
INSTRUCTION = '<iframe src="javascript:window.__pwned=4"></iframe> Move cars uphill'
SENDER_NAME = 'Bureau <img src=x onerror="window.__pwned=5">'
PROVIDER = 'Tow <img src=x onerror="window.__pwned=6"> & Sons'
JOB_NOTE = '<a href="javascript:window.__pwned=7">car</a> in water <b onmouseover="window.__pwned=8">here</b>'
HAZARD = '<b onmouseover="window.__pwned=9">typhoon</b>'
HOSTILE_CAT_CODE = "CAT-2021-0725-<img src=x onerror=window.__pwned=10>"
CAT_CODE = "CAT-2021-0725-XSS"
DISPATCHER = 'Dee <img src=x onerror="window.__pwned=11">'
ADJUSTER = 'Ada <svg onload="window.__pwned=12">'
DESCRIPTION = '<img src=x onerror="window.__pwned=13"> flooded car'
STAGE_NOTE = '<script>window.__pwned=14</script> surveyed in the rain'
REASON = '<img src=x onerror="window.__pwned=15"> hire car'
CUSTOMER = 'Chen <img src=x onerror="window.__pwned=16">'

# Elements and attributes the payloads would create if any of them were parsed as markup.
PAYLOAD_ELEMENTS = """() => Array.from(document.querySelectorAll(
  'img[src="x"], iframe, script:not([src]), a[href^="javascript"], [onerror], [onload], [onmouseover], [onclick]'),
  (e) => e.outerHTML)"""

WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""

# Leaflet draws the operations map inside a 1680 x 1000 window; the warning rectangle below fills it.
BIG_SCREEN = {"width": 1680, "height": 1000}
# Ours only: a copy of the map library under web/static/vendor/ is not.
CONSOLE_FILES = sorted(p for p in (ROOT / "web" / "static").rglob("*.*")
                       if p.suffix in (".js", ".html") and "vendor" not in p.relative_to(ROOT).parts)


def hostile_alert(now) -> bytes:
    """A CAP 1.2 Actual, Severe alert over Wenzhou and Taizhou whose texts carry markup."""
    sent, expires = now.replace(microsecond=0), (now + timedelta(hours=12)).replace(microsecond=0)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>XSS-{uuid.uuid4().hex[:12]}</identifier>
  <sender>probe@example.org</sender>
  <sent>{sent.isoformat()}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>{escape(EVENT)}</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>{expires.isoformat()}</expires>
    <senderName>{escape(SENDER_NAME)}</senderName>
    <headline>{escape(HEADLINE)}</headline>
    <instruction><![CDATA[{INSTRUCTION}]]></instruction>
    <area>
      <areaDesc>{escape(HEADLINE)}</areaDesc>
      <polygon>27.0,119.6 27.0,121.8 29.4,121.8 29.4,119.6 27.0,119.6</polygon>
    </area>
  </info>
</alert>""".encode()


def two_cars_near_each_other(database_url: str, area: dict) -> list[str]:
    """Two cars of different customers inside the area, near enough for one truck to reach both and far
    enough apart (about 5 km) that their markers on the map do not overlap."""
    region = shape(area)
    with session_scope(database_url) as session:
        rows = session.execute(select(Asset.asset_id, Asset.customer_id, Asset.lon, Asset.lat)
                               .where(Asset.kind == "vehicle").order_by(Asset.asset_id)).all()
    cars = [r for r in rows if region.covers(Point(r.lon, r.lat))]
    assert len({c.customer_id for c in cars}) >= 2, "the small demo book has too few cars inside the warning"
    pairs = [(math.dist((a.lon, a.lat), (b.lon, b.lat)), a.asset_id, b.asset_id)
             for a, b in itertools.combinations(cars, 2) if a.customer_id != b.customer_id]
    pairs = [pair for pair in pairs if pair[0] >= 0.05]
    _, first, second = min(pairs)
    return [first, second]


class Watched:
    """A signed-in page whose console errors, script errors and CSP reports are kept."""

    def __init__(self, chromium, base_url: str, key: str, viewport=None):
        self.context = chromium.new_context(viewport=viewport or BIG_SCREEN, locale="en-GB")
        self.context.script_errors = []
        self.context.add_init_script(WATCH_CSP)
        self.console_errors: list[str] = []
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.context.script_errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        sign_in_with_key_owner(self.page, base_url, key)
        expect(self.page.locator("#topbar")).to_be_visible()
        expect(self.page.get_by_test_id("live")).to_contain_text("Live", timeout=LIVE)

    def assert_nothing_ran(self, where: str) -> None:
        page = self.page
        assert page.evaluate("window.__pwned") is None, f"{where}: a payload ran (window.__pwned is set)"
        built = page.evaluate(PAYLOAD_ELEMENTS)
        assert not built, f"{where}: payload markup became elements: {built}"
        reports = page.evaluate("window.__csp")
        assert not reports, f"{where}: the Content-Security-Policy reported violations: {reports}"
        # Signing in asks /v1/me first, which answers 401 (and a wrong password 401s): the only errors a
        # clean page shows.
        unexpected = [e for e in self.console_errors if "status of 401" not in e]
        assert not unexpected, f"{where}: the browser console shows errors: {unexpected}"
        assert not self.context.script_errors, f"{where}: script errors: {self.context.script_errors}"

    def close(self) -> None:
        self.context.close()


def shots(page: Page, name: str) -> None:
    """Screenshots at a desktop and a phone width (to look at by eye), then back to the big screen."""
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # Leaflet redraws after a resize
        shot(page, f"{name}-{width}")
    page.set_viewport_size(BIG_SCREEN)


def hover_tooltip(page: Page, target, tooltip, position=None, attempts: int = 10) -> str:
    """Hover a map feature and return the text of the tooltip it opens. A live update redraws the layers
    (new fan-out counts, the 30 s refresh), closing a tooltip under a still mouse: then hover again."""
    for _ in range(attempts):
        page.mouse.move(1, 1)  # off the map, so the next hover is a fresh mouseover
        target.hover(position=position, force=True)
        try:
            return tooltip.inner_text(timeout=1500)
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"hovering {target} never opened a tooltip ({tooltip})")


def test_hostile_text_from_every_source_renders_literally_and_runs_nowhere(api_server, pg_clean_url, browser):  # noqa: F811
    api = api_server(pg_clean_url, **SMALL_BOOK)
    seed_demo_book()
    keys = {"dispatcher": make_user(pg_clean_url, "dispatcher", DISPATCHER),
            "adjuster": make_user(pg_clean_url, "adjuster", ADJUSTER),
            "supervisor": make_user(pg_clean_url, "supervisor", "Sam Supervisor")}
    dispatcher, adjuster, supervisor = (api.as_user(keys[r]) for r in ("dispatcher", "adjuster", "supervisor"))
    now = utcnow()

    stored = dispatcher.post("/v1/alerts?confirm=true", data=hostile_alert(now), headers={"Content-Type": "application/xml"})
    assert stored.status_code == 201, f"the hostile CAP alert was not stored: {stored.text}"
    alert = stored.json()["alerts"][0]
    shown = dispatcher.get(f"/v1/alerts/{alert['id']}").json()
    assert shown["infos"][0]["headline"] == HEADLINE, "the API must keep the headline exactly as published"

    window = {"hazard": HAZARD, "chain_ids": [alert["chain_id"]],
              "window_start": (now - timedelta(hours=6)).isoformat(), "window_end": (now + timedelta(days=2)).isoformat()}
    refused = supervisor.post("/v1/cat-events", json={**window, "code": HOSTILE_CAT_CODE})
    assert refused.status_code == 400, f"a CAT code with markup must be refused, got {refused.status_code}"
    assert refused.json()["error"]["field"] == "code", f"the refusal must name the code field: {refused.text}"
    event = supervisor.post("/v1/cat-events", json={**window, "code": CAT_CODE})
    assert event.status_code == 201, f"the CAT event was not declared: {event.text}"

    claims = []
    for index, asset_id in enumerate(two_cars_near_each_other(pg_clean_url, event.json()["area"])):
        filed = dispatcher.post("/v1/claims", json={"asset_id": asset_id, "description": DESCRIPTION,
                                                    "loss_at": (now - timedelta(hours=1, minutes=index)).isoformat(),
                                                    "vehicle_in_water": True})
        assert filed.status_code == 201, f"claim {index} was not filed: {filed.text}"
        claims.append(filed.json())
    assert claims[0]["cat_code"] == CAT_CODE, "the claims should join the green channel of the CAT event"

    lon, lat = claims[0]["location"]["lon"], claims[0]["location"]["lat"]
    provider = dispatcher.post("/v1/rescue/providers", json={
        "name": PROVIDER, "kind": "flatbed", "capacity": 3, "phone": "+8657400000001",
        "location": [round(lon + 0.1, 5), round(lat - 0.06, 5)]})
    assert provider.status_code == 201, f"the provider was not registered: {provider.text}"
    jobs = []
    for claim in claims:
        job = dispatcher.post("/v1/rescue/jobs", json={"claim_id": claim["id"], "dispatch": False, "note": JOB_NOTE})
        assert job.status_code == 201, f"the rescue job was not opened: {job.text}"
        jobs.append(job.json())
    assigned = dispatcher.post(f"/v1/rescue/jobs/{jobs[0]['id']}/assign", json={"provider_id": provider.json()["id"]})
    assert assigned.status_code == 200, f"the first job was not offered to the provider: {assigned.text}"
    accepted = dispatcher.post(f"/v1/rescue/jobs/{jobs[0]['id']}/status", json={
        "status": "accepted", "provider_id": provider.json()["id"], "eta_minutes": 25})
    assert accepted.status_code == 200, f"the provider did not accept the first job: {accepted.text}"

    claim_id = claims[0]["id"]
    for body in ({"to": "surveyed", "note": STAGE_NOTE}, {"to": "assessed", "estimate": "60000"}):
        moved = adjuster.post(f"/v1/claims/{claim_id}/transition", json=body)
        assert moved.status_code == 200, f"the claim did not move to {body['to']}: {moved.text}"
    advance = adjuster.post(f"/v1/claims/{claim_id}/payments", headers={"Idempotency-Key": uuid.uuid4().hex},
                            json={"amount": "20000.00", "kind": "advance", "reason": REASON})
    assert advance.status_code == 201, f"the advance was not requested: {advance.text}"
    assert advance.json()["state"] == "pending_approval", "20,000 is above an adjuster's authority"

    # --- the operations map: cards, tooltips, the popup, the CAT label and side panel ---------------
    watched = Watched(browser, api.base_url, keys["dispatcher"])
    page = watched.page
    expect(page.get_by_test_id("who")).to_contain_text(DISPATCHER)
    card = page.get_by_test_id("warning-card")
    expect(card).to_contain_text(HEADLINE, timeout=LIVE)
    expect(card).to_contain_text(EVENT)
    area = page.locator(".leaflet-areas-pane path.leaflet-interactive").first
    expect(area).to_be_visible()
    corner = {"x": 12, "y": 12}  # inside the rectangle, clear of markers
    shown = hover_tooltip(page, area, page.locator(".leaflet-tooltip", has_text="Typhoon"), position=corner)
    page.wait_for_timeout(500)  # time enough for an injected <img src=x> to fail to load and fire onerror
    assert page.evaluate("window.__pwned") is None, "hovering the warning area ran the headline's markup"
    assert HEADLINE in shown, f"the area's tooltip should show the headline as text, it shows {shown!r}"
    area.click(position=corner, force=True)
    expect(page.get_by_test_id("area-popup")).to_contain_text(HEADLINE)
    selected = page.get_by_test_id("selected-area")
    expect(selected).to_contain_text(HEADLINE)
    expect(selected).to_contain_text(INSTRUCTION)
    expect(page.get_by_test_id("cat-event")).to_contain_text(HAZARD)
    expect(page.locator(".cat-label")).to_contain_text(CAT_CODE)
    truck_tip = hover_tooltip(page, page.locator(".truck").first, page.locator(".leaflet-tooltip .provider-tooltip"))
    assert PROVIDER in truck_tip, f"the truck's tooltip should show the provider's name as text: {truck_tip!r}"
    job_markers = page.locator(".leaflet-jobs-pane path.leaflet-interactive")
    expect(job_markers).to_have_count(2)
    job_tips = [hover_tooltip(page, job_markers.nth(index), page.locator(".leaflet-tooltip .job-tooltip"))
                for index in range(2)]
    assert any(PROVIDER in tip for tip in job_tips), f"the accepted job's tooltip must name the provider: {job_tips}"
    watched.assert_nothing_ran("operations map")
    shots(page, "xss-1-map")

    # --- the dispatch board: job notes, provider names, the assignment toast --------------------
    page.get_by_test_id("nav-dispatch").click()
    pending = page.locator(f'[data-testid=job-card][data-job-id="{jobs[1]["id"]}"]')
    accepted_card = page.locator(f'[data-testid=job-card][data-job-id="{jobs[0]["id"]}"]')
    expect(pending.get_by_test_id("job-note")).to_have_text(JOB_NOTE)
    expect(accepted_card.locator(".assigned")).to_contain_text(PROVIDER)
    expect(pending.locator(".nearest")).to_contain_text(PROVIDER)
    expect(page.get_by_test_id("provider-row")).to_contain_text(PROVIDER)
    pending.get_by_test_id("assign").first.click()
    expect(page.get_by_test_id("toast").first).to_contain_text(PROVIDER)
    expect(pending).to_have_attribute("data-state", "offered")
    watched.assert_nothing_ran("dispatch board")
    shots(page, "xss-2-dispatch")
    watched.close()

    # --- the fast-track queue and the claim view: description, notes, staff names -----------------
    watched = Watched(browser, api.base_url, keys["adjuster"])
    page = watched.page
    expect(page.get_by_test_id("who")).to_contain_text(ADJUSTER)
    page.get_by_test_id("tab-waiting_on_customer").click()  # assessed, its documents still missing
    row = page.locator(f'[data-testid=queue-row][data-claim-id="{claim_id}"]')
    expect(row).to_be_visible()
    row.click()
    expect(page.get_by_test_id("claim-view")).to_contain_text(CAT_CODE)
    row.click()
    view = page.get_by_test_id("claim-view")
    expect(view).to_contain_text(DESCRIPTION)
    expect(view.get_by_test_id("history")).to_contain_text(STAGE_NOTE)
    expect(view.get_by_test_id("history")).to_contain_text(ADJUSTER)
    expect(view).to_contain_text(PROVIDER)  # the claim's rescue line
    watched.assert_nothing_ran("fast-track queue")
    shots(page, "xss-3-queue")
    watched.close()

    # --- the approver's inbox: requester name and reason ------------------------------------------
    watched = Watched(browser, api.base_url, keys["supervisor"])
    page = watched.page
    page.get_by_test_id("nav-approvals").click()
    item = page.get_by_test_id("approval")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(ADJUSTER)
    expect(item).to_contain_text(REASON)
    expect(item).to_contain_text(CAT_CODE)
    watched.assert_nothing_ran("approvals inbox")
    shots(page, "xss-4-approvals")
    pending_payment = supervisor.get(f"/v1/claims/{claim_id}/payments").json()["payments"][0]
    assert pending_payment["state"] == "pending_approval", "looking at the inbox must not decide a payment"

    # The policy is the second line: markup that did get into the page still cannot run its handler.
    page.evaluate("""() => { const box = document.createElement('div');
      box.innerHTML = '<img src="/static/favicon.svg" onload="window.__pwned=99">'; document.body.append(box); }""")
    page.wait_for_function("window.__csp.length > 0")
    reports = page.evaluate("window.__csp")
    assert any(r.startswith("script-src") for r in reports), f"the inline handler was not blocked by CSP: {reports}"
    assert page.evaluate("window.__pwned") is None, "an inline handler ran despite the Content-Security-Policy"
    watched.close()

    # --- the customer's claim page: their own name and the truck coming for them ------------------
    watched = Watched(browser, api.base_url, make_user(pg_clean_url, "customer", CUSTOMER,
                                                       customer_id=claims[0]["customer_id"]))
    page = watched.page
    expect(page.get_by_test_id("who")).to_contain_text(CUSTOMER)
    expect(page.get_by_test_id("customer-claim")).to_contain_text(PROVIDER)
    expect(page.get_by_test_id("green-channel")).to_be_visible()  # the green channel in words, not its code
    watched.assert_nothing_ran("customer claim page")
    shots(page, "xss-5-customer")
    watched.close()


# --- the headers, over plain HTTP ----------------------------------------------------------------

def assert_security_headers(response, what: str) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    for name, value in {"default-src": ["'self'"], "script-src": ["'self'"], "object-src": ["'none'"],
                        "base-uri": ["'none'"], "frame-ancestors": ["'none'"], "form-action": ["'self'"]}.items():
        assert directives.get(name) == value, f"{what}: CSP {name} should be {value}, the policy is {policy!r}"
    loose = [d for d, sources in directives.items() if {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(sources)]
    assert not loose, f"{what}: CSP directives {loose} allow inline code or any origin: {policy!r}"
    assert response.headers.get("X-Content-Type-Options") == "nosniff", f"{what}: X-Content-Type-Options missing"
    assert response.headers.get("Referrer-Policy") == "no-referrer", f"{what}: Referrer-Policy missing"
    assert response.headers.get("X-Frame-Options") == "DENY", f"{what}: X-Frame-Options missing"


def test_every_response_carries_the_security_headers(api_server, pg_clean_url):
    api = api_server(pg_clean_url)
    staff = api.as_user(make_user(pg_clean_url, "dispatcher", "Dee"))
    page = api.get("/")
    assert page.status_code == 200 and "<main" in page.text, "the console page did not load"
    assert_security_headers(page, "the console page /")
    script = api.get("/static/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"], "app.js was not served"
    assert_security_headers(script, "a static script")
    assert_security_headers(api.get("/static/vendor/leaflet/leaflet.js"), "the map library")
    alerts = staff.get("/v1/alerts")
    assert alerts.status_code == 200, f"GET /v1/alerts failed: {alerts.text}"
    assert_security_headers(alerts, "an API answer")
    unauthenticated = api.get("/v1/console/me")
    assert unauthenticated.status_code == 401, "the console's /me must need a session"
    assert_security_headers(unauthenticated, "an API error")
    assert_security_headers(api.get("/no/such/page"), "a 404")
    with staff.session.get(api.base_url + "/v1/console/events", headers={"Authorization": f"Bearer {staff.key}"},
                           stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream"), "the event stream did not open"
        assert_security_headers(stream, "the event stream")


class _InlineCode(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        self.found += [f"<{tag} {name}=...>" for name in names if name.startswith("on") or name == "style"]
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        self.found += ["<style> block"] if tag == "style" else []


def test_the_console_has_no_inline_code_and_no_html_sinks():
    assert CONSOLE_FILES, "no console files found under web/static"
    # Leaflet parses a string handed to a tooltip, a popup or a divIcon's html as HTML; ours get elements.
    sinks = re.compile(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function\("
                       r"|(bindTooltip|bindPopup|setContent)\(\s*[`'\"]|\bhtml:\s*[`'\"]")
    for path in CONSOLE_FILES:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".js":
            found = sorted({m.group(0) for m in sinks.finditer(text)})
            assert not found, f"{path.relative_to(ROOT)} parses strings as markup or code: {found}"
        else:
            parser = _InlineCode()
            parser.feed(text)
            assert not parser.found, f"{path.relative_to(ROOT)} has inline code or styles the CSP refuses: {parser.found}"
