"""The facts a warning is worded from, as the variables of a template-only provider (Alibaba Cloud)."""

from datetime import timedelta

from alerts.notifying.channels.base import Outgoing
from alerts.notifying.template_facts import with_alert_facts
from alerts.notifying.texts import template_facts
from alerts.reading.ingest import Origin
from alerts.service import ingest
from store.db import session_scope
from store.models import Alert
from tests.notify_support import live_demo_cap

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


def test_a_stored_warning_and_a_bare_cancel_are_given_their_alerts_facts(haven_env, sqlite_url):
    haven_env(sqlite_url)
    ingest(live_demo_cap("01-typhoon-infa-orange-alert.xml"), Origin(source="test"), sqlite_url)
    with session_scope(sqlite_url) as session:
        warning = session.query(Alert).one()
        bare = Alert(sender=warning.sender, identifier="cancel-without-info", sent=warning.sent,
                     sent_at=warning.sent_at + timedelta(minutes=1), status=warning.status, msg_type="Cancel",
                     chain_id=warning.chain_id, format=warning.format, raw=b"", normalized={"infos": []},
                     ends_chain=True)
        session.add(bare)
        session.flush()
        warning_id, cancel_id = warning.id, bare.id

    def message(n, kind, alert_id, language):
        return Outgoing(n, f"k{n}", "C1", "sms", kind, "+8617000000001", "text", language, alert_id=alert_id)

    given = with_alert_facts([message(1, "warning", warning_id, "en"), message(2, "all_clear", cancel_id, "zh-CN"),
                              message(3, "rescue_assigned", None, "en")], "400-800-1234")
    assert (given[0].params["hazard"], given[0].params["level"]) == ("typhoon", "orange"), \
        f"the warning's facts were {given[0].params}"
    assert given[1].params["hazard"] == "台风", f"a bare Cancel did not take its chain's facts: {given[1].params}"
    assert given[1].params["place"].startswith("浙江东部沿海"), f"the Cancel's place was {given[1].params['place']}"
    assert given[2].params is None, "a message not worded from an alert was given an alert's facts"
