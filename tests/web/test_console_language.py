"""Every string the console shows exists in both its languages, and no page shows a key, a code or the
other language.

The texts table is read as the browser builds it: node runs web/static/js/i18n.js (with the text files it
imports) and hands back both languages, so a key added in one language only fails here by name. Then
Chromium opens every staff page (map, dispatch, queue, approvals, CAT events, warnings, feeds, outbox,
loss report) for a role that has it, in English and Chinese, after a warning reached the demo book: no
untranslated key, no snake_case code, no Chinese in the English console outside text that came from
outside (names, places, warning texts, marked data-outside), and every time shown names its zone; in
English each page is also read at 1280, 1920 and 390 px (no sideways scrolling) and by axe-core (no
serious or critical violation).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from config.seed import seed_demo_book
from tests.support import ROOT, make_user
from tests.web.test_console import (
    SMALL_BOOK,
    browser,  # noqa: F401  (the module's Chromium fixture)
    ingest_demo_warning,
)
from tests.web.test_ops_pages import AXE, open_console, staff

JS = ROOT / "web" / "static" / "js"
LANGUAGES = ("en", "zh-CN")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
SNAKE = re.compile(r"(?<![\w./:@-])[a-z]+(?:_[a-z0-9]+)+(?![\w/-])")
TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?![\d:])(?!\s*[–-]\s*\d)")
ZONE_AFTER_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?\s*(CST \(Beijing\)|北京时间|UTC|GMT[+-]?\d*)")
# Pages, and the role that has each.
PAGES = {"map": "admin", "dispatch": "admin", "queue": "admin", "approvals": "supervisor", "catevents": "admin",
         "warnings": "admin", "feeds": "admin", "outbox": "admin", "lossreport": "admin"}


def console_texts() -> dict[str, dict[str, str]]:
    """Both languages' texts as i18n.js builds them, read by node from a copy of the scripts whose
    i18n.js also exports its table."""
    if not shutil.which("node"):
        pytest.fail("node is missing: the console's texts are read by running i18n.js")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "js"
        shutil.copytree(JS, copy)
        i18n = copy / "i18n.js"
        i18n.write_text(i18n.read_text(encoding="utf-8") + "\nexport { TEXTS };\n", encoding="utf-8")
        (copy / "package.json").write_text('{"type": "module"}', encoding="utf-8")
        script = ("globalThis.localStorage = {getItem: () => null, setItem: () => {}};"
                  "globalThis.document = {documentElement: {}};"
                  "Object.defineProperty(globalThis, 'navigator', {value: {language: 'en'}, configurable: true});"
                  f"const {{ TEXTS }} = await import({json.dumps(i18n.as_uri())});"
                  "process.stdout.write(JSON.stringify(TEXTS));")
        done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                              timeout=60, check=False)
    assert done.returncode == 0, f"node could not run i18n.js: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def test_every_text_exists_in_both_languages():
    texts = console_texts()
    assert set(texts) == set(LANGUAGES), f"the console speaks {LANGUAGES}, the table has {sorted(texts)}"
    english, chinese = texts["en"], texts["zh-CN"]
    assert len(english) > 500, f"the table was read whole: {len(english)} English texts"
    only_english = sorted(set(english) - set(chinese))
    only_chinese = sorted(set(chinese) - set(english))
    assert not only_english, f"texts with no Chinese: {only_english}"
    assert not only_chinese, f"texts with no English: {only_chinese}"
    empty = sorted(f"{lang}:{key}" for lang in LANGUAGES for key, value in texts[lang].items() if not value.strip())
    assert not empty, f"empty texts: {empty}"
    placeholders = sorted(key for key in english
                          if set(re.findall(r"\{(\w+)\}", english[key])) != set(re.findall(r"\{(\w+)\}", chinese[key])))
    assert not placeholders, f"texts whose two languages fill in different values: {placeholders}"
    chinese_in_english = sorted(key for key, value in english.items() if CJK.search(value) and key != "top.lang")
    assert not chinese_in_english, f"English texts written in Chinese: {chinese_in_english}"


# The page's own words, each visible text node outside text that came from outside (data-outside).
OWN_TEXTS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    // The language switch names the other language on purpose; toasts come and go.
    if (!parent || parent.closest('[data-outside], script, style, #toasts, #lang, .leaflet-control-attribution')) continue;
    if (!parent.checkVisibility() || !node.textContent.trim()) continue;
    parts.push(node.textContent.trim());
  }
  return parts;
}"""


def own_texts(page: Page) -> list[str]:
    return page.evaluate(OWN_TEXTS)


def problems(parts: list[str], language: str, keys: set[str]) -> list[str]:
    found = []
    for part in parts:
        shown_keys = [key for key in keys if key in part]
        if shown_keys:
            found.append(f"untranslated key {shown_keys} in {part!r}")
        codes = SNAKE.findall(part)
        if codes:
            found.append(f"raw code {codes} in {part!r}")
        if language == "en" and CJK.search(part):
            found.append(f"Chinese in the English console: {part!r}")
        for clock in TIME.finditer(part):
            if not ZONE_AFTER_TIME.match(part, clock.start()):
                found.append(f"a time without its zone: {part!r}")
                break
    return found


def layout_problems(page: Page) -> list[str]:
    """Sideways scrolling at 1280, 1920 and 390 px, and axe-core's serious or critical violations."""
    found = []
    for width, height in ((1280, 800), (1920, 1080), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(250)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
        if max(widths[:2]) > widths[2]:
            found.append(f"scrolls sideways at {width} px (scroll widths {widths[:2]})")
    if AXE.exists():
        page.set_viewport_size({"width": 1280, "height": 800})
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the driver: the page's CSP does not apply
        found += page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter((v) => ['serious', 'critical'].includes(v.impact))
            .map((v) => `axe-core ${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)""")
    return found


@pytest.fixture
def storm_console(api_server, pg_clean_url):
    """A served console over the demo book after the demo warning went out, with an admin and a supervisor
    who sign in by password."""
    from alerts.matching import spatial
    spatial.forget_indexes()  # the asset index of an earlier test's book is cached in this process
    api = api_server(pg_clean_url, HAVEN_QUIET_HOURS="00:00-00:00", **SMALL_BOOK)
    seed_demo_book()
    ingest_demo_warning(api.as_user(make_user(pg_clean_url, "admin", "Ops Admin")))
    people = {"admin": staff(pg_clean_url, "admin", "Olga Ops", "olga"),
              "supervisor": staff(pg_clean_url, "supervisor", "Zhou Min", "zhou")}
    return api, people


def test_every_staff_page_speaks_one_language_with_no_code_and_zoned_times(storm_console, browser):  # noqa: F811
    api, people = storm_console
    texts = console_texts()
    keys = {key for key in texts["en"] if "." in key}
    found = []
    for language, locale in (("en", "en-GB"), ("zh-CN", "zh-CN")):
        for name, role in PAGES.items():
            page = open_console(browser, api.base_url, people[role], name, language=locale)
            expect(page.locator(f'#nav a[data-page="{name}"]')).to_have_attribute("aria-current", "page")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)
            found += [f"{name} ({language}): {problem}" for problem in problems(own_texts(page), language, keys)]
            found += [f"{name} ({language}): script error {error}" for error in page.context.script_errors]
            if language == "en":
                found += [f"{name} (en): {problem}" for problem in layout_problems(page)]
            page.context.close()
    assert not found, "pages show what people should not read:\n" + "\n".join(found)
