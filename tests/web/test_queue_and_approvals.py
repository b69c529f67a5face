"""The fast-track queue and the approvals in headless Chromium, in English and in Chinese, after a typhoon
has landed (warning in force, green channel open, six claims filed, two of them assessed and waiting on
the customer's documents with advances waiting for a supervisor).

An adjuster searches a claim by its customer's name and takes it, takes the next one, finds the claims
waiting on the customer in their own tab and reminds one customer: the SMS with a signed /c/ link is in the
outbox, and a second reminder the same day is refused in words. A supervisor sees the badge, approves one
advance with an override reason (ID card and bank account missing) and rejects the other with a reason.
Every view is checked at 1280x800, 1920x1080 and 390x844 for sideways scrolling, only the page's language,
no raw code, times that name their zone, and axe-core (no serious or critical violation).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support import ROOT, make_user, wait_until
from tests.web.test_console import browser, green_channel_scene  # noqa: F401  (the module's Chromium fixture)
from tests.web.test_ops_pages import assert_accessible, assert_reads_well, open_console, staff

VIEWPORTS = ({"width": 1280, "height": 800}, {"width": 1920, "height": 1080}, {"width": 390, "height": 844})
# The README's screenshots are copied from here by hand: a test run never changes tracked files.
DOCS = ROOT / "var" / "screenshots"
DOCS.mkdir(parents=True, exist_ok=True)
WORDS = {
    "en-GB": {"zone": "CST (Beijing)", "leased": "Leased to you", "again": "already reminded today",
              "identity": "ID card: missing", "reason": "Please write a reason.", "sent": "Reminder sent",
              "cap": "Advances would total CN¥50,000.00, above the cap of CN¥40,000.00 (50% of the estimate"},
    "zh-CN": {"zone": "北京时间", "leased": "由您处理", "again": "今天已经提醒过", "identity": "身份证：缺",
              "reason": "请填写原因。", "sent": "已通过短信提醒", "cap": "预赔合计将为 ¥50,000.00，超过上限 ¥40,000.00"},
}


def _check_everywhere(page: Page, language: str, where: str) -> None:
    """At each size: no sideways scrolling, the page's language only, axe-core clean."""
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        assert_reads_well(page, language, f"{where} at {viewport['width']} px")
        if viewport["width"] != 1920:
            assert_accessible(page, f"{where} at {viewport['width']} px")
    page.set_viewport_size(VIEWPORTS[0])


def _errors_shown(page: Page) -> list[str]:
    return page.locator(".toast.error").all_inner_texts()


def _waiting_with_advance(scene, claim: dict, amount: str) -> int:
    """Assess a claim (its documents all missing, so it waits on the customer) and ask for an advance above
    the adjuster's authority; returns the payment id."""
    ada = scene.as_role("adjuster")
    for to, extra in (("surveyed", {}), ("assessed", {"estimate": "80000.00"})):
        moved = ada.post(f"/v1/claims/{claim['id']}/transition", json={"to": to, **extra})
        assert moved.status_code == 200, f"claim {claim['id']} did not move to {to}: {moved.text}"
    asked = ada.post(f"/v1/claims/{claim['id']}/payments", headers={"Idempotency-Key": f"ui-{claim['id']}"},
                     json={"amount": amount, "reason": "hire car while the car dries"})
    assert asked.status_code == 201 and asked.json()["state"] == "pending_approval", asked.text
    return asked.json()["id"]


@pytest.mark.parametrize("language", ["en-GB", "zh-CN"])
def test_an_adjuster_searches_takes_and_reminds_and_a_supervisor_overrides_and_rejects(
        api_server, pg_clean_url, browser, language):  # noqa: F811
    words = WORDS[language]
    scene = green_channel_scene(api_server, pg_clean_url, claims=6, jobs=0)
    first_pay = _waiting_with_advance(scene, scene.claims[0], "20000.00")
    second_pay = _waiting_with_advance(scene, scene.claims[2], "15000.00")
    reminded = scene.claims[0]
    admin = scene.api.as_user(make_user(pg_clean_url, "admin", "Olga Ops"))
    ada = scene.as_role("adjuster")
    workable = ada.get("/v1/queue?tab=workable").json()["queue"]
    assert len(workable) == 4, f"four claims should be workable, got {len(workable)}"
    sought = workable[-1]

    # --- the adjuster: search, take this one, take next ---
    page = open_console(browser, scene.api.base_url, staff(pg_clean_url, "adjuster", "Li Lei", "li"), "queue",
                        language)
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(4)
    expect(page.get_by_test_id("tab-waiting_on_customer")).to_contain_text("2")
    _check_everywhere(page, language, "queue, workable tab")
    page.screenshot(path=str(DOCS / f"fast-track-queue{'' if language == 'en-GB' else '-zh'}.png"))

    # Demo customers share names ("王女士"); the name and the street together find the one claim.
    page.get_by_test_id("queue-search").fill(sought["customer_name"])
    page.get_by_test_id("queue-search").press("Enter")
    found = page.locator(f'[data-testid=queue-row][data-claim-id="{sought["claim_id"]}"]')
    expect(rows).to_have_count(sum(1 for e in workable if sought["customer_name"] in e["customer_name"]))
    expect(found).to_have_count(1)
    page.get_by_test_id("queue-search").fill(sought["asset"]["address"])
    page.get_by_test_id("queue-search").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-claim-id", str(sought["claim_id"]))
    rows.first.click()
    view = page.get_by_test_id("claim-view")
    view.get_by_test_id("take-this").click()
    expect(view.get_by_test_id("lease")).to_contain_text(words["leased"])
    expect(view.get_by_test_id("lease")).to_contain_text(words["zone"])
    _check_everywhere(page, language, "queue, a searched claim taken")
    page.get_by_test_id("queue-search-clear").click()
    expect(rows).to_have_count(4)
    page.get_by_test_id("take-next").click()
    expect(page).not_to_have_url(re.compile(rf"#/queue/claim/{sought['claim_id']}$"))
    expect(page).to_have_url(re.compile(r"#/queue/claim/\d+$"))
    expect(view.get_by_test_id("lease")).to_contain_text(words["leased"])

    # --- the adjuster: the customer's tab, remind once ---
    page.get_by_test_id("tab-waiting_on_customer").click()
    expect(rows).to_have_count(2)
    row = page.locator(f'[data-testid=queue-row][data-claim-id="{reminded["id"]}"]')
    row.get_by_test_id("remind").click()
    expect(page.get_by_test_id("toast").filter(has_text=words["sent"])).to_be_visible()
    expect(row.get_by_test_id("last-reminded")).to_contain_text(words["zone"])
    assert not _errors_shown(page), f"reminding showed errors: {_errors_shown(page)}"
    customer = ada.get(f"/v1/claims/{reminded['id']}").json()["customer_id"]
    messages = wait_until(lambda: [m for m in admin.get("/v1/outbox", params={"customer_id": customer})
                                   .json()["messages"] if "/c/" in m["body"]], timeout=20,
                          message="the reminder SMS with its signed link in the outbox")
    assert len(messages) == 1, f"one reminder SMS should be in the outbox, found {len(messages)}"
    _check_everywhere(page, language, "queue, waiting on the customer")
    page.screenshot(path=str(DOCS / f"fast-track-queue-waiting{'' if language == 'en-GB' else '-zh'}.png"))
    row.get_by_test_id("remind").click()
    refusal = page.locator(".toast.error")
    expect(refusal).to_contain_text(words["again"])
    assert "already_reminded_today" not in refusal.first.inner_text(), "the refusal shows the internal code"

    # An advance above the cap is refused in words, the amounts written for the page's language.
    row.click()
    view.get_by_test_id("advance-amount").fill("30000")
    view.get_by_test_id("request-advance").click()
    capped = page.locator(".toast.error").filter(has_text="40,000.00")
    expect(capped).to_contain_text(words["cap"])
    expect(capped).to_contain_text("50,000.00")
    assert "above_advance_ratio" not in capped.first.inner_text(), "the refusal shows the internal code"
    page.context.close()

    # --- the supervisor: badge, override with a reason, reject with a reason ---
    page = open_console(browser, scene.api.base_url, staff(pg_clean_url, "supervisor", "Zhou Min", "zhou"),
                        "approvals", language)
    expect(page.get_by_test_id("approvals-badge")).to_have_text("2")
    cards = page.get_by_test_id("approval")
    expect(cards).to_have_count(2)
    card = page.locator(f'[data-testid=approval][data-payment-id="{first_pay}"]')
    expect(card.get_by_test_id("identity-check")).to_contain_text(words["identity"])
    expect(card.get_by_test_id("payee")).to_contain_text("****")
    expect(card).to_contain_text("20,000.00")
    _check_everywhere(page, language, "approvals")
    page.screenshot(path=str(DOCS / f"approvals-inbox{'' if language == 'en-GB' else '-zh'}.png"))

    card.get_by_test_id("approve").click()
    dialog = page.get_by_test_id("override-dialog")
    expect(dialog).to_be_visible()
    assert_accessible(page, "the override dialog")
    dialog.get_by_test_id("override-dialog-reason").fill("ID card and bank card seen on a video call")
    dialog.get_by_test_id("override-dialog-confirm").click()
    expect(cards).to_have_count(1)
    expect(page.get_by_test_id("approvals-badge")).to_have_text("1")

    page.locator(f'[data-testid=approval][data-payment-id="{second_pay}"]').get_by_test_id("reject").click()
    dialog = page.get_by_test_id("reject-dialog")
    dialog.get_by_test_id("reject-dialog-confirm").click()
    expect(dialog.get_by_test_id("reject-dialog-problem")).to_have_text(words["reason"])
    dialog.get_by_test_id("reject-dialog-reason").fill("the same car was paid on another claim")
    dialog.get_by_test_id("reject-dialog-confirm").click()
    expect(cards).to_have_count(0)
    expect(page.get_by_test_id("approvals-badge")).to_be_hidden()
    assert not _errors_shown(page), f"deciding showed errors: {_errors_shown(page)}"
    states = {p["id"]: p["state"] for claim in (scene.claims[0], scene.claims[2])
              for p in ada.get(f"/v1/claims/{claim['id']}/payments").json()["payments"]}
    assert states[second_pay] == "rejected", f"the rejected advance is {states[second_pay]}"
    assert states[first_pay] in ("approved", "paid"), f"the overridden advance is {states[first_pay]}"
    page.context.close()


def test_a_storm_of_claims_comes_in_pages_of_fifty_on_a_page_that_fits_the_screen(api_server, pg_clean_url,
                                                                                  browser):  # noqa: F811
    scene = green_channel_scene(api_server, pg_clean_url, claims=55, jobs=0)
    page = open_console(browser, scene.api.base_url, staff(pg_clean_url, "adjuster", "Li Lei", "li"), "queue")
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(50)
    expect(page.get_by_test_id("pager")).to_contain_text("1–50 of 55")
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height <= 800, f"the queue page is {height} px tall at 1280x800; the list should scroll in its pane"
    page.get_by_test_id("page-next").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("pager")).to_contain_text("51–55 of 55")
    assert_reads_well(page, "en-GB", "queue, second page")
    page.context.close()
