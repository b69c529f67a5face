"""The customer's pages in headless Chromium (Playwright, Debian's chromium), at a phone's 390×844 (and
360 px for overflow) and a desktop's 1280×800: a customer whose car flooded in the typhoon signs in with the code from the SMS
outbox, follows the six stages, sends a photo in one step, reports another loss, asks for rescue and
watches the truck come, complains, and withdraws a claim. Every view is checked for horizontal overflow
in both languages and in large type, for touch targets, and by axe-core. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from store.types import utcnow
from tests.greenchannel.conftest import real_jpeg
from tests.support import make_user
from tests.web.people import axe_violations, codes_in_outbox, horizontal_overflow, newest_code, phone_of
from tests.web.test_console import LIVE, browser, green_channel_scene, shot  # noqa: F401 - browser is a fixture

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
CJK = re.compile(r"[\u4e00-\u9fff]")
STAGE_NAMES_EN = ["Claim received", "Damage inspected", "Loss valued", "Documents checked",
                  "Decision on your claim", "Paid and closed"]
STAGE_NAMES_ZH = ["已收到报案", "已查看损失", "已核定损失", "单证已审核", "理赔决定", "已赔付结案"]


def new_page(chromium, size: dict, **options) -> Page:
    context = chromium.new_context(viewport=size, locale="en-GB", **options)
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    return page


def small_targets(page: Page) -> list[str]:
    """Buttons, links and choices on the customer's page smaller than 44 × 44 CSS pixels."""
    return page.evaluate("""() => [...document.querySelectorAll(
        '#topbar button, .customer button, .customer a, .customer .upload-button, .customer .choice, dialog[open] button')]
      .filter(e => e.offsetParent !== null)
      .map(e => [e.getBoundingClientRect(), e.textContent.trim().slice(0, 30)])
      .filter(([r]) => r.height < 43.5 || r.width < 43.5)
      .map(([r, text]) => `${text} ${Math.round(r.width)}x${Math.round(r.height)}`)""")


def check_view(page: Page, name: str, *, large: bool, language: str) -> None:
    """The view as it is: no horizontal scrolling, big enough targets, nothing axe calls serious, and no
    page text in the other language; then a screenshot."""
    page.wait_for_timeout(200)
    where = f"{name} ({language}, {'large' if large else 'normal'} type, {page.viewport_size['width']} px)"
    assert horizontal_overflow(page) <= 0, f"{where}: the page scrolls sideways by {horizontal_overflow(page)} px"
    if page.viewport_size["width"] == SIZES["phone"]["width"]:  # the smallest phones in use, too
        page.set_viewport_size({"width": 360, "height": 740})
        page.wait_for_timeout(100)
        narrow = horizontal_overflow(page)
        page.set_viewport_size(SIZES["phone"])
        assert narrow <= 0, f"{where}: at 360 px the page scrolls sideways by {narrow} px"
    small = small_targets(page)
    assert not small, f"{where}: touch targets under 44 px: {small}"
    violations = axe_violations(page)
    assert not violations, f"{where}: axe-core finds serious or critical violations: {violations}"
    stages = page.get_by_test_id("customer-stages")
    if stages.count():
        text = stages.inner_text()
        if language == "en":
            assert not CJK.search(text), f"{where}: Chinese text on the English stage list: {text!r}"
        else:
            assert not re.search(r"[A-Za-z]{3,}", text), f"{where}: English words on the Chinese stage list: {text!r}"
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"customer-{name}-{language}-{'large' if large else 'normal'}-{page.viewport_size['width']}")


def every_way_of_reading(page: Page, base_url: str, route: str, name: str) -> None:
    """The same view in both languages, in normal and large type, chosen by the address as a link would."""
    for language in ("en", "zh-CN"):
        for large in (False, True):
            page.goto(f"{base_url}/?lang={language}&type={'large' if large else 'normal'}{route}")
            expect(page.get_by_test_id("customer-page")).to_be_visible()
            page.wait_for_load_state("networkidle")
            expect(page.locator("[data-testid=customer-claim], [data-testid=report-form], [data-testid=rescue-form]")
                   .first).to_be_visible()
            assert page.evaluate("document.documentElement.lang") == language, f"{name}: ?lang={language} not applied"
            assert page.evaluate("document.documentElement.classList.contains('large')") == large, \
                f"{name}: ?type=large {'not applied' if large else 'stuck on'}"
            check_view(page, name, large=large, language=language)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_customer_follows_their_storm_from_a_phone_or_a_desktop(api_server, sqlite_url, browser, size):  # noqa: F811
    scene = green_channel_scene(api_server, sqlite_url, claims=2, jobs=0)
    base = scene.api.base_url
    claim = scene.claims[0]
    adjuster, dispatcher = scene.as_role("adjuster"), scene.as_role("dispatcher")
    for body in ({"to": "surveyed"}, {"to": "assessed", "estimate": "48000"}):
        moved = adjuster.post(f"/v1/claims/{claim['id']}/transition", json=body)
        assert moved.status_code == 200, f"moving the claim to {body['to']}: {moved.text}"
    customer_id = claim["customer_id"]
    make_user(scene.database_url, "customer", "陈阿婆", customer_id=customer_id)
    admin = scene.api.as_user(make_user(scene.database_url, "admin", "Root"))
    location = claim["location"]
    page = new_page(browser, SIZES[size], geolocation={"longitude": location["lon"], "latitude": location["lat"]},
                    permissions=["geolocation"])

    # Signing in: the phone number, then the six-digit code the SMS carried (read from the outbox).
    page.goto(base + "/?lang=en")
    expect(page.get_by_test_id("customer-sign-in")).to_be_visible()
    check_view(page, "sign-in", large=False, language="en")
    before = len(codes_in_outbox(admin, customer_id))
    page.get_by_test_id("phone").fill(phone_of(customer_id))
    page.get_by_test_id("send-code").click()
    expect(page.get_by_test_id("code-sent")).to_contain_text("a code is on its way")
    code_field = page.get_by_test_id("code")
    assert code_field.get_attribute("autocomplete") == "one-time-code", "the code field is not marked one-time-code"
    assert code_field.get_attribute("inputmode") == "numeric", "the code field does not ask for the number pad"
    code = newest_code(admin, customer_id, before)
    code_field.fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_test_id("verify-code").click()
    expect(page.get_by_test_id("customer-error")).to_contain_text("That code is not right")
    code_field.fill(code)
    page.get_by_test_id("verify-code").click()

    # The six stages, in plain words, the current one announced.
    stages = page.get_by_test_id("customer-stages").locator("li")
    expect(stages).to_have_count(6)
    expect(page.get_by_test_id("customer-stages").locator("li .name")).to_have_text(STAGE_NAMES_EN)
    current = page.locator('[data-testid=customer-stages] li[aria-current="step"]')
    expect(current).to_have_attribute("data-stage", "assessed")
    expect(current.get_by_test_id("stage-detail")).to_contain_text("What happens next")
    expect(page.get_by_test_id("stage-announcer")).to_have_text("Your claim is at step 3 of 6: Loss valued.")
    expect(page.get_by_test_id("green-channel")).to_be_visible()
    assert "CAT-" not in page.get_by_test_id("customer-page").inner_text(), "a raw CAT code is shown to the customer"
    expect(page.get_by_test_id("action-call")).to_have_attribute("href", "tel:4000000000")
    assert re.search(r"[?&]lang=en", page.url), f"the language is not kept in the address: {page.url}"
    every_way_of_reading(page, base, "#/claims", "claim")
    expect(page.get_by_test_id("customer-stages").locator("li .name")).to_have_text(STAGE_NAMES_ZH)

    # The choice is remembered: the bare address opens in Chinese and large type, and says so in the address.
    page.goto(base + "/")
    expect(page.get_by_test_id("customer-page")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?lang=zh-CN&type=large#/claims$"))
    assert page.evaluate("document.documentElement.lang") == "zh-CN", "the language choice was not remembered"
    page.goto(base + "/?lang=en&type=normal#/claims")
    expect(page.get_by_test_id("customer-stages")).to_be_visible()
    # 200% text zoom: the root font size doubled (what a browser's text-only zoom does) still fits.
    page.evaluate("document.documentElement.style.setProperty('font-size', '30px')")
    page.wait_for_timeout(200)
    assert horizontal_overflow(page) <= 0, f"at 200% text the page scrolls sideways by {horizontal_overflow(page)} px"
    expect(page.get_by_test_id("action-rescue")).to_be_visible()
    shot(page, f"customer-claim-text-200-{page.viewport_size['width']}")
    page.evaluate("document.documentElement.style.removeProperty('font-size')")

    # One-step upload: a wrong file is refused with a clear message, a photo is sent on choosing it.
    missing = page.get_by_test_id("missing-document")
    expect(missing).to_have_count(3)
    page.get_by_test_id("file-photos").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"})
    expect(page.get_by_test_id("file-photos-message")).to_have_text(
        "This file cannot be used. Send a photo (JPEG, PNG, WebP or HEIC) or a PDF.")
    page.get_by_test_id("file-photos").set_input_files(
        {"name": "flooded-car.jpg", "mimeType": "image/jpeg", "buffer": real_jpeg()})
    expect(missing).to_have_count(2, timeout=LIVE)
    sent = adjuster.get(f"/v1/claims/{claim['id']}").json()["documents"]["uploaded"]
    assert [d["kind"] for d in sent] == ["photos"], f"the photo did not reach the claim: {sent}"

    # Report a loss: the car inside the storm's area joins the green channel at once.
    every_way_of_reading(page, base, "#/claims/report", "report")
    every_way_of_reading(page, base, "#/claims/rescue", "rescue")
    page.goto(f"{base}/?lang=en&type=normal#/claims")
    page.get_by_test_id("action-report").click()
    expect(page.get_by_test_id("report-form")).to_be_visible()
    car = claim["asset_id"]
    page.locator(f'input[name=asset][value="{car}"]').check()  # the car in the storm
    page.get_by_test_id("loss-flood").check()
    page.get_by_test_id("report-photo").set_input_files(
        {"name": "street.jpg", "mimeType": "image/jpeg", "buffer": real_jpeg()})
    page.get_by_test_id("report-note").fill("Water up to the doors, parked outside the house.")
    page.get_by_test_id("report-submit").click()
    expect(page.get_by_test_id("toast").first).to_contain_text("joined the green channel")
    expect(page).to_have_url(re.compile(r"#/claims/\d+$"))
    reported_id = int(page.url.rsplit("/", 1)[1])
    reported = adjuster.get(f"/v1/claims/{reported_id}").json()
    assert reported["fast_track"] and reported["cat_code"] == scene.cat_event["code"], \
        f"the reported loss did not join the green channel: {reported}"
    assert reported["flags"]["vehicle_in_water"], "a flooded car was not reported as in water"
    assert [d["kind"] for d in reported["documents"]["uploaded"]] == ["photos"], "the report's photo is missing"
    expect(page.get_by_test_id("customer-claim")).to_have_attribute("data-stage", "reported")
    expect(page.get_by_test_id("green-channel")).to_be_visible()

    # I need rescue: the phone's location, someone trapped; then the truck is followed live.
    page.get_by_test_id("action-rescue").click()
    expect(page.get_by_test_id("rescue-form")).to_be_visible()
    page.locator(f'input[name=rescue-asset][value="{car}"]').check()
    page.get_by_test_id("rescue-locate").click()
    expect(page.get_by_test_id("rescue-located")).to_contain_text("Location found")
    page.get_by_test_id("trapped-yes").check()
    page.get_by_test_id("injured-no").check()
    page.get_by_test_id("rescue-submit").click()
    expect(page.get_by_test_id("rescue-state")).to_have_attribute("data-state", re.compile("created|offered"))
    jobs = dispatcher.get("/v1/rescue/jobs").json()["jobs"]
    job = next(j for j in jobs if j["claim_id"] == reported_id)
    assert abs(job["location"]["lon"] - location["lon"]) < 1e-6, "the job is not where the phone said it is"
    assert "trapped" in (job["note"] or ""), f"the job does not say someone is trapped: {job['note']!r}"
    provider = dispatcher.post("/v1/rescue/providers", json={
        "name": "Flatbed 07", "kind": "flatbed", "capacity": 2,
        "location": [round(location["lon"] + 0.02, 5), round(location["lat"] - 0.01, 5)]}).json()
    if job["state"] == "created":
        offered = dispatcher.post(f"/v1/rescue/jobs/{job['id']}/assign", json={"provider_id": provider["id"]})
        assert offered.status_code == 200, f"offering the job: {offered.text}"
        provider_id = provider["id"]
    else:
        provider_id = dispatcher.get(f"/v1/rescue/jobs/{job['id']}").json()["offer"]["provider_id"]
    accepted = dispatcher.post(f"/v1/rescue/jobs/{job['id']}/status",
                               json={"status": "accepted", "provider_id": provider_id, "eta_minutes": 12})
    assert accepted.status_code == 200, f"accepting the job: {accepted.text}"
    expect(page.get_by_test_id("rescue-state")).to_contain_text("About 12 minutes away.", timeout=LIVE)
    on_way = dispatcher.post(f"/v1/rescue/jobs/{job['id']}/status", json={"status": "en_route"})
    assert on_way.status_code == 200, f"reporting en route: {on_way.text}"
    expect(page.get_by_test_id("rescue-state")).to_contain_text("The rescue truck is on its way.", timeout=LIVE)
    check_view(page, "rescue-live", large=False, language="en")

    # Complain: one tap and a few words; a supervisor sees it with its 24-hour answer clock.
    page.get_by_test_id("action-complain").click()
    page.get_by_test_id("complaint-text").fill("Nobody called me back yesterday.")
    page.get_by_test_id("complaint-send").click()
    expect(page.get_by_test_id("complaint-done")).to_contain_text("We will answer you by")
    complaints = scene.as_role("supervisor").get("/v1/complaints").json()["complaints"]
    assert [c["text"] for c in complaints] == ["Nobody called me back yesterday."], f"complaints: {complaints}"
    due = complaints[0]["answer_due_at"]
    assert abs((utcnow() + timedelta(hours=24)).timestamp() - _timestamp(due)) < 600, f"answer clock: {due}"

    # Withdraw, with a confirmation: "keep" changes nothing, "withdraw" ends the claim.
    page.goto(f"{base}/?lang=en#/claims/{claim['id']}")
    expect(page.get_by_test_id("customer-claim")).to_have_attribute("data-stage", "assessed")
    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("withdraw-dialog")).to_be_visible()
    check_view(page, "withdraw-dialog", large=False, language="en")
    page.get_by_test_id("withdraw-keep").click()
    expect(page.get_by_test_id("withdraw-dialog")).to_be_hidden()
    assert adjuster.get(f"/v1/claims/{claim['id']}").json()["stage"] == "assessed", "keeping the claim withdrew it"
    page.get_by_test_id("withdraw").click()
    page.get_by_test_id("withdraw-confirm").click()
    expect(page.get_by_test_id("customer-claim")).to_have_attribute("data-stage", "withdrawn", timeout=LIVE)
    expect(page.get_by_test_id("claim-status")).to_have_text("You withdrew this claim")
    assert not page.context.script_errors, f"script errors: {page.context.script_errors}"

    # Signing out ends the session: the page asks to sign in again.
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("customer-sign-in")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("customer-sign-in")).to_be_visible()
    page.context.close()


def _timestamp(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
