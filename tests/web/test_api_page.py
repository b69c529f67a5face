"""The browsable API page (GET /api) in headless Chromium (Playwright): Swagger UI over /openapi.json.

It lists the operations, opens one with its roles, body and error answers, and does all of it from this
origin only (no CDN), under the site's strict Content-Security-Policy with no violation and no console
error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.web.test_console import browser  # noqa: F401  (the module's Chromium fixture)
from tests.web.test_console_xss import WATCH_CSP


def test_the_api_page_lists_the_operations_offline_under_the_strict_policy(api_server, sqlite_url, browser):  # noqa: F811
    api = api_server(sqlite_url)
    origin = urlsplit(api.base_url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    console_errors: list[str] = []
    script_errors: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on("request", lambda request: urlsplit(request.url).netloc != origin and elsewhere.append(request.url))

    answer = page.goto(api.base_url + "/api")
    assert answer.status == 200, f"GET /api answered {answer.status}"
    assert "script-src 'self'" in answer.headers["content-security-policy"], \
        f"the API page is not served under the strict policy: {answer.headers.get('content-security-policy')}"

    claims = page.locator(".opblock-post", has=page.locator("[data-path='/v1/claims']")).first
    expect(claims, "POST /v1/claims is not listed on the API page").to_be_visible(timeout=20_000)
    expect(page.locator(".opblock-get", has=page.locator("[data-path='/v1/queue']")).first,
           "GET /v1/queue is not listed on the API page").to_be_visible()
    expect(page.locator(".opblock-post", has=page.locator("[data-path='/v1/claims/{id}/payments']")).first,
           "POST /v1/claims/{id}/payments is not listed on the API page").to_be_visible()
    listed = page.locator(".opblock").count()
    assert listed >= 60, f"the API page lists only {listed} operations"

    claims.locator(".opblock-summary").first.click()
    body = claims.locator(".opblock-body")
    expect(body.get_by_text("x-roles"), "the opened operation does not show the roles it needs").to_be_visible()
    expect(body.locator("h4.opblock-title", has_text="Request body"), "the opened operation does not show its request body").to_be_visible()
    expect(body.locator(".response[data-code='422']"), "the opened operation does not list its 422").to_be_visible()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("X-CSRF-Token").first, "the session's CSRF header is not described").to_be_visible()

    page.wait_for_timeout(500)  # let late style and image loads report
    violations = page.evaluate("window.__csp")
    assert violations == [], f"the API page broke the Content-Security-Policy: {violations}"
    assert console_errors == [], f"the API page logged console errors: {console_errors}"
    assert script_errors == [], f"the API page raised script errors: {script_errors}"
    assert elsewhere == [], f"the API page fetched from another origin: {elsewhere}"
    context.close()
