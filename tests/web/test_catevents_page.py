"""The CAT events page in headless Chromium: a supervisor sees the open event and two proposals with their
areas on small maps and their reach, merges the duplicate proposal of the same storm into the open event,
dismisses the other with a reason, and confirms a third; every decision is audited. The page is read at
1280x800 and 390x844 in English and Chinese: no sideways scrolling, no untranslated key or raw code, every
time names its zone, and axe-core finds no serious or critical violation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from greenchannel import catevents
from store.db import session_scope
from store.models import AuditEvent, CatEvent, CatEventChain
from store.users import Principal, create_user
from tests.greenchannel.conftest import LANDFALL, PLACES, infa_swath, seed_book
from tests.greenchannel.test_catevents_dedupe import _chain, _square
from tests.web.test_console import browser, shot  # noqa: F401  (the module's Chromium fixture)
from tests.web.test_ops_pages import (
    LANGUAGES,
    VIEWPORTS,
    assert_accessible,
    assert_reads_well,
    open_console,
    staff,
)


def _storm_with_proposals(database_url: str) -> dict[str, int]:
    """An open event of the storm (declared over its first chain), a second warning of the same storm
    proposed next to it, a swell warning far away, and a storm in Guangdong: the last three proposed."""
    from greenchannel.service import run_unit
    from workers.greenchannel import current_rules, wire_green_channel

    wire_green_channel()
    rules = current_rules().cat_events
    with session_scope(database_url) as session:
        user, _ = create_user(session, "supervisor", "Declaring supervisor")
        declarer = Principal(user.id, user.name, "supervisor", None)
    storm, _ = _chain(database_url, 1, infa_swath())


    opened = run_unit(catevents.declare, declarer, code="CAT-2021-0725-INFA", hazard="台风", chain_ids=[storm],
                      window_start=LANDFALL - timedelta(days=1), window_end=LANDFALL + timedelta(days=4))
    ids = {"open": opened.id}
    for name, area in [("duplicate", _square(*PLACES["ningbo"])), ("swell", _square(*PLACES["sanya"])),
                       ("guangdong", _square(*PLACES["guangzhou"]))]:
        _, (alert,) = _chain(database_url, 1, area)
        ids[name] = run_unit(catevents.propose_from_alert, alert, 1_234, rules).id
    return ids


@pytest.mark.slow
def test_a_supervisor_merges_dismisses_and_confirms_cat_proposals_in_chromium(browser, api_server,  # noqa: F811
                                                                            sqlite_url):
    seed_book(sqlite_url)
    api = api_server(sqlite_url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    ids = _storm_with_proposals(sqlite_url)
    supervisor = staff(sqlite_url, "supervisor", "Supervisor Su", "supervisor.su")

    for viewport in VIEWPORTS:
        for language in LANGUAGES:
            where = f"CAT events at {viewport['width']} px in {language}"
            page = open_console(browser, api.base_url, supervisor, "catevents", language, viewport)
            expect(page.get_by_test_id("cat-event")).to_have_count(4)
            expect(page.locator("[data-testid=cat-map] .leaflet-interactive")).to_have_count(4)
            reach = page.locator('[data-status=proposed] [data-testid=cat-reach]').first
            expect(reach).to_contain_text("1,234")
            window = page.locator("[data-testid=cat-window]").first
            expect(window).to_contain_text("Beijing" if language == "en-GB" else "北京时间")
            assert_reads_well(page, language, where)
            assert_accessible(page, where)
            if viewport["width"] == 1280 and language == "en-GB":
                # the offline base map (provinces) arrives after the areas
                expect(page.locator("[data-testid=cat-map] path").nth(8)).to_be_attached()
                shot(page, "catevents-1280-en")
            page.context.close()

    page = open_console(browser, api.base_url, supervisor, "catevents")
    code_of = {}
    with session_scope(sqlite_url) as session:
        for name, event_id in ids.items():
            code_of[name] = session.get(CatEvent, event_id).code
    duplicate = page.locator("[data-testid=cat-event]", has=page.get_by_role("heading", name=code_of["duplicate"], exact=True))
    duplicate.get_by_test_id("merge-into").select_option(str(ids["open"]))
    duplicate.get_by_test_id("merge").click()
    expect(page.get_by_test_id("toast").last).to_contain_text(f"{code_of['duplicate']} was merged into CAT-2021-0725-INFA")
    expect(page.locator("[data-status=proposed]")).to_have_count(2)

    swell = page.locator("[data-testid=cat-event]", has=page.get_by_role("heading", name=code_of["swell"], exact=True))
    swell.get_by_test_id("dismiss").click()
    reason = swell.get_by_test_id("dismiss-reason")
    assert reason.evaluate("(input) => input.validity.valueMissing"), "a dismissal without a reason was not stopped"
    expect(page.locator("[data-status=proposed]")).to_have_count(2)
    swell.get_by_test_id("dismiss-reason").fill("swell only, no landfall near our book")
    swell.get_by_test_id("dismiss").click()
    expect(page.locator("[data-status=proposed]")).to_have_count(1)

    guangdong = page.locator("[data-testid=cat-event]", has=page.get_by_role("heading", name=code_of["guangdong"], exact=True))
    guangdong.get_by_test_id("confirm-code").fill("CAT-2021-0725-CEMPAKA")
    guangdong.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("no-proposals")).to_be_visible()
    expect(page.locator("[data-status=open]")).to_have_count(2)
    shot(page, "catevents-after-decisions")
    assert_reads_well(page, "en-GB", "CAT events after the decisions")

    with session_scope(sqlite_url) as session:
        trail = {(a.entity_id, a.action, a.note) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "cat_event", AuditEvent.actor_role == "supervisor"))}
        moved = session.scalars(select(CatEventChain.cat_event_id).where(CatEventChain.cat_event_id == ids["open"])).all()
        confirmed = session.get(CatEvent, ids["guangdong"])
    assert (str(ids["duplicate"]), "merged", "merged into CAT-2021-0725-INFA") in trail, \
        f"the merge made in the page is not audited: {sorted(trail)}"
    assert (str(ids["swell"]), "dismissed", "swell only, no landfall near our book") in trail, \
        f"the dismissal and its reason are not audited: {sorted(trail)}"
    assert (str(ids["guangdong"]), "confirmed", "CAT-2021-0725-CEMPAKA") in trail, "the confirmation is not audited"
    assert len(moved) == 2, "the merged proposal's chain did not join the open event"
    assert (confirmed.status, confirmed.code) == ("open", "CAT-2021-0725-CEMPAKA"), "the confirmed code was not kept"
