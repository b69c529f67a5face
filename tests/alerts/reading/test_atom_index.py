"""Index entries that neither link to nor embed a CAP message: flagged `missing-cap-link` on the entry, listed
with the problems of an index refused for other reasons, and counted in feed health. Real files: the corpus's
google/cap-library vectors, and two real indexes with one stated change (tests/fixtures/feeds/SOURCES.md)."""

from __future__ import annotations

import pytest

from alerts.reading.errors import MessageInvalid
from alerts.reading.parse import parse_message
from tests.alerts.reading.test_feeds import Route, add, feed_server, feed_state, poll  # noqa: F401
from tests.support import FIXTURES

CORPUS = FIXTURES / "alerts" / "feeds"
DERIVED = FIXTURES / "feeds"
MAX = 5 * 1024 * 1024


def _flags(entry: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["path"]) for f in entry["flags"]]


def test_an_atom_entry_without_link_or_content_is_flagged_at_its_path():
    message = parse_message((DERIVED / "atom_entry-without-link_ids-added.atom").read_bytes(), max_bytes=MAX)
    [entry] = message.entries
    assert entry["cap_url"] is None, "nothing to fetch"
    assert _flags(entry) == [("missing-cap-link", "/feed/entry[1]")], f"flag on the entry: {entry['flags']}"


def test_an_rss_item_without_link_is_flagged_and_the_other_items_go_through():
    message = parse_message((DERIVED / "rss_second-item-without-link.rss").read_bytes(), max_bytes=MAX)
    first, second = message.entries
    assert first["cap_url"].endswith("NYAlert-ALLHAZALERT-3167113"), "linked item intact"
    assert _flags(first) == [], "linked item intact"
    assert _flags(second) == [("missing-cap-link", "/rss/channel/item[2]")], f"flagged: {second['flags']}"


def test_the_real_atom_vector_is_refused_and_also_names_the_entry_without_a_link():
    with pytest.raises(MessageInvalid) as refused:
        parse_message((CORPUS / "INVALID_atom_missing-feed-and-entry-id.atom").read_bytes(), max_bytes=MAX)
    problems = [(p.path, p.reason) for p in refused.value.problems]
    assert problems[0][0] == "/feed", "the first problem is unchanged"
    assert "ATOM_ID_IS_REQUIRED" in problems[0][1], "the first problem is unchanged"
    assert any(path == "/feed/entry[1]" and "missing-cap-link" in reason for path, reason in problems), problems


def test_the_real_rss_vector_with_an_empty_item_is_still_refused_naming_the_missing_link():
    with pytest.raises(MessageInvalid) as refused:
        parse_message((CORPUS / "INVALID_rss_item-missing-link-title-guid.rss").read_bytes(), max_bytes=MAX)
    assert refused.value.path == "/rss/channel/item[1]", 'fact: refused.value.path == "/rss/channel/item[1]"'
    assert "RSS_ITEM_MISSING_CAP_LINK" in refused.value.reason, 'fact: "RSS_ITEM_MISSING_CAP_LINK" in refused.value.reason'


def test_feed_health_counts_the_entries_without_a_link(sqlite_url, feed_server):  # noqa: F811
    # The linked item's CAP is fetched from the local server, never from the agency.
    body = (DERIVED / "rss_second-item-without-link.rss").read_bytes().replace(
        b"http://www.nyalert.gov/Public", feed_server.base.encode() + b"/Public")
    feed_server.routes["/index.rss"] = Route(body, content_type="application/rss+xml")
    feed_id = add(sqlite_url, feed_server.url("/index.rss"), kind="cap-rss")
    poll(sqlite_url)
    _, health = feed_state(sqlite_url, feed_id)
    assert health["entries_without_cap_link"] == 1, f"one item had no link: {health}"
