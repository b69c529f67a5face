"""The sign-in pages in headless Chromium (Playwright, Debian's chromium), at 390×844 and 1280×800:
staff sign in with the username and one-time password `haven users create` gave them, must choose their
own password first, and sign in with it afterwards; a customer's signed link opens their page the way
they read it, and an expired one says so. Both languages and large type are checked for horizontal
overflow and by axe-core.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.greenchannel.conftest import seed_book
from tests.support import haven, make_user, subprocess_env
from tests.web.people import axe_violations, horizontal_overflow, sign_in_staff_on_page, signed_link_path
from tests.web.test_console import browser, shot  # noqa: F401 - browser is a fixture

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
ALICE = "C0000001"  # seed_book's first customer


def new_page(chromium, size: dict) -> Page:
    context = chromium.new_context(viewport=size, locale="en-GB")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    return page


def check(page: Page, name: str) -> None:
    where = f"{name} at {page.viewport_size['width']} px"
    page.wait_for_timeout(150)
    assert horizontal_overflow(page) <= 0, f"{where}: the page scrolls sideways by {horizontal_overflow(page)} px"
    if page.viewport_size["width"] == SIZES["phone"]["width"]:
        page.set_viewport_size({"width": 360, "height": 740})
        page.wait_for_timeout(100)
        narrow = horizontal_overflow(page)
        page.set_viewport_size(SIZES["phone"])
        assert narrow <= 0, f"{where}: at 360 px the page scrolls sideways by {narrow} px"
    violations = axe_violations(page)
    assert not violations, f"{where}: axe-core finds serious or critical violations: {violations}"
    assert not page.context.script_errors, f"{where}: script errors: {page.context.script_errors}"
    shot(page, f"{name}-{page.viewport_size['width']}")


def create_staff(url: str, role: str, username: str) -> str:
    """`haven users create --username` as an operator runs it: prints a one-time password."""
    run = haven("users", "create", "--role", role, "--name", username.title(), "--username", username,
                env=subprocess_env(HAVEN_DATABASE_URL=url))
    assert run.returncode == 0, f"haven users create failed: {run.stderr}"
    return run.stdout.strip().splitlines()[-1].split()[-1]


@pytest.mark.parametrize("size", list(SIZES))
def test_staff_sign_in_with_a_password_and_replace_the_one_time_password_first(
        api_server, sqlite_url, browser, size):  # noqa: F811
    api = api_server(sqlite_url)
    one_time = create_staff(sqlite_url, "adjuster", "ada.wong")
    page = new_page(browser, SIZES[size])
    page.goto(api.base_url + "/?lang=en")
    for language in ("en", "zh-CN"):
        for large in (False, True):
            page.goto(f"{api.base_url}/?lang={language}&type={'large' if large else 'normal'}")
            page.get_by_test_id("sign-in-as-staff").click()
            expect(page.get_by_test_id("staff-sign-in-form")).to_be_visible()
            check(page, f"sign-in-staff-{language}-{'large' if large else 'normal'}")
    page.goto(api.base_url + "/?lang=en&type=normal")

    sign_in_staff_on_page(page, "ada.wong", "not-the-password")
    expect(page.get_by_test_id("staff-error")).to_have_text("The username or password is not right.")
    sign_in_staff_on_page(page, "ada.wong", one_time)
    expect(page.get_by_test_id("password-change")).to_be_visible()
    expect(page.get_by_test_id("password-sign-out")).to_be_visible()  # a way out without choosing one
    check(page, "sign-in-password-change")
    page.get_by_test_id("current-password").fill(one_time)
    page.get_by_test_id("new-password").fill("typhoon-season-2026")
    page.get_by_test_id("repeat-password").fill("typhoon-season-2025")
    page.get_by_test_id("change-password").click()
    expect(page.get_by_test_id("password-error")).to_have_text("The two new passwords are not the same.")
    page.get_by_test_id("repeat-password").fill("typhoon-season-2026")
    page.get_by_test_id("change-password").click()
    expect(page.locator("#view.page-queue")).to_be_visible()
    expect(page.get_by_test_id("who")).to_have_text("Ada.Wong · adjuster")

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    sign_in_staff_on_page(page, "ada.wong", "typhoon-season-2026")
    expect(page.locator("#view.page-queue")).to_be_visible()
    page.reload()  # the session cookie keeps them signed in
    expect(page.locator("#view.page-queue")).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_customer_sign_in_page_and_signed_links(api_server, sqlite_url, browser, size):  # noqa: F811
    api = api_server(sqlite_url)
    seed_book(sqlite_url)
    make_user(sqlite_url, "customer", "Alice", customer_id=ALICE)
    page = new_page(browser, SIZES[size])
    for language in ("en", "zh-CN"):
        for large in (False, True):
            page.goto(f"{api.base_url}/?lang={language}&type={'large' if large else 'normal'}")
            expect(page.get_by_test_id("customer-sign-in")).to_be_visible()
            check(page, f"sign-in-customer-{language}-{'large' if large else 'normal'}")

    page.goto(api.base_url + "/?lang=en&type=normal")
    page.get_by_test_id("send-code").click()
    expect(page.get_by_test_id("customer-error")).to_have_text("Please enter your mobile phone number.")
    page.get_by_test_id("phone").fill("+86 139 1234 5678")  # nobody's number: answered the same way
    page.get_by_test_id("send-code").click()
    expect(page.get_by_test_id("code-sent")).to_contain_text("If this number is on a policy with us")
    page.get_by_test_id("code").fill("12345")
    page.get_by_test_id("verify-code").click()
    expect(page.get_by_test_id("customer-error")).to_have_text("The code has 6 digits.")

    page.goto(api.base_url + "/c/not-a-real-token-000000")
    expect(page.get_by_test_id("sign-in-notice")).to_have_text(
        "This link has expired. Please sign in with your phone number.")
    check(page, "sign-in-link-expired")

    page.goto(api.base_url + signed_link_path(ALICE) + "?lang=zh-CN&type=large")
    expect(page.get_by_test_id("customer-page")).to_be_visible()
    expect(page.get_by_test_id("customer-page")).to_contain_text("您目前没有理赔案件。")
    assert page.evaluate("document.documentElement.classList.contains('large')"), "?type=large on the link was lost"
    check(page, "customer-no-claim-zh-large")
    page.context.close()
