"""QWeather Weather Alert API v1 answers: the provider's own examples, and the odd values its documentation
warns about (nulls, unknown codes, cancels), each read into the normalized alert."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from alerts.reading.errors import MessageInvalid
from alerts.reading.parse import parse_message
from tests.support import FIXTURES, ROOT

ZH = FIXTURES / "alerts" / "china" / "qweather_getWeatherAlertCurrent-zh.json"
EN = FIXTURES / "alerts" / "china" / "qweather_getWeatherAlertCurrent-en.json"


def _answer(path=ZH) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _parse(document: dict, **kwargs):
    return parse_message(json.dumps(document, ensure_ascii=False).encode(), max_bytes=1 << 20, **kwargs)


def test_the_provider_examples_parse_as_one_update_each_with_severity_and_language():
    zh = parse_message(ZH.read_bytes(), max_bytes=1 << 20)
    en = parse_message(EN.read_bytes(), max_bytes=1 << 20)
    assert [len(zh.alerts), len(en.alerts)] == [1, 1], "each example answer holds one warning"
    zh_alert, en_alert = zh.alerts[0].alert, en.alerts[0].alert
    assert (zh_alert["msg_type"], en_alert["msg_type"]) == ("Update", "Update"), "messageType.code update"
    assert zh_alert["references"] == [{"sender": "临桂区气象台", "identifier": "202510181140100706230391",
                                       "sent": None}], "supersedes -> a reference with the same sender"
    assert en_alert["references"][0]["identifier"] == "202510160638008946296098"
    assert zh_alert["infos"][0]["severity"] == "Minor", "zh: stated 'minor' wins (blue agrees)"
    assert en_alert["infos"][0]["severity"] == "Moderate", "en: stated 'moderate' wins over the orange colour"
    assert (zh_alert["infos"][0]["language"], en_alert["infos"][0]["language"]) == ("zh-CN", "en"), \
        "language detected from the text"


def test_the_request_language_wins_over_detection_and_counties_become_geocodes():
    message = _parse(_answer(EN), admin_codes=["330302", "330303", "330302"], language="zh-CN")
    info = message.alerts[0].alert["infos"][0]
    assert info["language"] == "zh-CN", "the lang the answer was asked in names its language"
    assert info["areas"][0]["geocodes"] == [{"name": "CN-ADCODE", "value": "330302"},
                                           {"name": "CN-ADCODE", "value": "330303"}], \
        "each polled county once, as a CN-ADCODE geocode"


def test_without_stated_severity_the_colour_decides_and_unknown_values_are_kept_and_flagged():
    document = _answer()
    entry = document["alerts"][0]
    entry["severity"], entry["color"]["code"] = None, "orange"
    assert _parse(document).alerts[0].alert["infos"][0]["severity"] == "Severe", "orange without severity: Severe"
    entry["color"]["code"] = "red"
    assert _parse(document).alerts[0].alert["infos"][0]["severity"] == "Extreme", "red without severity: Extreme"
    entry["severity"], entry["color"]["code"] = "catastrophic", "purple"
    parsed = _parse(document).alerts[0]
    assert parsed.alert["infos"][0]["severity"] == "Unknown", "an unknown severity and colour read as Unknown"
    unknown = [f["path"] for f in parsed.flags if f["code"] == "unknown-provider-value"]
    assert unknown == ["/alerts[1]/severity", "/alerts[1]/color/code"], f"both unknown values flagged: {unknown}"


def test_a_cancel_expires_one_hour_after_it_is_issued_and_ends_the_chain():
    document = _answer()
    document["alerts"][0]["messageType"] = {"code": "cancel", "supersedes": ["202510241119105837988676"]}
    parsed = _parse(document).alerts[0]
    assert parsed.alert["msg_type"] == "Cancel", "messageType cancel is a Cancel"
    assert parsed.ends_chain, "messageType cancel is a Cancel"
    assert parsed.alert["infos"][0]["expires"] == "2025-10-24T12:19+08:00", "issuedTime + 1 h"


def test_null_fields_never_fail_an_alert_but_a_missing_id_sets_that_entry_aside():
    document = _answer()
    good = copy.deepcopy(document["alerts"][0])
    nulls = {key: None for key in good if key not in ("id", "issuedTime")}
    document["alerts"] = [{**good, **nulls}, {**good, "id": None}]
    message = _parse(document)
    assert len(message.alerts) == 1, "the entry with only an id and a time still parses"
    alert = message.alerts[0].alert
    assert (alert["sender"], alert["msg_type"], alert["infos"][0]["severity"]) == ("qweather.com", "Alert", "Unknown")
    assert [p.path for r in message.rejected for p in r.problems] == ["/alerts[2]/id"], "the id-less entry is set aside"


def test_an_empty_answer_is_no_alert_and_a_provider_error_body_is_refused_with_its_title():
    empty = _parse({"metadata": {"tag": "x", "zeroResult": True, "attributions": []}, "alerts": []})
    assert (empty.format, empty.alerts, empty.rejected) == ("qweather-v1", [], []), "zeroResult: nothing to store"
    with pytest.raises(MessageInvalid) as refused:
        _parse({"error": {"status": 401, "type": "https://dev.qweather.com/docs/resource/error-code/#unauthorized",
                          "title": "Unauthorized", "detail": "Authentication failed"}})
    assert refused.value.path == "/error", 'fact: refused.value.path == "/error"'
    assert "Unauthorized" in refused.value.reason, 'fact: "Unauthorized" in refused.value.reason'


def test_a_bad_time_names_the_field():
    document = _answer()
    document["alerts"][0]["expireTime"] = "tomorrow"
    message = _parse(document)
    assert [p.path for r in message.rejected for p in r.problems] == ["/alerts[1]/expireTime"]


def test_haven_alerts_parse_reads_a_v1_answer():
    done = subprocess.run([sys.executable, "-m", "cli.main", "alerts", "parse", str(ZH), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, f"haven alerts parse failed: {done.stderr}"
    alerts = json.loads(done.stdout)["alerts"]
    assert [a["identifier"] for a in alerts] == ["202510241119105837988676"], "one alert printed"
