"""The customer's Call button in headless Chromium at a phone's 390×844: it dials the adjuster holding the
claim, by name, in either language, and the hotline once nobody holds it."""

from __future__ import annotations

from playwright.sync_api import expect

from store.types import utcnow
from tests.greenchannel.conftest import seed_book
from tests.support import make_user
from tests.web.people import axe_violations, horizontal_overflow, signed_link_path
from tests.web.test_claim_adjuster_http import staff_with_phone
from tests.web.test_console import browser, shot  # noqa: F401 - browser is a fixture

ALICE = "C0000001"  # seed_book's customer with a car
PHONE_SIZE = {"width": 390, "height": 844}


def test_the_call_button_dials_the_adjuster_by_name_then_the_hotline(api_server, sqlite_url, browser):  # noqa: F811
    seed_book(sqlite_url)
    api = api_server(sqlite_url)
    alice = api.as_user(make_user(sqlite_url, "customer", "Alice", customer_id=ALICE))
    li = api.as_user(staff_with_phone(sqlite_url, "adjuster", "Li", "+8613900000011"))
    filed = alice.post("/v1/claims", json={"asset_id": "A00000001", "loss_at": utcnow().isoformat(),
                                           "description": "flooded in the car park"})
    assert filed.status_code == 201, filed.text
    claim_id = filed.json()["id"]
    leased = li.post(f"/v1/claims/{claim_id}/lease", json={})
    assert leased.status_code == 200, f"Li could not lease the claim: {leased.text}"

    context = browser.new_context(viewport=PHONE_SIZE, locale="en-GB")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    page.goto(api.base_url + signed_link_path(ALICE) + "?lang=en")
    call = page.get_by_test_id("action-call")
    expect(call).to_have_text("Call your adjuster Li")
    expect(call).to_have_attribute("href", "tel:+8613900000011")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)  # as the customer page's own checks: let the first paint settle before axe
    assert horizontal_overflow(page) <= 0, f"the page scrolls sideways by {horizontal_overflow(page)} px at 390 px"
    assert not axe_violations(page), f"axe-core finds serious violations: {axe_violations(page)}"
    shot(page, "customer-call-adjuster-en-390")

    page.goto(api.base_url + "/?lang=zh-CN#/claims")
    expect(call).to_have_text("致电理赔员 Li")
    expect(call).to_have_attribute("href", "tel:+8613900000011")
    shot(page, "customer-call-adjuster-zh-CN-390")

    released = li.post(f"/v1/claims/{claim_id}/release")
    assert released.status_code == 200, f"Li could not give the claim back: {released.text}"
    page.reload()
    expect(call).to_have_text("致电我们：400-000-0000")
    expect(call).to_have_attribute("href", "tel:4000000000")
    context.close()
