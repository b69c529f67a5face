"""The operations pages in headless Chromium (Playwright): Feeds and Outbox.

Feeds: a QWeather Weather Alert v1 feed polls the counties of a real demo book through the local
QWeather-compatible server (devtools/qweather_compatible.py), first with the right key (one point returns an
orange gale warning), then after the key was rotated away (401 at every point); a CAP ATOM feed points at
a port nobody listens on. An admin reads each feed's health, its error in words, and the QWeather points
with their place names, last answers and errors; the book's car in Beijing lies outside the bundled
gazetteer and raises a warning banner. Outbox: the demo typhoon warning goes out through the outbox
channel; an admin pages through it and finds one customer's message by phone. A dispatcher sees
neither page and the API refuses them the outbox.

Each page is read at 1280x800 and 390x844, in English and in Chinese: no page scrolls sideways, no
string of the other language and no untranslated key or raw code shows, every time names its zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from config.seed import seed_demo_book
from devtools.qweather_compatible import QWeatherServer, Running, gale_warning
from identity.service import create_staff_user
from store.db import session_scope
from tests.notify_support import add_book
from tests.support import ROOT, free_port, make_user
from tests.web.test_console import (
    SMALL_BOOK,
    browser,  # noqa: F401  (the module's Chromium fixture)
    ingest_demo_warning,
    shot,
)

KEY = "qw-ops-test-key-0123456789"
PASSWORD = "storm-shift-password-2026"
VIEWPORTS = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})
LANGUAGES = ("en-GB", "zh-CN")
BEIJING = (116.40, 39.90)  # outside the bundled gazetteer (four southern provinces)
CHINA = timezone(timedelta(hours=8))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
HOSTILE_NAME = 'Provincial <img src=x onerror="window.__pwned=1"> CAP index'  # a feed's name is typed by people
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# Values the API sends that people must never read as such.
RAW_CODES = ("qweather-v1", "cap-atom", "refused_credentials", "unreachable", "rate_limited", "all_clear",
             "sign_in_code", "delivered", "failing", "undefined", "null", "NaN")

# The console's texts, both languages: "key": "value" pairs in the order i18n.js lists them.
I18N = (ROOT / "web" / "static" / "js" / "i18n.js").read_text(encoding="utf-8")
_SECTIONS = re.compile(r'^\s*(en: \{|"zh-CN": \{|Object\.assign\(TEXTS\.en|Object\.assign\(TEXTS\["zh-CN"\])', re.M)
_PAIR = re.compile(r'"([A-Za-z][\w-]*(?:\.[\w-]+)+)": "((?:[^"\\]|\\.)*)"')


def _texts() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"en": {}, "zh-CN": {}}
    marks = [(m.start(), "zh-CN" if "zh-CN" in m.group(1) else "en") for m in _SECTIONS.finditer(I18N)]
    for pair in _PAIR.finditer(I18N):
        language = [lang for start, lang in marks if start < pair.start()][-1]
        found[language][pair.group(1)] = pair.group(2)
    return found


TEXTS = _texts()

# The page's own words: visible text nodes outside elements marked data-outside (names, places, messages
# and provider errors, which are shown as they came).
OWN_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    // The language switch names the other language on purpose.
    if (!parent || parent.closest('[data-outside], script, style, #toasts, #lang')) continue;
    if (!parent.checkVisibility()) continue;
    parts.push(node.textContent);
  }
  return parts.join(' ');
}"""


@pytest.fixture
def qweather():
    server = QWeatherServer(api_key=KEY)
    running = Running(server)
    yield server
    running.close()


def staff(database_url: str, role: str, name: str, username: str) -> str:
    """A signed-in staff member's username (password PASSWORD)."""
    with session_scope(database_url) as session:
        create_staff_user(session, role, name, username, password=PASSWORD)
    return username


def open_console(browser, base_url: str, username: str, hash_: str, language: str = "en-GB",  # noqa: F811
                 viewport: dict | None = None) -> Page:
    """Sign in as a person does (username and password, session cookie) and open one page of the console,
    on a screen in China Standard Time."""
    context = browser.new_context(viewport=viewport or VIEWPORTS[0], locale=language, timezone_id="Asia/Shanghai")
    context.script_errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: context.script_errors.append(str(error)))
    signed_in = context.request.post(f"{base_url}/v1/auth/login", data={"username": username, "password": PASSWORD})
    assert signed_in.ok, f"{username} could not sign in: {signed_in.status} {signed_in.text()}"
    page.goto(f"{base_url}/#/{hash_}")
    expect(page.locator("#topbar")).to_be_visible()
    return page


def assert_reads_well(page: Page, language: str, where: str) -> None:
    """No sideways scrolling, only this language's words, no untranslated key or raw code, no script error."""
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(widths[:2]) <= widths[2], f"{where}: the page scrolls sideways (scroll widths {widths[:2]}, " \
                                         f"window {widths[2]})"
    own = page.evaluate(OWN_TEXT)
    shown_keys = sorted(key for key in TEXTS["en"] if key in own)
    assert not shown_keys, f"{where}: untranslated keys are shown: {shown_keys}"
    raw = sorted(code for code in RAW_CODES if re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", own))
    assert not raw, f"{where}: raw codes are shown to people: {raw}"
    if language == "en-GB":
        assert not CJK.findall(own), f"{where}: Chinese characters in the English console: {CJK.findall(own)[:20]}"
    else:
        english = sorted(value for key, value in TEXTS["en"].items()
                         if len(value) >= 4 and re.search("[a-z]{3}", value) and value != TEXTS["zh-CN"].get(key)
                         and "{" not in value and value in own)
        assert not english, f"{where}: English texts in the Chinese console: {english}"
    assert not page.context.script_errors, f"{where}: script errors: {page.context.script_errors}"


def assert_accessible(page: Page, where: str) -> None:
    """axe-core, where it is installed (node_modules/axe-core): no serious or critical violation."""
    if not AXE.exists():
        return
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the driver, so the page's CSP does not apply
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .filter((v) => ['serious', 'critical'].includes(v.impact))
        .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)""")
    assert not violations, f"{where}: axe-core reports serious or critical violations: {violations}"


# --- feeds -----------------------------------------------------------------------------------------

def _china_time(minutes: float = 0) -> str:
    moment = datetime.now(UTC).astimezone(CHINA).replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat(timespec="minutes")


def feeds_with_trouble(api_server, database_url: str, qweather: QWeatherServer, haven_env):
    """A QWeather v1 feed over the demo book's counties that answered once and then refused a rotated key,
    and a CAP ATOM feed on a closed port. Returns (api, admin client, admin username, v1 feed as the API
    answers)."""
    api = api_server(database_url, qweather_api_key=KEY, **SMALL_BOOK)
    seed_demo_book()
    add_book(database_url, 1, lon=BEIJING[0], lat=BEIJING[1], start=9_000_000)  # a car and a home
    admin = api.as_user(make_user(database_url, "admin", "Ops Admin"))
    created = admin.post("/v1/feeds", json={"url": f"{qweather.base}/weatheralert/v1/current", "kind": "qweather-v1",
                                            "every": "300s", "name": "QWeather v1"})
    assert created.status_code == 201, f"the QWeather feed was not registered: {created.text}"
    feed = created.json()
    points = feed["health"]["points"]
    assert len(points) > 20, f"the demo book should span more than 20 counties, got {len(points)}"
    warned = points[0]
    qweather.set_alerts(warned["lat"], warned["lon"],
                        [gale_warning("W-OPS-GALE-1", "orange", _china_time(-5), _china_time(600))])
    first = admin.post(f"/v1/feeds/{feed['id']}/poll")
    assert first.status_code == 200 and first.json()["error"] is None, f"the first round failed: {first.text}"
    haven_env(database_url, qweather_api_key="rotated-away")  # the served API reads its settings anew
    second = admin.post(f"/v1/feeds/{feed['id']}/poll")
    assert second.status_code == 200 and "HTTP 401" in (second.json()["error"] or ""), \
        f"the second round should fail with 401: {second.text}"

    closed = admin.post("/v1/feeds", json={"url": f"http://127.0.0.1:{free_port()}/alerts.atom", "kind": "cap-atom",
                                           "every": "120s", "name": HOSTILE_NAME})
    assert closed.status_code == 201, f"the ATOM feed was not registered: {closed.text}"
    admin.post(f"/v1/feeds/{closed.json()['id']}/poll")
    username = staff(database_url, "admin", "Olga Ops", "olga")
    [listed] = [f for f in admin.get("/v1/feeds").json()["feeds"] if f["id"] == feed["id"]]
    return api, admin, username, listed


def test_an_admin_reads_feed_health_errors_in_words_and_the_qweather_points(api_server, pg_clean_url, qweather,
                                                                            haven_env, browser):  # noqa: F811
    api, admin, username, v1 = feeds_with_trouble(api_server, pg_clean_url, qweather, haven_env)
    health = v1["health"]
    assert health["last_error_kind"] == "refused_credentials", f"the API names the 401 in one word: {health}"
    outside = health["assets_outside_gazetteer"]
    assert outside >= 2, f"the Beijing car and home (and demo assets at sea) lie outside the gazetteer: {outside}"
    total = len(health["points"])
    warned = health["points"][0]

    page = open_console(browser, api.base_url, username, "feeds")
    feeds = page.get_by_test_id("feed")
    expect(feeds).to_have_count(2)
    card = feeds.filter(has_text="QWeather v1")
    expect(card.get_by_test_id("feed-status")).to_have_text("✕ Failing")
    expect(card.get_by_test_id("feed-kind")).to_have_text("QWeather Weather Alert v1, by point")
    expect(card.get_by_test_id("feed-error")).to_contain_text("The provider refused our credentials (API key or token).")
    expect(card.get_by_test_id("failures")).to_have_text("1")
    for fact in ("last-success", "last-failure", "next-poll"):
        expect(card.get_by_test_id(fact)).to_contain_text(re.compile(r"\d\d:\d\d CST \(Beijing\)"))
    expect(card.get_by_test_id("outside-gazetteer")).to_contain_text(
        f"{outside:,} insured assets lie outside the map of counties in use")

    points = card.get_by_test_id("point")
    expect(points).to_have_count(20)
    toggle = card.get_by_test_id("points-toggle")
    expect(toggle).to_have_text(f"Show all {total} points")
    toggle.click()
    expect(points).to_have_count(total)
    first = points.filter(has_text=warned["name"]).first
    expect(first.get_by_test_id("point-state")).to_have_text("✕ Failed")
    expect(first).to_contain_text("1 in force")  # the last answer read, kept while the key is refused
    expect(first.get_by_test_id("point-error")).to_contain_text("The provider refused our credentials")
    expect(first).to_contain_text(re.compile(r"\d\d:\d\d CST \(Beijing\)"))

    atom = feeds.filter(has_text=HOSTILE_NAME)
    expect(atom.locator("h2")).to_have_text(HOSTILE_NAME)
    assert page.evaluate("window.__pwned") is None and page.locator('img[src="x"]').count() == 0, \
        "a feed's name is shown as text, never parsed as markup"
    expect(atom.get_by_test_id("feed-status")).to_have_text("✕ Failing")
    expect(atom.get_by_test_id("feed-kind")).to_have_text("CAP warnings, ATOM index")
    expect(atom.get_by_test_id("feed-error")).to_contain_text("The provider could not be reached.")
    expect(atom.get_by_test_id("without-link")).to_have_text("0")
    expect(atom.get_by_test_id("last-success")).to_have_text("never")

    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        assert_reads_well(page, "en-GB", f"feeds en {viewport['width']}")
        shot(page, f"ops-feeds-en-{viewport['width']}")
    assert_accessible(page, "feeds en")
    page.context.close()

    zh = open_console(browser, api.base_url, username, "feeds", language="zh-CN", viewport=VIEWPORTS[1])
    card = zh.get_by_test_id("feed").filter(has_text="QWeather v1")
    expect(card.get_by_test_id("feed-status")).to_have_text("✕ 失败")
    expect(card.get_by_test_id("feed-error")).to_contain_text("服务商拒绝了我们的凭据（API 密钥或令牌）。")
    expect(card.get_by_test_id("last-failure")).to_contain_text(re.compile(r"\d\d:\d\d 北京时间"))
    expect(card.get_by_test_id("outside-gazetteer")).to_contain_text(f"有 {outside:,} 个承保标的位于当前行政区划数据之外")
    expect(card.get_by_test_id("points-toggle")).to_have_text(f"显示全部 {total} 个点位")
    for viewport in reversed(VIEWPORTS):
        zh.set_viewport_size(viewport)
        zh.wait_for_timeout(200)
        assert_reads_well(zh, "zh-CN", f"feeds zh {viewport['width']}")
        shot(zh, f"ops-feeds-zh-{viewport['width']}")
    zh.context.close()


def test_feed_health_names_each_error_in_one_word():
    from web.routes.feeds import error_kind

    cases = {
        "1 of 3 point(s) failed; (28.07, 120.51) 330302: HTTP 401 Unauthorized: Unauthorized Authentication failed"
        " (check HAVEN_QWEATHER_API_KEY or the JWT credential)": "refused_credentials",
        "HTTP 429: round stopped, feed backs off; 1 of 1 point(s) failed; (28.07, 120.51) 330302: HTTP 429 Too Many"
        " Requests": "rate_limited",
        "HTTP 503 Service Unavailable": "provider_error",
        "HTTP 404 Not Found": "not_found",
        "timed out after 10 s": "timeout",
        "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default [Connect call failed]": "unreachable",
        "unreadable content (quarantined): not XML": "unreadable",
        "2 linked CAP message(s) not fetched: https://x/1.xml: HTTP 404 Not Found": "not_found",
        "CredentialsMissing: no QWeather credentials: set HAVEN_QWEATHER_API_KEY": "no_credentials",
        "something nobody foresaw": "other",
    }
    named = {text: error_kind(text) for text in cases}
    assert named == cases, "each poller error maps to the word the console translates"
    assert error_kind(None) is None and error_kind("") is None, "no error, no word"


# --- outbox ----------------------------------------------------------------------------------------

def readable(phone: str) -> str:
    """A mainland mobile in the groups people read it in: +86 170 0000 0123."""
    return re.sub(r"^\+86(1\d{2})(\d{4})(\d{4})$", r"+86 \1 \2 \3", phone)


def test_an_admin_pages_the_outbox_and_finds_a_message_by_phone(api_server, pg_clean_url, browser):  # noqa: F811
    from alerts.matching import spatial

    spatial.forget_indexes()  # the asset index of an earlier test's book is cached in this process
    api = api_server(pg_clean_url, HAVEN_QUIET_HOURS="00:00-00:00", **SMALL_BOOK)  # no warning waits for morning
    seed_demo_book()
    admin = api.as_user(make_user(pg_clean_url, "admin", "Ops Admin"))
    ingest_demo_warning(admin)
    everything = admin.get("/v1/outbox?limit=500").json()["messages"]
    assert len(everything) > 50, f"the demo warning should fill more than one page, got {len(everything)}"
    wanted = [m for m in everything if m["channel"] == "sms"][-1]  # the oldest: only a search finds it at once
    phone = wanted["recipient"]
    typed = f"{phone[-8:-4]} {phone[-4:]}"  # the last eight digits, as a caller reads them out
    refused = admin.get("/v1/outbox?phone=abc")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "phone", \
        f"a phone search without digits is a 400 naming the field: {refused.text}"
    found = admin.get(f"/v1/outbox?phone={typed}").json()["messages"]
    assert found and all(phone[-8:] in (m["recipient"] + (m["customer_phone"] or "")) for m in found), \
        "the API finds messages by the digits of a phone number"
    username = staff(pg_clean_url, "admin", "Olga Ops", "olga")

    page = open_console(browser, api.base_url, username, "outbox")
    rows = page.get_by_test_id("outbox-message")
    expect(rows).to_have_count(50)
    first = rows.first
    expect(first.get_by_test_id("outbox-state")).to_have_text("✓ Kept in the outbox")
    expect(first).to_contain_text(re.compile(r"\d\d:\d\d CST \(Beijing\)"))
    page.get_by_test_id("outbox-more").click()
    expect(rows).to_have_count(min(100, len(everything)))
    newest = admin.get("/v1/outbox?limit=100").json()["messages"]
    listed = page.get_by_test_id("outbox-phone-number").all_inner_texts()
    assert listed == [readable(m["recipient"] if m["channel"] == "sms" else m["customer_phone"]) for m in newest], \
        "the page lists the outbox newest first, as the API does, with each full number"

    page.get_by_test_id("outbox-channel").select_option("sms")
    page.get_by_test_id("outbox-phone").fill("abc")
    page.get_by_test_id("outbox-search").click()
    expect(page.get_by_test_id("outbox-phone-error")).to_have_text(
        "Type 3 to 20 digits of a phone number (spaces, dashes and + are fine).")
    page.get_by_test_id("outbox-phone").fill(typed)
    page.get_by_test_id("outbox-search").click()
    expect(page.get_by_test_id("outbox-phone-error")).to_have_text("")
    expect(rows).to_have_count(len([m for m in found if m["channel"] == "sms"]))
    match = rows.filter(has_text=wanted["body"]).first
    expect(match.get_by_test_id("outbox-phone-number")).to_have_text(readable(phone))
    expect(match).to_contain_text("SMS")
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        assert_reads_well(page, "en-GB", f"outbox en {viewport['width']}")
        shot(page, f"ops-outbox-en-{viewport['width']}")
    page.get_by_test_id("outbox-clear").click()
    expect(rows).to_have_count(50)
    assert_accessible(page, "outbox en")
    page.context.close()

    zh = open_console(browser, api.base_url, username, "outbox", language="zh-CN", viewport=VIEWPORTS[1])
    rows = zh.get_by_test_id("outbox-message")
    expect(rows).to_have_count(50)
    expect(rows.first.get_by_test_id("outbox-state")).to_have_text("✓ 已存入发件箱")
    expect(rows.first).to_contain_text(re.compile(r"\d\d:\d\d 北京时间"))
    expect(zh.get_by_test_id("outbox-more")).to_have_text("再显示 50 条")
    for viewport in reversed(VIEWPORTS):
        zh.set_viewport_size(viewport)
        zh.wait_for_timeout(200)
        assert_reads_well(zh, "zh-CN", f"outbox zh {viewport['width']}")
        shot(zh, f"ops-outbox-zh-{viewport['width']}")
    zh.context.close()


def test_a_dispatcher_has_no_outbox_page_and_the_api_refuses_it(api_server, pg_clean_url, browser):  # noqa: F811
    api = api_server(pg_clean_url)
    dispatcher_key = make_user(pg_clean_url, "dispatcher", "Dee Dispatch")
    refused = api.as_user(dispatcher_key).get("/v1/outbox")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", \
        f"a dispatcher must not read customers' messages: {refused.status_code} {refused.text}"
    username = staff(pg_clean_url, "dispatcher", "Dan Dispatch", "dan")
    page = open_console(browser, api.base_url, username, "outbox")
    expect(page.locator("#nav a").first).to_be_visible()
    pages = page.locator("#nav a").evaluate_all("links => links.map(a => a.dataset.page)")
    assert "outbox" not in pages and "feeds" not in pages, f"the dispatcher's navigation lists {pages}"
    expect(page).not_to_have_url(re.compile(r"#/outbox$"))
    expect(page.get_by_test_id("outbox")).to_have_count(0)


def test_the_role_pages_match_what_the_api_allows():
    from web.routes.console import PAGES

    assert "outbox" in PAGES["admin"] and all("outbox" not in pages for role, pages in PAGES.items() if role != "admin"), \
        "only admins see the outbox (GET /v1/outbox is admin only)"
    assert [role for role, pages in PAGES.items() if "feeds" in pages] == ["supervisor", "manager", "admin"], \
        "feed health is for operations: supervisors, managers and admins"

