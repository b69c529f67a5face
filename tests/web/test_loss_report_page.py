"""The Loss prevention page in headless Chromium (Playwright), on PostgreSQL.

A manager signs in and reads the report of the book of tests/greenchannel/test_loss_report.py (rates known:
50 and 120 claims per 1,000 vehicles; shops too few to conclude anything from), marked as the demo's
synthetic data: the Chart.js bars are drawn, the same figures are in the table with their 95% intervals,
the small groups say so in words, the synthetic label shows, and the CSV button downloads the same file
the API gives. At 1280x800 and 390x844, in English and in Chinese: no sideways scrolling, no raw code,
no serious or critical axe-core violation, no Content-Security-Policy violation. A supervisor has no
such page.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from greenchannel.loss_report_service import mark_demo_report
from tests.greenchannel.test_loss_report import build_book, wilson
from tests.support import make_user
from tests.web.test_console import (
    SCREENSHOTS,
    browser,  # noqa: F401  (the module's Chromium fixture)
    shot,
)
from tests.web.test_ops_pages import PASSWORD, VIEWPORTS, assert_accessible, assert_reads_well, staff

# Every CSP violation the page reports, kept where the test can read it (added by the driver, before any
# script of the page runs, so the page's own policy does not apply to it).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
CHART_DATA = """() => {
  const canvas = document.querySelector('[data-testid=lossreport-chart]');
  const chart = canvas && window.Chart && window.Chart.getChart(canvas);
  return chart ? chart.data.datasets.map((d) => d.data) : null;
}"""


def open_report(browser, base_url: str, username: str, language: str, viewport: dict) -> Page:  # noqa: F811
    context = browser.new_context(viewport=viewport, locale=language, timezone_id="Asia/Shanghai",
                                  accept_downloads=True)
    context.script_errors = []
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    page.on("console", lambda message: context.script_errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    signed_in = context.request.post(f"{base_url}/v1/auth/login", data={"username": username, "password": PASSWORD})
    assert signed_in.ok, f"{username} could not sign in: {signed_in.status} {signed_in.text()}"
    page.goto(f"{base_url}/?lang={language if language == 'zh-CN' else 'en'}#/lossreport")
    expect(page.locator("#topbar")).to_be_visible()
    expect(page.get_by_test_id("figures")).to_be_visible()
    page.wait_for_function("() => { const c = document.querySelector('[data-testid=lossreport-chart]');"
                           " return c && window.Chart && window.Chart.getChart(c); }")
    return page


def _interval_text(successes: int, n: int) -> str:
    low, high = wilson(successes, n)
    return f"{1000 * successes / n:.1f} (95%: {round(low * 1000, 2):.1f}–{round(high * 1000, 2):.1f})"


def test_a_manager_reads_the_loss_report_as_a_chart_and_a_table_in_both_languages(
        api_server, pg_clean_url, browser):  # noqa: F811
    api = api_server(pg_clean_url)
    book = build_book(pg_clean_url)
    mark_demo_report(book.event_id)
    username = staff(pg_clean_url, "manager", "Mia Manager", "mia")
    manager = api.as_user(make_user(pg_clean_url, "manager", "Max Manager"))
    api_csv = manager.get(f"/v1/cat-events/{book.event_id}/loss-report?format=csv").text

    page = open_report(browser, api.base_url, username, "en-GB", VIEWPORTS[0])
    rows = page.get_by_test_id("figures-row")
    expect(rows).to_have_count(6)  # all, vehicle, shop; warned and not
    expect(page.get_by_test_id("absent-kinds")).to_have_text(
        "No insured asset of these kinds lies inside the area: Homes, Factories.")
    warned_cars = page.locator('[data-testid=figures-row][data-kind=vehicle][data-group=warned]')
    unwarned_cars = page.locator('[data-testid=figures-row][data-kind=vehicle][data-group=not_warned]')
    expect(warned_cars.get_by_test_id("rate")).to_have_text(f"{_interval_text(50, 1000)} · 50 of 1,000")
    expect(unwarned_cars.get_by_test_id("rate")).to_have_text(f"{_interval_text(120, 1000)} · 120 of 1,000")
    expect(warned_cars).to_contain_text("11,000.00 CNY · 50 claims")
    expect(warned_cars).to_contain_text("median 6.0 h, mean 6.0 h · 50 claims")
    for group, counts in (("warned", "2 of 12"), ("not_warned", "3 of 10")):
        shop = page.locator(f'[data-testid=figures-row][data-kind=shop][data-group={group}]')
        expect(shop.get_by_test_id("rate")).to_have_text(
            f"Too few to conclude anything from (fewer than 30) · {counts}")
    notes = page.get_by_test_id("inconclusive-note")
    expect(notes.filter(has_text="Shops, Warned before the window: Too few to conclude anything from")).to_have_count(1)
    expect(page.get_by_test_id("synthetic")).to_contain_text("Synthetic data")
    expect(page.locator('[data-testid=difference][data-kind=vehicle]')).to_contain_text(
        "Vehicles: warned customers had 70.0 fewer claims per 1,000 assets (95%: ")
    expect(page.locator('[data-testid=difference][data-kind=shop]')).to_have_text(
        "Shops: Too few to conclude anything from (fewer than 30)")
    expect(page.locator('[data-testid=reason-row][data-reason=opted_out]')).to_contain_text("Opted out of SMS")
    expect(page.locator('[data-testid=reason-row][data-reason=opted_out]')).to_contain_text("300")

    bars = page.evaluate(CHART_DATA)
    assert bars is not None, "the chart was drawn by Chart.js"
    assert bars[0][1] == 50.0 and bars[1][1] == 120.0, \
        f"the vehicle bars show 50 and 120 claims per 1,000 (warned, not warned): {bars}"
    chart_label = page.get_by_test_id("lossreport-chart").get_attribute("aria-label")
    assert "Not warned in time" in chart_label, f"the chart is described to screen readers: {chart_label}"

    with page.expect_download() as download:
        page.get_by_test_id("lossreport-csv").click()
    saved = download.value
    assert saved.suggested_filename == "loss-report-CAT-2026-0725-TEST.csv", \
        f"the CSV file is named after the event: {saved.suggested_filename}"
    downloaded = Path(saved.path()).read_text(encoding="utf-8")
    assert downloaded.splitlines()[1:] == api_csv.splitlines()[1:], \
        "the page's CSV button downloads the same figures as the API"

    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        where = f"loss report, en, {viewport['width']}px"
        assert_reads_well(page, "en-GB", where)
        shot(page, f"loss-report-en-{viewport['width']}")
        assert_accessible(page, where)
        assert page.evaluate("window.__cspViolations") == [], f"{where}: CSP violations"
    page.context.close()

    page = open_report(browser, api.base_url, username, "zh-CN", VIEWPORTS[1])
    warned_cars = page.locator('[data-testid=figures-row][data-kind=vehicle][data-group=warned]')
    expect(warned_cars).to_contain_text("车辆")
    expect(warned_cars.get_by_test_id("rate")).to_contain_text("1,000 个中的 50 个")
    shop = page.locator('[data-testid=figures-row][data-kind=shop][data-group=not_warned]')
    expect(shop.get_by_test_id("rate")).to_contain_text("样本太少，无法得出结论")
    expect(page.get_by_test_id("synthetic")).to_contain_text("合成数据")
    expect(page.locator('[data-testid=difference][data-kind=vehicle]')).to_contain_text("已预警客户每千个标的少 70.0 宗报案")
    for viewport in reversed(VIEWPORTS):
        page.set_viewport_size(viewport)
        where = f"loss report, zh-CN, {viewport['width']}px"
        assert_reads_well(page, "zh-CN", where)
        shot(page, f"loss-report-zh-{viewport['width']}")
        page.get_by_test_id("figures").screenshot(path=str(SCREENSHOTS / f"loss-report-zh-{viewport['width']}-table.png"))
        assert_accessible(page, where)
        assert page.evaluate("window.__cspViolations") == [], f"{where}: CSP violations"
    page.context.close()


def test_a_supervisor_has_no_loss_report_page(api_server, pg_clean_url, browser):  # noqa: F811
    api = api_server(pg_clean_url)
    username = staff(pg_clean_url, "supervisor", "Sam Supervisor", "sam")
    context = browser.new_context(locale="en-GB")
    signed_in = context.request.post(f"{api.base_url}/v1/auth/login", data={"username": username, "password": PASSWORD})
    assert signed_in.ok, f"the supervisor could not sign in: {signed_in.text()}"
    page = context.new_page()
    page.goto(f"{api.base_url}/#/lossreport")
    expect(page.get_by_test_id("nav-queue")).to_be_visible()
    expect(page.get_by_test_id("nav-lossreport")).to_have_count(0)
    expect(page).not_to_have_url(re.compile("#/lossreport"))
    context.close()
