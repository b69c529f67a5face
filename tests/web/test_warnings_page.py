"""The Warnings page in headless Chromium (Playwright), and the API behind it.

The demo's orange typhoon warning and its red update arrive during quiet hours (the window is set around
the present Beijing time): the orange messages wait for the window's end, the red (Extreme) go at once.
A few red messages are reported failed by the provider (a handset out of reach). A supervisor opens the
Warnings page, reads the reach in words (held for quiet hours until a time with its zone, failures with
their reason), finds a customer by name in the list of who was warned (phone masked), and reads the
chain's history, each message with its own headline, in English and in Chinese. An admin sees numbers in
full; a dispatcher has no such list. Read at 1280x800, 1920x1080 and 390x844: no sideways scrolling, no
untranslated key, raw code or stray language, axe-core finds no serious or critical violation.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

from playwright.sync_api import expect
from sqlalchemy import select, update

from alerts.reading.replay import replay
from config.seed import seed_demo_book
from store.db import session_scope
from store.models import Customer, Notification
from store.types import utcnow
from tests.support import make_user
from tests.web.test_console import (
    DEMO_WARNING,
    SMALL_BOOK,
    browser,  # noqa: F401  (the module's Chromium fixture)
    shot,
)
from tests.web.test_ops_pages import assert_accessible, assert_reads_well, open_console, staff

RED_UPDATE = DEMO_WARNING.parent / "02-typhoon-infa-red-update.xml"
CHINA = timezone(timedelta(hours=8))
VIEWPORTS = ({"width": 1280, "height": 800}, {"width": 1920, "height": 1080}, {"width": 390, "height": 844})
FAILED = 3


def _quiet_window() -> tuple[str, datetime]:
    """Quiet hours from an hour ago to two hours ahead (Beijing time), and the moment they end."""
    now = datetime.now(UTC).astimezone(CHINA).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}", end


def quiet_storm(api_server, database_url: str):
    """The demo book, quiet hours around the present and the storm's two messages re-stamped to now;
    returns (api, admin client, orange raw, red raw, end of the quiet hours)."""
    from alerts.matching import spatial
    spatial.forget_indexes()  # the asset index of an earlier test's book is cached in this process
    window, quiet_end = _quiet_window()
    api = api_server(database_url, HAVEN_QUIET_HOURS=window, **SMALL_BOOK)
    seed_demo_book()
    admin = api.as_user(make_user(database_url, "admin", "Ops Admin"))
    now = utcnow()
    orange_raw, red_raw = replay([DEMO_WARNING.read_bytes(), RED_UPDATE.read_bytes()], now,
                                 tag=uuid.uuid4().hex[:8], sent_at=[now - timedelta(minutes=30), now])
    return api, admin, orange_raw, red_raw, quiet_end


def post_and_fan_out(admin, raw: bytes) -> dict:
    """Store a message as a feed poller would and wait until its notifications are planned."""
    response = admin.post("/v1/alerts?confirm=true", data=raw, headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, f"the demo message was not stored: {response.text}"
    alert = response.json()["alerts"][0]
    deadline = time.monotonic() + 60
    counts = []
    while time.monotonic() < deadline:
        counts.append(admin.get(f"/v1/alerts/{alert['id']}/notifications").json()["notifications"])
        if counts[-1] and counts[-3:] == [counts[-1]] * 3:
            return alert
        time.sleep(0.5)
    raise AssertionError(f"alert {alert['id']} planned no stable set of notifications in 60 s: {counts[-5:]}")


def fail_some(database_url: str, alert_id: int) -> None:
    """As the provider's status callback records it: the handset was out of reach."""
    with session_scope(database_url) as session:
        ids = session.execute(select(Notification.id).where(Notification.alert_id == alert_id)
                              .order_by(Notification.id).limit(FAILED)).scalars().all()
        session.execute(update(Notification).where(Notification.id.in_(ids))
                        .values(state="undelivered", error_code="30003", final_at=utcnow()))


def a_warned_customer(database_url: str, alert_id: int) -> tuple[str, str]:
    """(name, phone) of one customer the alert warned, one whose name no other customer's contains."""
    with session_scope(database_url) as session:
        rows = session.execute(select(Customer.name, Customer.phone).join(
            Notification, Notification.customer_id == Customer.customer_id)
            .where(Notification.alert_id == alert_id).order_by(Notification.id.desc())).all()
        names = [n for n, in session.execute(select(Customer.name)).all()]
    for name, phone in rows:
        if name and sum(name in other for other in names if other) == 1:
            return name, phone
    raise AssertionError(f"alert {alert_id} warned no customer with a distinct name")


def test_operators_read_reach_find_who_was_warned_and_read_the_chain(api_server, pg_clean_url, browser):  # noqa: F811
    api, admin, orange_raw, red_raw, quiet_end = quiet_storm(api_server, pg_clean_url)
    orange = post_and_fan_out(admin, orange_raw)
    name, phone = a_warned_customer(pg_clean_url, orange["id"])

    supervisor = api.as_user(make_user(pg_clean_url, "supervisor", "Sue Pervisor"))
    found = supervisor.get(f"/v1/alerts/{orange['id']}/warned", params={"q": name})
    assert found.status_code == 200, f"a supervisor may list who was warned: {found.text}"
    page = found.json()
    assert page["total"] >= 1 and all(name in p["name"] for p in page["people"]), \
        f"a name search lists only that customer's messages: {page}"
    shown = page["people"][0]["phone"]
    assert "****" in shown and shown.endswith(phone[-4:]) and phone not in shown, \
        f"a supervisor sees the phone masked: {shown}"
    assert page["held"]["waiting"] > 0, f"the orange messages wait for the end of quiet hours: {page['held']}"
    released = datetime.fromisoformat(page["held"]["release_at"]).astimezone(CHINA)
    assert released.strftime("%H:%M") == quiet_end.strftime("%H:%M"), \
        f"the held messages are released when quiet hours end ({quiet_end:%H:%M}), not {released:%H:%M}"
    full = admin.get(f"/v1/alerts/{orange['id']}/warned", params={"q": phone[-8:]}).json()
    assert any(p["phone"] == phone for p in full["people"]), "an admin finds the number by its digits, in full"
    refused = supervisor.get(f"/v1/alerts/{orange['id']}/warned", params={"q": "13"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "q", \
        f"a phone search of two digits is a 400 naming q: {refused.text}"
    too_long = supervisor.get(f"/v1/alerts/{orange['id']}/warned", params={"limit": "201"})
    assert too_long.status_code == 400 and too_long.json()["error"]["field"] == "limit", \
        f"a page above 200 is a 400 naming limit: {too_long.text}"
    for params, field in (({"q": "Li\x00"}, "q"), ({"q": "x" * 101}, "q"), ({"offset": "-1"}, "offset"),
                          ({"limit": "²"}, "limit")):
        hostile = supervisor.get(f"/v1/alerts/{orange['id']}/warned", params=params)
        assert hostile.status_code == 400 and hostile.json()["error"]["field"] == field, \
            f"{params!r} is a 400 naming {field}: {hostile.status_code} {hostile.text}"
    for bad_id in ("abc", "0", "99999999999"):
        hostile = supervisor.get(f"/v1/alerts/{bad_id}/history")
        assert hostile.status_code == 400 and hostile.json()["error"]["field"] == "alert_id", \
            f"alert id {bad_id!r} is a 400 naming alert_id: {hostile.status_code} {hostile.text}"
    wildcard = supervisor.get(f"/v1/alerts/{orange['id']}/warned", params={"q": "%_"}).json()
    assert wildcard["total"] == 0, f"% and _ in a name search are letters, not wildcards: {wildcard['total']}"
    missing = supervisor.get("/v1/alerts/99999999/warned")
    assert missing.status_code == 404, f"an unknown alert is a 404: {missing.status_code}"
    dispatcher = api.as_user(make_user(pg_clean_url, "dispatcher", "Dee Spatcher"))
    assert dispatcher.get(f"/v1/alerts/{orange['id']}/warned").status_code == 403, \
        "a dispatcher does not list the customers a warning reached"

    username = staff(pg_clean_url, "supervisor", "Zhou Min", "zhou")
    page = open_console(browser, api.base_url, username, "warnings")
    detail = page.get_by_test_id("warning-detail")
    expect(detail.get_by_test_id("warning-headline")).to_have_text("CMA issues an orange typhoon warning")
    expect(detail.get_by_test_id("reach-held")).to_contain_text(
        f"held for quiet hours until {quiet_end:%H:%M} CST (Beijing): they wait by design, nothing is broken")
    detail.get_by_test_id("warned-search").fill(name)
    detail.get_by_test_id("warned-find").click()
    rows = detail.get_by_test_id("warned-person")
    expect(rows.first.get_by_test_id("warned-name")).to_contain_text(name)
    assert all(name in text for text in rows.get_by_test_id("warned-name").all_inner_texts()), \
        "the search leaves only the customer searched for"
    expect(rows.first.get_by_test_id("warned-phone")).to_have_text(shown)
    expect(rows.first.get_by_test_id("warned-state")).to_have_text(
        f"Held for quiet hours until {quiet_end:%H:%M} CST (Beijing)")
    shot(page, "ops-warnings-held-en-1280")

    # The red update goes out at once (Extreme waives quiet hours); the provider reports a few failed.
    red = post_and_fan_out(admin, red_raw)
    fail_some(pg_clean_url, red["id"])
    red_page = supervisor.get(f"/v1/alerts/{red['id']}/warned").json()
    assert red_page["failures"] == [{"state": "undelivered", "error_code": "30003", "count": FAILED}], \
        f"the failures are counted by reason: {red_page['failures']}"
    history = dispatcher.get(f"/v1/alerts/{red['id']}/history").json()
    assert [(m["change"], m["headlines"].get("en-US")) for m in history["messages"]] == [
        ("issued", "CMA issues an orange typhoon warning"), ("updated", "CMA raises the typhoon warning to red")], \
        f"the chain's history gives each message its own headline: {history}"
    page.reload()
    items = page.get_by_test_id("warning-item")
    expect(items).to_have_count(2)
    items.filter(has_text="CMA issues an orange typhoon warning").click()
    expect(page).to_have_url(re.compile(rf"#/warnings/{orange['id']}$"))
    expect(detail.get_by_test_id("warning-headline")).to_have_text("CMA issues an orange typhoon warning")
    chain = detail.get_by_test_id("chain-message")
    expect(chain).to_have_count(2)
    expect(chain.nth(0)).to_contain_text("Warning issued")
    expect(chain.nth(0).get_by_test_id("chain-headline")).to_have_text("CMA issues an orange typhoon warning")
    expect(chain.nth(1)).to_contain_text("Warning updated")
    expect(chain.nth(1).get_by_test_id("chain-headline")).to_have_text("CMA raises the typhoon warning to red")
    expect(chain.nth(1)).to_contain_text(re.compile(r"\d\d:\d\d CST \(Beijing\)"))
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        assert_reads_well(page, "en-GB", f"warnings en {viewport['width']}")
        shot(page, f"ops-warnings-en-{viewport['width']}")
    assert_accessible(page, "warnings en")

    items.filter(has_text="CMA raises the typhoon warning to red").click()
    expect(detail.get_by_test_id("failure-reason")).to_have_text(
        f"{FAILED} failed: the phone is switched off or out of reach")
    page.context.close()

    zh = open_console(browser, api.base_url, username, f"warnings/{red['id']}", language="zh-CN",
                      viewport=VIEWPORTS[0])
    detail = zh.get_by_test_id("warning-detail")
    expect(detail.get_by_test_id("warning-headline")).to_have_text("中央气象台将台风预警升级为红色")
    expect(detail.get_by_test_id("failure-reason")).to_have_text(f"{FAILED} 条失败：手机关机或不在服务区")
    chain = detail.get_by_test_id("chain-message")
    expect(chain.nth(0).get_by_test_id("chain-headline")).to_have_text("中央气象台发布台风橙色预警")
    expect(chain.nth(0)).to_contain_text("发布预警")
    expect(chain.nth(1)).to_contain_text(re.compile(r"\d\d:\d\d 北京时间"))
    for viewport in (VIEWPORTS[0], VIEWPORTS[2]):
        zh.set_viewport_size(viewport)
        zh.wait_for_timeout(200)
        assert_reads_well(zh, "zh-CN", f"warnings zh {viewport['width']}")
        shot(zh, f"ops-warnings-zh-{viewport['width']}")
    assert_accessible(zh, "warnings zh")
    zh.context.close()


ALL_CLEAR = DEMO_WARNING.parent / "03-typhoon-infa-cancel.xml"
AREA_PATHS = ".leaflet-areas-pane path"


def area_share_of_map(page) -> float:
    """The largest warning area's width or height as a share of the map's (how closely the map frames it)."""
    return page.evaluate("""(selector) => {
      const map = document.querySelector('[data-testid=ops-map]').getBoundingClientRect();
      const boxes = [...document.querySelectorAll(selector)].map((p) => p.getBoundingClientRect());
      return Math.max(...boxes.map((b) => Math.max(b.width / map.width, b.height / map.height)));
    }""", AREA_PATHS)


def test_the_map_reads_each_warning_in_the_console_language_and_zooms_to_it(api_server, pg_clean_url,
                                                                          browser):  # noqa: F811
    api, admin, orange_raw, red_raw, quiet_end = quiet_storm(api_server, pg_clean_url)
    now = utcnow()
    raws = replay([DEMO_WARNING.read_bytes(), RED_UPDATE.read_bytes(), ALL_CLEAR.read_bytes()], now,
                  tag=uuid.uuid4().hex[:8], sent_at=[now - timedelta(hours=2), now - timedelta(hours=1), now])
    for raw in raws:  # a storm that has ended: warned, raised to red, all clear
        post_and_fan_out(admin, raw)
    post_and_fan_out(admin, orange_raw)  # and the next one, in force
    username = staff(pg_clean_url, "supervisor", "Zhou Min", "zhou")
    page = open_console(browser, api.base_url, username, "map", viewport=VIEWPORTS[1])
    cards = page.get_by_test_id("warning-card")
    expect(cards).to_have_count(2)
    ended = page.locator(".warning-card.ended")
    expect(ended.get_by_test_id("warning-title")).to_have_text("CMA lifts the red typhoon warning")
    expect(ended).to_contain_text("All clear")
    in_force = page.locator(".warning-card:not(.ended)")
    expect(in_force.get_by_test_id("warning-title")).to_have_text("CMA issues an orange typhoon warning")
    expect(in_force).to_contain_text(re.compile(r"Expires .*\d\d:\d\d CST \(Beijing\)"))

    expect(page.locator(AREA_PATHS)).to_have_count(2)
    for _ in range(3):  # the operator looks at the whole coast
        page.locator(".leaflet-control-zoom-out").click()
        page.wait_for_timeout(150)
    before = area_share_of_map(page)
    ended.click()
    expect(page.get_by_test_id("instruction")).to_have_text(
        "Watch for urban flooding, flash floods and landslides after the typhoon; do not start vehicles that have "
        "stood in water.")
    page.wait_for_timeout(400)
    after = area_share_of_map(page)
    assert after > max(0.6, before * 2), \
        f"clicking a warning frames its area (it filled {before:.0%} of the map before, {after:.0%} after)"
    in_force.click()
    expect(page.get_by_test_id("instruction")).to_contain_text("Authorities carry out typhoon emergency work")
    expect(page.get_by_test_id("selected-area").get_by_test_id("count-held")).to_contain_text(
        f"held for quiet hours until {quiet_end:%H:%M} CST (Beijing): they wait by design")

    panes = page.evaluate("""() => Object.fromEntries(['baseLabels', 'catLabels', 'clusters', 'jobs'].map((name) =>
      [name, Number(getComputedStyle(document.querySelector(`.leaflet-${name}-pane`)).zIndex)]))""")
    assert panes["baseLabels"] < panes["catLabels"] < panes["clusters"] < panes["jobs"], \
        f"place and CAT labels lie under asset clusters and job markers: {panes}"
    assert page.locator(".leaflet-tooltip-pane .province-label, .leaflet-tooltip-pane .cat-label").count() == 0, \
        "no standing label is drawn in the tooltip pane, above the markers"
    labels = page.evaluate("""() => [...document.querySelectorAll('.province-label, .cat-label')]
      .filter((e) => getComputedStyle(e).visibility !== 'hidden').map((e) => e.getBoundingClientRect())
      .map((b) => [b.left, b.top, b.right, b.bottom])""")
    overlapping = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]
                   if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert not overlapping, f"visible labels overlap each other: {overlapping}"
    expect(page.locator(".province-label").first).to_have_text(re.compile(r"^(Zhejiang|Fujian|Guangdong|Hainan)$"))
    assert_reads_well(page, "en-GB", "map en 1920")
    shot(page, "operations-map-warning-zoomed-en-1920")
    page.context.close()

    zh = open_console(browser, api.base_url, username, "map", language="zh-CN", viewport=VIEWPORTS[0])
    ended = zh.locator(".warning-card.ended")
    expect(ended.get_by_test_id("warning-title")).to_have_text("中央气象台解除台风红色预警")
    expect(ended).to_contain_text("解除预警")
    ended.click()
    expect(zh.get_by_test_id("instruction")).to_have_text("注意防范台风过后的城市内涝、山洪和地质灾害等次生灾害；涉水车辆不要启动。")
    assert_reads_well(zh, "zh-CN", "map zh 1280")
    zh.context.close()
