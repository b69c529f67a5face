"""Every warning text fits in 2 SMS segments with the longest real place names of the demo data.

The place names come from the demo itself: the longest asset address in config/demo_portfolio.py and
the longest area description per language in the bundled typhoon chain (config/demo/*.xml, parsed by
the real CAP parser). The asset counts are the largest one demo customer holds.
"""

from functools import cache
from pathlib import Path

import pytest

from alerts.notifying.sms import GSM7, UCS2, sms_size
from alerts.notifying.texts import (
    HAZARDS,
    KINDS,
    LANGUAGES,
    LINK_MAX,
    SEVERITIES,
    AssetCount,
    _load,
    area_name,
    choose_language,
    hazard_of,
    pick_info,
    render,
)
from alerts.reading.parse import parse_message
from config.demo_portfolio import generate_portfolio
from config.settings import DEFAULT_HOTLINE, HOTLINE_MAX
from tests.support import ROOT

DEMO_CHAIN = sorted((ROOT / "config" / "demo").glob("*.xml"))


@cache
def demo_infos() -> list[dict]:
    infos = []
    for path in DEMO_CHAIN:
        for parsed in parse_message(Path(path).read_bytes()).alerts:
            infos.extend(parsed.alert["infos"])
    return infos


def longest_area(language: str) -> str:
    names = [area_name(info, language) for info in demo_infos() if choose_language(info["language"]) == language]
    return max(names, key=len)


@cache
def demo_book_extremes() -> tuple[str, int, int]:
    assets = generate_portfolio().assets
    counts = assets.assign(vehicle=assets.kind == "vehicle").groupby("customer_id").vehicle.agg(["sum", "count"])
    longest_address = max(assets.address, key=len)
    return longest_address, int(counts["sum"].max()), int((counts["count"] - counts["sum"]).max())


def asset_mixes() -> list[AssetCount]:
    _, vehicles, properties = demo_book_extremes()
    return [AssetCount(1, 0), AssetCount(0, 1), AssetCount(vehicles, 0), AssetCount(0, properties),
            AssetCount(vehicles, properties)]


def test_the_demo_chain_has_chinese_and_english_area_names():
    assert len(DEMO_CHAIN) == 3
    assert len(longest_area("zh-CN")) >= 40
    assert len(longest_area("en")) >= 150


LONGEST_HOTLINE = "+86 (0571) 8888-8888"


def test_the_longest_hotline_tried_is_the_longest_allowed():
    assert len(LONGEST_HOTLINE) == HOTLINE_MAX


@pytest.mark.parametrize("hotline", [DEFAULT_HOTLINE, LONGEST_HOTLINE])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_fits_two_segments_with_the_longest_real_names(language, kind, hotline):
    address, _, _ = demo_book_extremes()
    area = longest_area(language)
    template = _load(language)
    for severity in SEVERITIES:
        for hazard in HAZARDS:
            for assets in asset_mixes():
                single = assets.total == 1
                text = render(kind, hazard, severity, language, assets, address=address if single else None, area=area,
                              hotline=hotline)
                size = sms_size(text.body)
                assert size.segments <= 2, (language, kind, severity, hazard, assets, text.body)
                assert hotline in text.body
                if kind != "all_clear":
                    assert text.body.endswith(template["reply"]["menu"]), \
                        f"the reply menu does not end the {language} {kind} text: {text.body}"
                assert kind == "all_clear" or (template["hazards"][hazard]["both"] in text.body if assets.vehicles and assets.properties
                        else template["hazards"][hazard]["vehicle" if assets.vehicles else "property"] in text.body)
                if language == "zh-CN":
                    # Chinese is UCS-2 anyway: the longest address fits in full, and so does the longest area
                    # with the placeholder hotline; a longer hotline first costs the area its bracketed list.
                    assert size.encoding == UCS2
                    if single:
                        assert address in text.body
                    else:
                        # The reply menu costs the area its bracketed list as the longest hotline does.
                        whole = hotline == DEFAULT_HOTLINE and kind == "all_clear"
                        assert (area if whole else area.split("（")[0]) in text.body, \
                            f"the area's main part is missing from the {kind} text: {text.body}"
                else:
                    # English stays GSM-7: a Chinese address is left out; the English area keeps its main part
                    # (with the longest hotline, at least its opening words).
                    assert size.encoding == GSM7
                    assert address not in text.body
                    if not single:
                        main_part = area.split(" (")[0]
                        # The reply menu, like the longest hotline, leaves room for the area's opening words.
                        kept = (main_part if hotline == DEFAULT_HOTLINE and kind == "all_clear"
                                else main_part[:30] if kind == "all_clear" else main_part[:18])
                        assert kept in text.body, f"the area's opening words are missing from the {kind} text: {text.body}"


def test_the_count_names_each_kind_of_asset():
    assert "your 2 insured vehicles and 1 property" in render("warning", "typhoon", "Severe", "en", AssetCount(2, 1)).body
    assert "1辆投保车辆" in render("warning", "typhoon", "Severe", "zh-CN", AssetCount(1, 0)).body
    assert "3辆投保车辆和2处房产" in render("warning", "flood", "Severe", "zh-CN", AssetCount(3, 2)).body


def test_an_area_longer_than_any_real_one_is_shortened_not_sent_in_three_parts():
    area = "、".join(["浙江省温州市鹿城区"] * 20)
    text = render("warning", "typhoon", "Severe", "zh-CN", AssetCount(2, 0), area=area)
    assert text.segments == 2
    assert "…" in text.body, 'fact: "…" in text.body'
    assert "浙江省温州市" in text.body, 'fact: "浙江省温州市" in text.body'


def test_extreme_warnings_say_act_now():
    assert "请立即" in render("warning", "typhoon", "Extreme", "zh-CN", AssetCount(1, 0)).body
    assert "Act now" in render("warning", "typhoon", "Extreme", "en", AssetCount(1, 0)).body
    assert "Act now" not in render("warning", "typhoon", "Severe", "en", AssetCount(1, 0)).body


@pytest.mark.parametrize(("locale", "info_languages", "expected"), [
    ("zh-CN", ["en-US"], "zh-CN"),
    ("zh_TW", [], "zh-CN"),
    ("en-GB", ["zh-CN"], "en"),
    ("fr-FR", ["zh-CN", "en-US"], "zh-CN"),  # no French templates: the alert's own language
    (None, ["en-US"], "en"),
    ("fr-FR", ["fr-FR"], "en"),  # nothing we can write: English
])
def test_language_comes_from_the_locale_then_the_alerts_language(locale, info_languages, expected):
    assert choose_language(locale, info_languages) == expected


def test_the_info_in_the_customers_language_names_the_hazard_and_area():
    infos = demo_infos()[:2]  # the orange Alert: zh-CN then en-US
    assert hazard_of(pick_info(infos, "en")) == "typhoon"
    assert area_name(pick_info(infos, "zh-CN"), "zh-CN").startswith("浙江东部沿海")
    assert area_name(pick_info(infos, "en"), "en").startswith("Coastal eastern Zhejiang")


@pytest.mark.parametrize(("event", "hazard"), [
    ("台风", "typhoon"), ("大风", "gale"), ("雷雨大风", "thunderstorm"), ("暴雨", "rainstorm"),
    ("Flash Flood Watch", "flood"), ("Severe Thunderstorm Warning", "thunderstorm"),
    ("Tropical Storm Warning", "typhoon"), ("Tsunami Warning", "storm_surge"), ("Winter Weather Advisory", "winter"),
    ("Earthquake", "earthquake"), ("Structure Fire", "fire"), ("Special Weather Statement", "other"),
])
def test_hazard_from_real_event_names(event, hazard):
    assert hazard_of({"event": event}) == hazard


LONGEST_LINK = "https://claims.insurer-example.cn/c/" + "A" * 22


def test_the_longest_link_tried_is_the_longest_carried():
    assert len(LONGEST_LINK) == LINK_MAX, f"the link tried is {len(LONGEST_LINK)} characters, not {LINK_MAX}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["warning", "escalation"])
def test_a_warning_with_a_signed_link_still_fits_two_segments(language, kind):
    """While a CAT event is open the warning carries the customer's link beside the reply menu and the
    hotline. In Chinese (UCS-2, 134 characters) the advice gives way to it; in English everything stays."""
    address, _, _ = demo_book_extremes()
    template = _load(language)
    for severity in SEVERITIES:
        for hazard in HAZARDS:
            for assets in asset_mixes():
                single = assets.total == 1
                text = render(kind, hazard, severity, language, assets, address=address if single else None,
                              area=longest_area(language), hotline=LONGEST_HOTLINE, link=LONGEST_LINK)
                facts = (language, kind, severity, hazard, assets, text.body)
                assert text.segments <= 2, f"more than 2 segments: {facts}"
                assert LONGEST_LINK in text.body, f"the link is missing: {facts}"
                assert f" {LONGEST_LINK} " in text.body, f"the link is not set apart by spaces for phones: {facts}"
                assert LONGEST_HOTLINE in text.body and template["reply"]["menu"].strip() in text.body, \
                    f"the hotline or the reply menu gave way to the link: {facts}"
                advice = template["hazards"][hazard]["both" if assets.vehicles and assets.properties
                                                      else "vehicle" if assets.vehicles else "property"]
                assert (advice in text.body) == (language == "en"), f"advice kept or dropped wrongly: {facts}"


def test_a_link_longer_than_the_limit_is_left_out_rather_than_a_third_segment():
    longer = "https://claims.a-much-longer-insurer-name.example.cn/c/" + "A" * 22
    text = render("warning", "typhoon", "Severe", "zh-CN", AssetCount(7, 7), hotline=LONGEST_HOTLINE, link=longer)
    assert longer not in text.body and text.segments <= 2, f"an over-long link was carried: {text.body}"
    assert "将车辆移至高处" in text.body, "without a link the Chinese warning lost its advice"
