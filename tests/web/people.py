"""Signing people in through the pages, for the Chromium tests: staff with a username and password,
customers with a signed link or the phone-and-code form, and axe-core run against a page."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from identity.rules import hash_secret
from identity.service import issue_customer_link
from store.db import session_scope
from store.models import Customer, User
from store.users import principal_for_key
from tests.support import ROOT, wait_until

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TEST_PASSWORD = "storm-shelter-2021"


def password_for(key: str) -> tuple[str, str, str]:
    """Give the user of this API key a username and password (as `haven users create --username` would
    have); returns (role, username, password)."""
    with session_scope() as session:
        principal = principal_for_key(session, key)
        assert principal is not None, "the API key given to sign in with is unknown"
        user = session.get(User, principal.user_id)
        if user.username is None:
            user.username, user.password_hash = f"{user.role}.{user.id}", hash_secret(TEST_PASSWORD)
        return user.role, user.username, TEST_PASSWORD


def customer_of(key: str) -> str:
    with session_scope() as session:
        principal = principal_for_key(session, key)
        return principal.customer_id


def phone_of(customer_id: str) -> str:
    with session_scope() as session:
        return session.get(Customer, customer_id).phone


def signed_link_path(customer_id: str) -> str:
    """The path of a fresh signed link, as the customer's SMS would carry it."""
    with session_scope() as session:
        url = issue_customer_link(session, customer_id)
    return "/c/" + url.rsplit("/c/", 1)[1]


def sign_in_staff_on_page(page: Page, username: str, password: str) -> None:
    expect(page.get_by_test_id("login")).to_be_visible()
    page.get_by_test_id("sign-in-as-staff").click()
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("staff-sign-in").click()


def sign_in_with_key_owner(page: Page, base_url: str, key: str, wrong_first: bool = False) -> None:
    """Sign in as the owner of this API key the way a person does: staff by password, a customer by the
    signed link in their SMS."""
    role, username, password = password_for(key)
    if role == "customer":
        page.goto(base_url + signed_link_path(customer_of(key)))
        return
    page.goto(base_url + "/")
    if wrong_first:
        sign_in_staff_on_page(page, username, "not-the-password")
        expect(page.get_by_test_id("staff-error")).to_have_text("The username or password is not right.")
    sign_in_staff_on_page(page, username, password)


def codes_in_outbox(admin, customer_id: str) -> list[str]:
    messages = admin.get(f"/v1/outbox?customer_id={customer_id}").json()["messages"]
    return [re.search(r"\d{6}", m["body"]).group(0) for m in messages if m["kind"] == "sign_in_code"]


def newest_code(admin, customer_id: str, before: int) -> str:
    wait_until(lambda: len(codes_in_outbox(admin, customer_id)) > before, timeout=20,
               message=f"the sign-in code SMS for {customer_id} in the outbox")
    return codes_in_outbox(admin, customer_id)[0]


def axe_violations(page: Page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of these impacts on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(Path(AXE).read_text(encoding="utf-8"))  # evaluated, so the page's CSP does not apply
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                           ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in result if v["impact"] in impacts]


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scrolling)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
