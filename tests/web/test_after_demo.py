"""Each staff role's main task in headless Chromium (Playwright), right after a real `haven demo`.

The demo runs once for the module (the CLI, on its own SQLite file, a small book); the API is served on
what it left, and each person signs in with the username and password the demo wrote to demo-users.txt.
At 1280x800 (and again at 1920x1080, and in Chinese):
- the dispatcher reads the addresses of the customers' call-back rescue requests, finds a tel: link to
  call the customer, reads why each waits (left for a dispatcher to assign by hand), runs the batch (what
  `haven run` does every few seconds), which leaves those requests alone, and assigns one by hand;
- an adjuster finds a claim by its customer's name and takes it, and reminds a customer who owes documents;
- the supervisor approves the advance whose bank account is not in yet, with an override reason;
- the supervisor, on the operations pages, finds the demo customer among those the typhoon warning reached,
  dismisses a CAT proposal of a second storm with a reason, and reads the health of a feed that fails.
No page scrolls sideways, none shows a raw code or the other language, and axe-core finds no serious or
critical violation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from greenchannel import catevents
from greenchannel.demo import CALL_BACK_NOTE
from greenchannel.service import run_unit
from store.db import session_scope
from store.models import AuditEvent, CatEvent, Claim, Customer, Payment, RescueJob, User
from tests.greenchannel.conftest import PLACES
from tests.greenchannel.test_catevents_dedupe import _chain, _square
from tests.support import free_port, haven, subprocess_env, wait_until
from tests.web.people import horizontal_overflow, sign_in_staff_on_page
from tests.web.test_console import (
    LIVE,
    SMALL_BOOK,
    browser,  # noqa: F401  (the module's Chromium fixture)
    shot,
)
from tests.web.test_dispatch_board import assert_board_reads_well, card_of
from tests.web.test_ops_pages import assert_accessible, assert_reads_well

SIZES = ({"width": 1280, "height": 800}, {"width": 1920, "height": 1080})


@dataclass
class Demo:
    url: str
    sign_ins: dict[str, tuple[str, str]]  # role -> (username, password), the first of each role
    keys: dict[str, str]  # role -> API key, the first of each role


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("after-demo")
    url = f"sqlite:///{folder / 'haven.sqlite3'}"
    ran = haven("demo", env=subprocess_env(HAVEN_DATABASE_URL=url, HAVEN_REDIS_URL="", **SMALL_BOOK), timeout=600)
    assert ran.returncode == 0, f"`haven demo` failed:\n{ran.stdout}\n{ran.stderr}"
    sign_ins, keys = {}, {}
    for line in (folder / "demo-users.txt").read_text().splitlines():
        username, password, role = line.split()
        sign_ins.setdefault(role, (username, password))
    for line in (folder / "demo-keys.txt").read_text().splitlines():
        keys.setdefault(line.split()[0], line.split()[-1])
    return Demo(url, sign_ins, keys)


def open_as(browser, base_url: str, demo: Demo, role: str, hash_: str, locale: str = "en-GB",  # noqa: F811
            viewport: dict = SIZES[0]) -> Page:
    """Sign in on the form with the demo's password for this role, on a screen in China Standard Time."""
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Asia/Shanghai")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    page.goto(f"{base_url}/")
    sign_in_staff_on_page(page, *demo.sign_ins[role])
    expect(page.locator("#topbar")).to_be_visible()
    page.goto(f"{base_url}/#/{hash_}")
    return page


def check_everywhere(browser, page: Page, base_url: str, demo: Demo, role: str, hash_: str, ready,  # noqa: F811
                     where: str, reads_well=None) -> None:
    """The page as it is now at both sizes in English, then in Chinese at 1920x1080: it reads well (no
    sideways scrolling, only its language, no raw code) and axe-core finds nothing serious."""
    def check(on: Page, language: str, size: dict) -> None:
        label = f"{where} at {size['width']} px in {language}"
        if reads_well is not None:
            reads_well(on, label, language)
        else:
            assert_reads_well(on, language, label)
            assert_accessible(on, label)

    for size in SIZES:
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        check(page, "en-GB", size)
    chinese = open_as(browser, base_url, demo, role, hash_, "zh-CN", SIZES[1])
    ready(chinese)
    check(chinese, "zh-CN", SIZES[1])
    chinese.context.close()


def board_reads_well(page: Page, where: str, language: str) -> None:
    assert_board_reads_well(page, where, chinese=language == "zh-CN")


def test_the_dispatcher_calls_reads_why_and_assigns_a_call_back_by_hand(demo, api_server, browser):  # noqa: F811
    api = api_server(demo.url)
    dispatcher = api.as_user(demo.keys["dispatcher"])
    jobs = dispatcher.get("/v1/rescue/jobs", params={"state": "created"}).json()["jobs"]
    call_backs = [job for job in jobs if job["note"] == CALL_BACK_NOTE]
    assert len(call_backs) == 3, f"the demo should leave three call-back requests pending, found {len(call_backs)}"
    assert all(job["held_until"] for job in call_backs), "the call-back requests are not left for the dispatcher"

    page = open_as(browser, api.base_url, demo, "dispatcher", "dispatch")
    job = call_backs[0]
    card = card_of(page, job["id"])
    expect(card).to_be_visible(timeout=LIVE)
    expect(card.get_by_test_id("job-address")).to_have_text(job["address"])
    expect(card.get_by_test_id("customer-name")).to_have_text(job["customer_name"])
    with session_scope(demo.url) as session:
        phone = session.get(Customer, job["customer_id"]).phone
    expect(card.get_by_test_id("call")).to_have_attribute("href", f"tel:{phone}")
    expect(card.get_by_test_id("unplaced-reason")).to_contain_text(re.compile(
        r"Left for a dispatcher to assign by hand: no automatic offer until \d\d:\d\d CST \(Beijing\); "
        r"nearest free truck .+, \d+(\.\d)? km\."))
    shot(page, "after-demo-dispatch-1280-en")

    page.get_by_test_id("batch").click()  # what `haven run` does every few seconds
    report = page.get_by_test_id("batch-report")
    expect(report).to_contain_text("3 held for dispatchers to assign by hand, left out of the batch.")
    with session_scope(demo.url) as session:
        states = [session.get(RescueJob, j["id"]).state for j in call_backs]
    assert states == ["created"] * 3, f"the batch offered a call-back request meant for the dispatcher: {states}"

    page.wait_for_load_state("networkidle")
    card.get_by_test_id("choose").click()
    panel = card.get_by_test_id("assign-panel")
    choice = panel.get_by_test_id("assign").first
    expect(choice).to_be_visible(timeout=LIVE)
    truck = int(choice.get_attribute("data-provider-id"))
    choice.click()
    expect(card).to_have_attribute("data-state", "offered", timeout=LIVE)
    with session_scope(demo.url) as session:
        stored = session.get(RescueJob, job["id"])
        offered_to, held_until = stored.provider_id, stored.held_until
    assert offered_to == truck, f"the job went to truck {offered_to}, not to the one the dispatcher chose ({truck})"
    assert held_until is None, "the hold outlived the dispatcher's assignment"
    check_everywhere(browser, page, api.base_url, demo, "dispatcher", "dispatch",
                     lambda p: expect(p.get_by_test_id("job-card").first).to_be_visible(timeout=LIVE),
                     "dispatch board after the demo", board_reads_well)
    page.context.close()


def test_an_adjuster_finds_and_takes_a_claim_and_reminds_a_customer(demo, api_server, browser):  # noqa: F811
    api = api_server(demo.url)
    adjuster, admin = api.as_user(demo.keys["adjuster"]), api.as_user(demo.keys["admin"])
    workable = adjuster.get("/v1/queue", params={"tab": "workable"}).json()["queue"]
    assert workable, "after the demo the adjuster has no workable claim"
    sought = workable[len(workable) // 2]

    page = open_as(browser, api.base_url, demo, "adjuster", "queue")
    rows = page.get_by_test_id("queue-row")
    expect(rows.first).to_be_visible(timeout=LIVE)
    page.get_by_test_id("queue-search").fill(sought["customer_name"])
    page.get_by_test_id("queue-search").press("Enter")
    found = page.locator(f'[data-testid=queue-row][data-claim-id="{sought["claim_id"]}"]')
    expect(found).to_have_count(1)
    found.click()
    view = page.get_by_test_id("claim-view")
    view.get_by_test_id("take-this").click()
    expect(view.get_by_test_id("lease")).to_contain_text("Leased to you")
    with session_scope(demo.url) as session:
        holder = session.get(Claim, sought["claim_id"]).lease_holder_id
        me = session.scalar(select(User.id).where(User.username == demo.sign_ins["adjuster"][0]))
    assert holder == me, f"the claim taken in the page is leased to user {holder}, not to the adjuster ({me})"

    page.get_by_test_id("queue-search-clear").click()
    page.get_by_test_id("tab-waiting_on_customer").click()
    row = rows.first
    expect(row.get_by_test_id("remind")).to_be_visible(timeout=LIVE)
    reminded = int(row.get_attribute("data-claim-id"))
    row.get_by_test_id("remind").click()
    expect(page.get_by_test_id("toast").filter(has_text="Reminder sent")).to_be_visible()
    expect(row.get_by_test_id("last-reminded")).to_contain_text("CST (Beijing)")
    shot(page, "after-demo-queue-waiting-1280-en")
    customer = adjuster.get(f"/v1/claims/{reminded}").json()["customer_id"]
    sent = wait_until(lambda: [m for m in admin.get("/v1/outbox", params={"customer_id": customer})
                               .json()["messages"] if "/c/" in m["body"]], timeout=20,
                      message="the reminder SMS with its signed link in the outbox")
    assert len(sent) == 1, f"one reminder SMS with a signed link should be in the outbox, found {len(sent)}"
    check_everywhere(browser, page, api.base_url, demo, "adjuster", "queue",
                     lambda p: expect(p.get_by_test_id("queue-row").first).to_be_visible(timeout=LIVE),
                     "fast-track queue after the demo")
    page.context.close()


def test_the_supervisor_approves_the_waiting_advance_with_an_override_reason(demo, api_server, browser):  # noqa: F811
    api = api_server(demo.url)
    with session_scope(demo.url) as session:
        waiting = session.scalars(select(Payment.id).where(Payment.state == "pending_approval",
                                                           Payment.required_role == "supervisor")).all()
    assert len(waiting) == 1, f"the demo should leave one advance for the supervisor, found {len(waiting)}"
    [payment_id] = waiting

    page = open_as(browser, api.base_url, demo, "supervisor", "approvals")
    expect(page.get_by_test_id("approvals-badge")).to_have_text("1", timeout=LIVE)
    card = page.locator(f'[data-testid=approval][data-payment-id="{payment_id}"]')
    expect(card.get_by_test_id("identity-check")).to_contain_text("Bank account: missing")
    shot(page, "after-demo-approvals-1280-en")
    check_everywhere(browser, page, api.base_url, demo, "supervisor", "approvals",
                     lambda p: expect(p.get_by_test_id("approval").first).to_be_visible(timeout=LIVE),
                     "approvals after the demo")
    page.set_viewport_size(SIZES[0])
    card.get_by_test_id("approve").click()
    dialog = page.get_by_test_id("override-dialog")
    expect(dialog).to_be_visible()
    reason = "bank card photographed on a video call with the customer"
    dialog.get_by_test_id("override-dialog-reason").fill(reason)
    dialog.get_by_test_id("override-dialog-confirm").click()
    expect(page.get_by_test_id("approval")).to_have_count(0)
    expect(page.get_by_test_id("approvals-badge")).to_be_hidden()
    with session_scope(demo.url) as session:
        state = session.get(Payment, payment_id).state
        notes = session.scalars(select(AuditEvent.note).where(
            AuditEvent.entity == "payment", AuditEvent.entity_id == str(payment_id),
            AuditEvent.action == "identity_override")).all()
    assert state in ("approved", "paid"), f"the approved advance is {state}"
    assert notes == [reason], f"the override reason is not in the audit trail: {notes}"
    page.context.close()


def test_the_operations_desk_finds_who_was_warned_decides_a_proposal_and_reads_a_feed(
        demo, api_server, browser):  # noqa: F811
    api = api_server(demo.url)
    admin = api.as_user(demo.keys["admin"])
    feed = admin.post("/v1/feeds", json={"url": f"http://127.0.0.1:{free_port()}/alerts.atom", "kind": "cap-atom",
                                         "every": "120s", "name": "Provincial CAP index"})
    assert feed.status_code == 201, f"the admin could not register a feed: {feed.text}"
    polled = admin.post(f"/v1/feeds/{feed.json()['id']}/poll")
    assert polled.status_code == 200, f"the feed's poll was not answered: {polled.text}"
    _, (alert_id,) = _chain(demo.url, 1, _square(*PLACES["guangzhou"]))  # a second storm, in Guangdong
    from workers.greenchannel import current_rules

    proposal = run_unit(catevents.propose_from_alert, alert_id, 1_234, current_rules().cat_events)
    with session_scope(demo.url) as session:
        customer_id = session.scalar(select(User.customer_id).where(User.role == "customer",
                                                                    User.customer_id.is_not(None)))
        name = session.get(Customer, customer_id).name

    # Who was warned: the demo customer, found by name, phone masked.
    page = open_as(browser, api.base_url, demo, "supervisor", "warnings")
    red = "CMA raises the typhoon warning to red"  # the update at landfall, which went out at once (Extreme)
    page.get_by_test_id("warning-item").filter(has_text=red).click()
    detail = page.get_by_test_id("warning-detail")
    expect(detail.get_by_test_id("warning-headline")).to_have_text(red, timeout=LIVE)
    detail.get_by_test_id("warned-search").fill(name)
    detail.get_by_test_id("warned-find").click()
    person = detail.get_by_test_id("warned-person").first
    expect(person.get_by_test_id("warned-name")).to_contain_text(name, timeout=LIVE)
    expect(person.get_by_test_id("warned-phone")).to_contain_text("****")
    shot(page, "after-demo-warnings-1280-en")
    check_everywhere(browser, page, api.base_url, demo, "supervisor", "warnings",
                     lambda p: expect(p.get_by_test_id("warning-detail")).to_be_visible(timeout=LIVE),
                     "warnings after the demo")

    # The second storm's proposal: the admin reads it but leaves the decision to a supervisor, who dismisses it.
    ops = open_as(browser, api.base_url, demo, "admin", "catevents")
    seen = ops.locator("[data-testid=cat-event][data-status=proposed]")
    expect(seen.get_by_test_id("decided-by")).to_have_text(
        "A supervisor or a manager confirms, merges or dismisses a proposal.", timeout=LIVE)
    expect(seen.get_by_test_id("confirm")).to_have_count(0)
    ops.goto(f"{api.base_url}/?type=large#/catevents")  # the role with the most pages, in large type
    expect(ops.locator("html.large [data-testid=cat-event]").first).to_be_visible(timeout=LIVE)
    assert horizontal_overflow(ops) <= 0, \
        f"in large type at 1280 px the admin's page scrolls sideways by {horizontal_overflow(ops)} px"
    ops.context.close()
    page.goto(f"{api.base_url}/#/catevents")
    page.set_viewport_size(SIZES[0])
    card = page.locator("[data-testid=cat-event][data-status=proposed]")
    expect(card).to_have_count(1, timeout=LIVE)
    check_everywhere(browser, page, api.base_url, demo, "supervisor", "catevents",
                     lambda p: expect(p.get_by_test_id("cat-event").first).to_be_visible(timeout=LIVE),
                     "CAT events after the demo")
    page.set_viewport_size(SIZES[0])
    reason = "rain only in Guangdong, no typhoon landfall near our book"
    card.get_by_test_id("dismiss-reason").fill(reason)
    card.get_by_test_id("dismiss").click()
    expect(page.locator("[data-testid=cat-event][data-status=proposed]")).to_have_count(0)
    with session_scope(demo.url) as session:
        status = session.get(CatEvent, proposal.id).status
        notes = session.scalars(select(AuditEvent.note).where(
            AuditEvent.entity == "cat_event", AuditEvent.entity_id == str(proposal.id),
            AuditEvent.action == "dismissed")).all()
    assert status == "closed", f"the proposal dismissed in the page is {status}, not closed"
    assert notes == [reason], f"the dismissal's reason is not in the audit trail: {notes}"

    # The feed's health, its error in words.
    page.goto(f"{api.base_url}/#/feeds")
    listed = page.get_by_test_id("feed").filter(has_text="Provincial CAP index")
    expect(listed.get_by_test_id("feed-status")).to_have_text("✕ Failing", timeout=LIVE)
    expect(listed.get_by_test_id("feed-error")).to_contain_text("The provider could not be reached.")
    shot(page, "after-demo-feeds-1280-en")
    check_everywhere(browser, page, api.base_url, demo, "supervisor", "feeds",
                     lambda p: expect(p.get_by_test_id("feed").first).to_be_visible(timeout=LIVE),
                     "feeds after the demo")
    page.context.close()

