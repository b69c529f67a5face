"""alerts/rules.py: the warnings' rules are built from the settings at the composition roots, and rule
modules read them from there (never the settings themselves)."""

import pytest

from alerts import rules
from alerts.reading.errors import BodyTooLarge
from alerts.reading.parse import parse_message
from alerts.rules import AlertRules, ReadingRules
from config import get_settings
from tests.support import ROOT
from workers.wiring import wire

ORANGE = (ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml").read_bytes()


def test_the_rules_follow_the_settings_the_root_reads(haven_env, sqlite_url):
    haven_env(sqlite_url, max_body_bytes=len(ORANGE) - 1, match_shards=3, qweather_concurrency=7)
    current = rules.current()
    assert current.reading.max_body_bytes == len(ORANGE) - 1, "HAVEN_MAX_BODY_BYTES reaches the parser's rules"
    assert current.matching.shards == 3, "HAVEN_MATCH_SHARDS reaches matching"
    assert current.qweather.concurrency == 7, "HAVEN_QWEATHER_CONCURRENCY reaches the QWeather poller"
    assert current == AlertRules.from_settings(get_settings()), "the wired rules are the settings' rules"
    with pytest.raises(BodyTooLarge):
        parse_message(ORANGE)


def test_a_root_may_hand_fixed_rules_and_the_parser_uses_them():
    try:
        rules.configure(AlertRules(reading=ReadingRules(max_body_bytes=100)))
        with pytest.raises(BodyTooLarge):
            parse_message(ORANGE)
        rules.configure(AlertRules())
        parsed = parse_message(ORANGE)
        assert len(parsed.alerts) == 1, "with the default limit the demo alert is read"
    finally:
        wire()
