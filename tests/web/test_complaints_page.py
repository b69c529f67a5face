"""The complaints page in headless Chromium (Playwright, Debian's chromium): a supervisor reads the open
complaints nearest their 24-hour clock first with the overdue one marked, at 1280 and 390 px, in English and
Chinese and in large type (no sideways scrolling, axe-core clean, no code or key shown, one language); a
complaint written as markup stays text; a new complaint arrives live; the answer, double-clicked, is stored
and sent by SMS once; and the customer reads it on their own page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from store.db import session_scope
from store.models import Complaint, Notification
from store.types import utcnow
from tests.greenchannel.conftest import seed_book
from tests.support import make_user
from tests.web.people import horizontal_overflow, signed_link_path
from tests.web.test_console import LIVE, browser, shot  # noqa: F401 - browser is a fixture
from tests.web.test_console_language import console_texts, layout_problems, own_texts, problems
from tests.web.test_ops_pages import open_console, staff

ALICE = "C0000001"  # seed_book's customer with a car (A00000001)
HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> Nobody called me back'
ANSWER = "Sorry for the wait. Your adjuster will call you today before 18:00."
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def complaints_scene(api_server, pg_clean_url):
    """Alice's car claim and two complaints: one written as markup about the claim, and a later one with no
    claim whose answer clock has run out."""
    seed_book(pg_clean_url)
    api = api_server(pg_clean_url)
    alice = api.as_user(make_user(pg_clean_url, "customer", "Alice", customer_id=ALICE))
    filed = alice.post("/v1/claims", json={"asset_id": "A00000001", "loss_at": utcnow().isoformat()})
    assert filed.status_code == 201, filed.text
    hostile = alice.post("/v1/customer/complaints", json={"text": HOSTILE, "claim_id": filed.json()["id"]}).json()
    late = alice.post("/v1/customer/complaints", json={"text": "Still waiting for the truck."}).json()
    with session_scope(pg_clean_url) as session:
        session.get(Complaint, late["id"]).answer_due_at = utcnow() - timedelta(hours=2)
    return {"api": api, "alice": alice, "hostile": hostile, "late": late,
            "supervisor": staff(pg_clean_url, "supervisor", "Zhou Min", "zhou")}


def cards(page: Page):
    return page.get_by_test_id("complaint")


def read_every_way(page: Page, language: str, keys: set[str], where: str, size: dict) -> None:
    """The page as it is and in large type: one language, no code or key, no sideways scrolling, axe clean."""
    found = [f"{where}: {problem}" for problem in problems(own_texts(page), language, keys)]
    found += [f"{where}: {problem}" for problem in layout_problems(page)]
    page.get_by_test_id("large-type").click()
    page.set_viewport_size(SIZES["phone"])
    page.wait_for_timeout(250)
    if horizontal_overflow(page) > 0:
        found.append(f"{where}, large type: scrolls sideways by {horizontal_overflow(page)} px at 390 px")
    page.get_by_test_id("large-type").click()
    page.set_viewport_size(size)
    assert not found, "the complaints page shows what people should not read:\n" + "\n".join(found)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_supervisor_reads_complaints_by_their_clock_in_both_languages(complaints_scene, browser, size):  # noqa: F811
    scene = complaints_scene
    keys = {key for key in console_texts()["en"] if "." in key}
    for language, locale in (("en", "en-GB"), ("zh-CN", "zh-CN")):
        page = open_console(browser, scene["api"].base_url, scene["supervisor"], "complaints", language=locale,
                            viewport=SIZES[size])
        expect(cards(page)).to_have_count(2)
        where = f"complaints ({language}, {size})"
        assert cards(page).first.get_attribute("data-overdue") == "true", f"{where}: the overdue complaint is not first"
        assert cards(page).nth(1).get_attribute("data-overdue") == "false", f"{where}: the fresh one is marked overdue"
        overdue = "Overdue by" if language == "en" else "已超时"
        expect(cards(page).first.get_by_test_id("complaint-clock")).to_contain_text(overdue)
        hostile = cards(page).nth(1).get_by_test_id("complaint-text")
        assert hostile.inner_text() == HOSTILE, f"{where}: the complaint's markup was not shown as text"
        assert page.locator("#view img").count() == 0, f"{where}: the complaint's markup became an element"
        assert page.evaluate("window.__xss") is None, f"{where}: the complaint's markup ran"
        phone = cards(page).first.get_by_test_id("complaint-phone").inner_text()
        assert "****" in phone, f"{where}: the customer's phone is not masked: {phone!r}"
        about = cards(page).nth(1).locator("h2").inner_text()
        assert about == ("Vehicle claim · Reported" if language == "en" else "车辆理赔 · 报案"), \
            f"{where}: the claim is not named in words: {about!r}"
        read_every_way(page, language, keys, where, SIZES[size])
        assert not page.context.script_errors, f"{where}: script errors {page.context.script_errors}"
        shot(page, f"complaints-{size}-{language}")
        page.context.close()


def test_an_answer_double_clicked_goes_once_and_the_customer_reads_it(complaints_scene, browser, pg_clean_url):  # noqa: F811
    scene = complaints_scene
    page = open_console(browser, scene["api"].base_url, scene["supervisor"], "complaints")
    expect(cards(page)).to_have_count(2)
    scene["alice"].post("/v1/customer/complaints", json={"text": "And the hotline hung up on me."})
    expect(cards(page)).to_have_count(3, timeout=LIVE)  # arrived on the live stream, no reload

    late = cards(page).first
    late.get_by_test_id("answer-send").click()
    expect(late.get_by_test_id("answer-problem")).to_have_text("Please write an answer.")
    late.get_by_test_id("answer-text").fill(ANSWER)
    late.get_by_test_id("answer-send").dblclick()
    expect(page.get_by_test_id("toast").first).to_have_text("Answer sent to the customer by SMS.")
    expect(cards(page)).to_have_count(2)
    page.get_by_test_id("show-answered").check()
    answered = page.locator("[data-testid=complaint][data-state=answered]")
    expect(answered).to_have_count(1)
    expect(answered.get_by_test_id("complaint-answer")).to_contain_text(ANSWER)
    expect(answered.get_by_test_id("complaint-answer")).to_contain_text("Zhou Min")
    assert not page.context.script_errors, f"script errors: {page.context.script_errors}"
    page.context.close()
    with session_scope(pg_clean_url) as session:
        sms = session.query(Notification).filter(Notification.kind == "complaint_answer").all()
        bodies = [message.body for message in sms]
    assert len(bodies) == 1, f"a double-clicked answer saved {len(bodies)} SMS"
    assert ANSWER in bodies[0], f"the SMS does not carry the answer: {bodies[0]!r}"

    context = browser.new_context(viewport=SIZES["phone"], locale="zh-CN")
    context.script_errors = []
    customer = context.new_page()
    customer.on("pageerror", lambda error: context.script_errors.append(str(error)))
    customer.goto(scene["api"].base_url + signed_link_path(ALICE) + "?lang=zh-CN")
    mine = customer.get_by_test_id("my-complaint")
    expect(mine).to_have_count(3)
    expect(customer.locator("[data-testid=my-complaint][data-state=answered]")).to_contain_text("我们的答复")
    expect(customer.get_by_test_id("complaint-answer")).to_have_text(ANSWER)
    assert customer.locator(".customer img").count() == 0, "the customer's own markup became an element"
    assert horizontal_overflow(customer) <= 0, "the customer's complaints scroll sideways at 390 px"
    customer.get_by_test_id("my-complaints").scroll_into_view_if_needed()
    shot(customer, "customer-complaint-answered-zh")
    context.close()
