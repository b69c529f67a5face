"""Manual warnings in headless Chromium: a dispatcher uploads a warning on the map and reads its reach
before anything is sent (customers, channels, the area drawn on the map); it reaches more customers than
one person may send, so it waits, listed as theirs. A supervisor approves it on the approvals page; one
more is rejected with a reason; a small one goes out with Send. The warning's headline is hostile markup,
shown as text. Read at 1280 and 390 px, in English and Chinese, with large type: no sideways scrolling,
no stray language, axe-core finds nothing serious (docs/architecture.md, "Manual warnings")."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from alerts.manual_service import forget_reach_books
from alerts.matching import spatial
from store.db import session_scope
from store.models import Notification
from tests.notify_support import add_book, live_demo_cap
from tests.web.test_console import browser, shot  # noqa: F401  (the module's Chromium fixture)
from tests.web.test_ops_pages import assert_accessible, assert_reads_well, open_console, staff

ORANGE = "01-typhoon-infa-orange-alert.xml"
HOSTILE = '<img src=x onerror="window.__pwned=1">Typhoon In-fa'
CHINESE = re.compile(r"[\u4e00-\u9fff]")
WIDE, NARROW = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def hostile_warning(tag: str) -> bytes:
    raw = live_demo_cap(ORANGE, tag=tag).decode()
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return re.sub(r"<headline>[^<]*</headline>", f"<headline>{escaped}</headline>", raw).encode()


def sent(url) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Notification))


def upload(page, raw: bytes) -> None:
    page.get_by_test_id("ingest-file").set_input_files(files=[{"name": "warning.xml", "mimeType": "application/xml",
                                                               "buffer": raw}])
    expect(page.get_by_test_id("manual-preview")).to_be_visible()


def test_a_dispatcher_previews_and_a_supervisor_approves_or_rejects(api_server, sqlite_url, browser):  # noqa: F811
    url = sqlite_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_MANUAL_APPROVAL_ABOVE=10)
    add_book(url, 12)
    add_book(url, 2, start=13, sms_opt_out=True)
    dispatcher = staff(url, "dispatcher", "Dee Dispatcher", "dee")
    supervisor = staff(url, "supervisor", "Sue Supervisor", "sue")

    page = open_console(browser, api.base_url, dispatcher, "map", viewport=WIDE)
    upload(page, hostile_warning("A"))
    preview = page.get_by_test_id("manual-preview")
    expect(preview.get_by_test_id("manual-headline")).to_have_text(re.compile(re.escape(HOSTILE)))
    expect(preview.get_by_test_id("reach-customers")).to_have_text("14 customers")
    expect(preview.get_by_test_id("reach-sms")).to_have_text("12 would get an SMS")
    expect(preview.get_by_test_id("reach-none")).to_contain_text("2 cannot be reached")
    expect(preview.get_by_test_id("manual-needs-approval")).to_be_visible()
    expect(page.locator("path.leaflet-interactive, path[stroke='#6a1b9a']").first).to_be_attached()
    assert page.evaluate("window.__pwned") is None, "the headline's markup ran as HTML"
    area_names = preview.get_by_test_id("reach-area").inner_text()
    assert "Coastal eastern Zhejiang" in area_names, f"the English preview does not name the area: {area_names!r}"
    assert not CHINESE.search(area_names), f"the English preview names the area in Chinese too: {area_names!r}"
    assert_reads_well(page, "en-GB", "map preview, en, 1280")
    assert_accessible(page, "map preview, en, 1280")
    shot(page, "manual-1-preview")
    preview.get_by_test_id("manual-ask").click()
    expect(page.get_by_test_id("manual-mine-item")).to_have_count(1)
    assert sent(url) == 0, "nothing may be sent before a second person approves"

    upload(page, hostile_warning("B"))  # a second one, to be rejected
    page.get_by_test_id("manual-ask").click()
    expect(page.get_by_test_id("manual-mine-item")).to_have_count(2)
    page.context.close()

    for language, viewport, large, where in (("zh-CN", NARROW, True, "zh-CN, 390, large type"),
                                             ("en-GB", NARROW, True, "en, 390, large type"),
                                             ("zh-CN", WIDE, False, "zh-CN, 1280")):
        approver = open_console(browser, api.base_url, supervisor, "approvals", language=language, viewport=viewport)
        if large:
            approver.get_by_test_id("large-type").click()
        expect(approver.get_by_test_id("manual-approval")).to_have_count(2)
        expect(approver.get_by_test_id("manual-headline").first).to_have_text(re.compile(re.escape(HOSTILE)))
        assert approver.evaluate("window.__pwned") is None, "the headline's markup ran as HTML"
        area_names = approver.get_by_test_id("reach-area").first.inner_text()
        if language == "zh-CN":
            assert "Coastal" not in area_names, f"the Chinese card names the area in English too ({where}): {area_names!r}"
        else:
            assert not CHINESE.search(area_names), f"the English card names the area in Chinese too ({where})"
        assert_reads_well(approver, language, f"approvals, {where}")
        assert_accessible(approver, f"approvals, {where}")
        if large:
            approver.get_by_test_id("large-type").click()
        approver.context.close()

    approver = open_console(browser, api.base_url, supervisor, "approvals", viewport=WIDE)
    cards = approver.get_by_test_id("manual-approval")
    expect(cards).to_have_count(2)
    expect(approver.locator(".manual-map path").first).to_be_attached()
    expect(approver.get_by_test_id("approvals-badge")).to_have_text("2")  # no payment waits: both are warnings
    assert_reads_well(approver, "en-GB", "approvals, en, 1280")
    shot(approver, "manual-2-approvals")
    cards.first.get_by_test_id("manual-reject").click()
    dialog = approver.get_by_test_id("manual-reject-dialog")
    dialog.get_by_test_id("manual-reject-dialog-confirm").click()
    expect(dialog.get_by_test_id("manual-reject-dialog-problem")).to_have_text("Please write a reason.")
    dialog.get_by_test_id("manual-reject-dialog-reason").fill("Polygon drawn over the wrong county")
    dialog.get_by_test_id("manual-reject-dialog-confirm").click()
    expect(cards).to_have_count(1)
    expect(approver.get_by_test_id("approvals-badge")).to_have_text("1")
    assert sent(url) == 0, "a rejection sends nothing"
    cards.first.get_by_test_id("manual-approve").click()
    expect(approver.get_by_test_id("toast").filter(has_text="Warning approved: 12 customers")).to_be_visible()
    expect(cards).to_have_count(0)
    expect(approver.get_by_test_id("approvals-badge")).to_be_hidden()
    assert sent(url) == 12, "the approval sends what the preview said: 12 SMS"
    approver.context.close()
    spatial.forget_indexes()
    forget_reach_books()


def test_a_small_warning_goes_out_with_send_and_the_submitter_cannot_approve_their_own(
        api_server, sqlite_url, browser):  # noqa: F811
    url = sqlite_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_MANUAL_APPROVAL_ABOVE=3)
    add_book(url, 3)
    supervisor = staff(url, "supervisor", "Sue Supervisor", "sue")

    page = open_console(browser, api.base_url, supervisor, "map", language="zh-CN", viewport=NARROW)
    upload(page, hostile_warning("C"))
    preview = page.get_by_test_id("manual-preview")
    expect(preview.get_by_test_id("reach-customers")).to_have_text("客户 3 位")
    assert_reads_well(page, "zh-CN", "map preview, zh-CN, 390")
    assert_accessible(page, "map preview, zh-CN, 390")
    preview.get_by_test_id("manual-send").click()
    expect(page.get_by_test_id("toast").filter(has_text="正在通知 3 位客户")).to_be_visible()
    expect(page.get_by_test_id("manual-preview")).to_have_count(0)
    assert sent(url) == 3, "Send sends the small warning at once"

    add_book(url, 2, start=4)  # now above the setting: it waits, and its submitter may not approve it
    spatial.forget_indexes()
    forget_reach_books()
    upload(page, hostile_warning("D"))
    expect(page.get_by_test_id("manual-ask")).to_be_visible()
    page.get_by_test_id("manual-ask").click()
    page.goto(f"{api.base_url}/#/approvals")
    own = page.get_by_test_id("manual-approval")
    expect(own.get_by_test_id("manual-own")).to_be_visible()
    expect(own.get_by_test_id("manual-approve")).to_have_count(0)
    page.context.close()
    spatial.forget_indexes()
    forget_reach_books()
