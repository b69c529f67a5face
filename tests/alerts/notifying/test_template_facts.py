"""The facts a warning is worded from, as the variables of a template-only provider (Alibaba Cloud)."""

from alerts.notifying.texts import template_facts

INFOS = ({"language": "zh-CN", "event": "台风", "severity": "Severe", "areas": [{"desc": "温州市鹿城区"}]},
         {"language": "en-US", "event": "Typhoon", "severity": "Severe", "areas": [{"desc": "Lucheng, Wenzhou"}]})


def test_the_facts_are_in_the_customers_language():
    chinese = template_facts(INFOS, "Severe", "zh-CN", "400-800-1234")
    english = template_facts(INFOS, "Severe", "en", "400-800-1234")
    assert chinese == {"hazard": "台风", "level": "橙色", "place": "温州市鹿城区", "hotline": "400-800-1234"}, \
        f"the Chinese facts were {chinese}"
    assert english == {"hazard": "typhoon", "level": "orange", "place": "Lucheng, Wenzhou", "hotline": "400-800-1234"}, \
        f"the English facts were {english}"


def test_an_alert_without_an_area_name_says_your_area():
    bare = ({"language": "en", "event": "Flood warning", "areas": [{"desc": " "}]},)
    assert template_facts(bare, None, "zh-CN", "400")["place"] == "您所在地区", "an unnamed area is left empty in Chinese"
    assert template_facts(bare, None, "en", "400")["place"] == "your area", "an unnamed area is left empty in English"
    assert template_facts(bare, None, "en", "400")["level"] == "yellow", "no severity is not read as Moderate"
