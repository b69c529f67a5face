"""Who is warned (docs/architecture.md), as plain functions over plain inputs."""

from datetime import UTC, datetime, time, timedelta

import pytest

from alerts.notifying.targeting import (
    AlertFacts,
    AssetInArea,
    CustomerInArea,
    EarlierMessage,
    Rules,
    alert_severity,
    idempotency_key,
    plan_all_clear,
    plan_warnings,
    quiet_until,
)
from alerts.reading.parse import parse_message
from tests.support import FIXTURES, ROOT

NOON_SHANGHAI = datetime(2021, 7, 24, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
RULES = Rules()


def demo_infos(name: str) -> tuple[dict, ...]:
    parsed = parse_message((ROOT / "config" / "demo" / name).read_bytes()).alerts[0]
    return tuple(parsed.alert["infos"])


ORANGE = demo_infos("01-typhoon-infa-orange-alert.xml")  # Severe
RED = demo_infos("02-typhoon-infa-red-update.xml")  # Extreme


def alert(msg_type="Alert", status="Actual", infos=ORANGE, expires_in_h=24.0, chain_state="active", alert_id=1):
    return AlertFacts(alert_id=alert_id, chain_id=7, status=status, msg_type=msg_type,
                      expires_at=NOON_SHANGHAI + timedelta(hours=expires_in_h), infos=infos, chain_state=chain_state)


def customer(cid="C1", kinds=("vehicle",), **fields):
    values = {"phone": f"+8617000{cid[1:]:0>7}", "locale": "zh-CN", "time_zone": "Asia/Shanghai"} | fields
    assets = tuple(AssetInArea(f"{cid}-A{i}", kind, "浙江省温州市滨海大道1号") for i, kind in enumerate(kinds))
    return CustomerInArea(cid, assets=assets, **values)


def told(cid, channel="sms", kind="warning", severity="Severe", state="sent", nid=100):
    return EarlierMessage(nid, cid, channel, kind, severity, state, asset_count=1, vehicle_count=1)


def test_an_actual_alert_warns_each_customer_once_per_open_channel():
    plan = plan_warnings(alert(), [customer("C1", push_token="tok-1"), customer("C2")], [], NOON_SHANGHAI, RULES)
    assert sorted((m.customer_id, m.channel, m.kind) for m in plan.messages) == [
        ("C1", "push", "warning"), ("C1", "sms", "warning"), ("C2", "sms", "warning")]
    assert plan.skipped == {"no_push_token": 1}
    sms = next(m for m in plan.messages if m.channel == "sms")
    assert sms.recipient == "+86170000000001"
    assert sms.body.startswith("【Haven保险】台风橙色预警"), 'fact: sms.body.startswith("【Haven保险】台风橙色预警")'
    assert sms.segments <= 2, 'fact: sms.segments <= 2'
    assert sms.not_before is None


@pytest.mark.parametrize("status", ["Test", "Exercise", "System", "Draft"])
def test_only_actual_alerts_warn(status):
    plan = plan_warnings(alert(status=status), [customer()], [], NOON_SHANGHAI, RULES)
    assert plan.messages == [], 'fact: plan.messages == []'
    assert plan.skipped == {f"status_{status.lower()}": 1}, 'fact: plan.skipped == {f"status_{status.lower()}": 1}'


def test_a_real_test_message_warns_nobody():
    parsed = parse_message((FIXTURES / "alerts" / "cap-valid" /
                            "ph_pagasa_tropical-cyclone_polygon_status-test_xmldsig.xml").read_bytes()).alerts[0]
    facts = alert(status=parsed.alert["status"], infos=tuple(parsed.alert["infos"]))
    assert plan_warnings(facts, [customer()], [], NOON_SHANGHAI, RULES).messages == []


def test_an_expired_alert_warns_nobody():
    plan = plan_warnings(alert(expires_in_h=-0.1), [customer()], [], NOON_SHANGHAI, RULES)
    assert plan.messages == [], 'fact: plan.messages == []'
    assert plan.skipped == {"expired": 1}, 'fact: plan.skipped == {"expired": 1}'


def test_a_real_blue_cma_warning_is_below_the_default_threshold():
    raw = (FIXTURES / "alerts" / "china" / "qweather_getWarningNow-zh.json").read_bytes()
    infos = tuple(parse_message(raw, admin_code="310000").alerts[0].alert["infos"])
    assert alert_severity(infos) == "Minor"  # severityColor Blue
    assert plan_warnings(alert(infos=infos), [customer()], [], NOON_SHANGHAI, RULES).skipped == {"below_threshold": 1}
    assert len(plan_warnings(alert(infos=infos), [customer()], [], NOON_SHANGHAI, Rules("Minor")).messages) == 1


@pytest.mark.parametrize(("headline", "severity"), [
    ("中央气象台发布台风红色预警", "Extreme"), ("发布暴雨橙色预警", "Severe"), ("发布大风黄色预警", "Moderate"),
    ("发布大雾蓝色预警", "Minor"), ("Yellow rainstorm warning", "Moderate"), ("No colour at all", None),
])
def test_cma_colours_stand_in_for_an_unknown_severity(headline, severity):
    assert alert_severity([{"severity": "Unknown", "event": "", "headline": headline}]) == severity


def test_the_threshold_is_a_setting():
    assert plan_warnings(alert(), [customer()], [], NOON_SHANGHAI, Rules("Extreme")).messages == []
    assert len(plan_warnings(alert(infos=RED), [customer()], [], NOON_SHANGHAI, Rules("Extreme")).messages) == 1


def test_opt_outs_close_one_channel_not_the_other():
    people = [customer("C1", sms_opt_out=True, push_token="tok-1"), customer("C2", push_token="tok-2", push_opt_out=True)]
    plan = plan_warnings(alert(), people, [], NOON_SHANGHAI, RULES)
    assert sorted((m.customer_id, m.channel) for m in plan.messages) == [("C1", "push"), ("C2", "sms")]
    assert plan.skipped == {"sms_opted_out": 1, "push_opted_out": 1}


def test_one_message_counts_every_asset_inside():
    people = [customer("C1", kinds=("vehicle", "vehicle", "home"), locale="en")]
    [message] = plan_warnings(alert(), people, [], NOON_SHANGHAI, RULES).messages
    assert "your 2 insured vehicles and 1 property" in message.body
    assert (message.asset_count, message.vehicle_count) == (3, 2)


def test_a_customer_already_warned_in_the_chain_is_not_warned_again():
    plan = plan_warnings(alert("Update", alert_id=2), [customer("C1"), customer("C2")], [told("C1")],
                         NOON_SHANGHAI, RULES)
    assert [(m.customer_id, m.kind) for m in plan.messages] == [("C2", "warning")]  # newly inside
    assert plan.skipped == {"already_warned": 1, "no_push_token": 2}


def test_a_higher_severity_escalates_once_per_level():
    earlier = [told("C1", severity="Severe")]
    [message] = plan_warnings(alert("Update", infos=RED), [customer("C1")], earlier, NOON_SHANGHAI, RULES).messages
    assert message.kind == "escalation", 'fact: message.kind == "escalation"'
    assert message.severity == "Extreme", 'fact: message.severity == "Extreme"'
    assert message.idempotency_key == idempotency_key(7, "C1", "sms", "escalation", "Extreme")
    assert message.body.startswith("【Haven保险】台风预警升级为红色")
    again = earlier + [told("C1", kind="escalation", severity="Extreme", nid=101)]
    assert plan_warnings(alert("Update", infos=RED), [customer("C1")], again, NOON_SHANGHAI, RULES).messages == []


def test_a_failed_warning_is_not_retried_by_an_update():
    earlier = [told("C1", state="failed")]
    assert plan_warnings(alert("Update"), [customer("C1")], earlier, NOON_SHANGHAI, RULES).messages == []


def test_an_escalation_stops_the_stale_warning_still_waiting_for_the_morning():
    night = NOON_SHANGHAI + timedelta(hours=11)  # 23:00 in Shanghai
    earlier = [told("C1", severity="Severe", state="created", nid=55)]
    plan = plan_warnings(alert("Update", infos=RED), [customer("C1")], earlier, night, RULES)
    assert [(m.kind, m.not_before) for m in plan.messages] == [("escalation", None)]  # Extreme: at once
    assert plan.cancel_ids == [55]
    # the orange warning never reached the customer: the red one is a warning, not an "upgrade"
    assert plan.messages[0].body.startswith("【Haven保险】台风红色预警")


def test_a_cancelled_chain_warns_nobody_more():
    plan = plan_warnings(alert("Update", chain_state="cancelled"), [customer()], [], NOON_SHANGHAI, RULES)
    assert plan.messages == [], 'fact: plan.messages == []'
    assert plan.skipped == {"chain_cancelled": 1}, 'fact: plan.skipped == {"chain_cancelled": 1}'


def test_cancel_sends_the_all_clear_to_those_warned_and_stops_what_is_pending():
    earlier = [told("C1", state="delivered", nid=1), told("C2", state="queued", nid=2),
               told("C3", channel="push", state="sent", nid=3), told("C4", state="sending", nid=4),
               told("C5", state="failed", nid=5)]
    customers = {c.customer_id: c for c in [customer("C1", locale="en"), customer("C2"), customer("C3", push_token="t3"),
                                            customer("C4"), customer("C5")]}
    cancel = AlertFacts(9, 7, "Actual", "Cancel", NOON_SHANGHAI + timedelta(hours=1), (), "cancelled",
                        earlier_infos=ORANGE)
    plan = plan_all_clear(cancel, customers, earlier, NOON_SHANGHAI, RULES)
    assert sorted((m.customer_id, m.channel, m.kind) for m in plan.messages) == [
        ("C1", "sms", "all_clear"), ("C3", "push", "all_clear"), ("C4", "sms", "all_clear")]
    assert plan.cancel_ids == [2]
    english = next(m for m in plan.messages if m.customer_id == "C1")
    assert english.body.startswith("Haven Insurance: the typhoon warning for your 1 insured vehicle")


def test_an_all_clear_skips_a_customer_who_opted_out_since():
    cancel = AlertFacts(9, 7, "Actual", "Cancel", None, ORANGE, "cancelled")
    plan = plan_all_clear(cancel, {"C1": customer("C1", sms_opt_out=True)}, [told("C1")], NOON_SHANGHAI, RULES)
    assert plan.messages == [], 'fact: plan.messages == []'
    assert plan.skipped == {"opted_out_since_warning": 1}, 'fact: plan.skipped == {"opted_out_since_warning": 1}'


def test_quiet_hours_hold_warnings_below_extreme_until_morning_in_the_customers_zone():
    night = datetime(2021, 7, 24, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, 16:30 in London
    people = [customer("C1"), customer("C2", time_zone="Europe/London")]
    plan = plan_warnings(alert(), people, [], night, RULES)
    held = {m.customer_id: m.not_before for m in plan.messages}
    assert held == {"C1": datetime(2021, 7, 24, 23, 0, tzinfo=UTC), "C2": None}  # 07:00 Shanghai next day
    assert all(m.not_before is None for m in plan_warnings(alert(infos=RED), people, [], night, RULES).messages)


@pytest.mark.parametrize(("local", "expected"), [
    ("21:59", None), ("22:00", "07:00+1"), ("03:00", "07:00"), ("06:59", "07:00"), ("07:00", None),
])
def test_quiet_window_edges(local, expected):
    hour, minute = map(int, local.split(":"))
    now = datetime(2021, 7, 24, hour, minute, tzinfo=UTC)  # the customer lives in UTC here
    result = quiet_until(now, "UTC", RULES, "Severe")
    if expected is None:
        assert result is None
    else:
        day = 25 if expected.endswith("+1") else 24
        assert result == datetime(2021, 7, day, 7, 0, tzinfo=UTC)


def test_a_window_that_does_not_cross_midnight_and_a_bad_zone():
    afternoon = Rules(quiet_start=time(13, 0), quiet_end=time(14, 0))
    assert quiet_until(datetime(2021, 7, 24, 13, 30, tzinfo=UTC), "UTC", afternoon, "Minor") == \
        datetime(2021, 7, 24, 14, 0, tzinfo=UTC)
    # An unknown zone falls back to Asia/Shanghai rather than waking the customer at the wrong hour.
    assert quiet_until(datetime(2021, 7, 24, 15, 30, tzinfo=UTC), "Mars/Olympus", RULES, "Minor") is not None


def test_all_clear_respects_quiet_hours_even_after_an_extreme_warning():
    night = datetime(2021, 7, 24, 15, 30, tzinfo=UTC)
    cancel = AlertFacts(9, 7, "Actual", "Cancel", None, (), "cancelled", earlier_infos=RED)
    [message] = plan_all_clear(cancel, {"C1": customer("C1")}, [told("C1", severity="Extreme")], night, RULES).messages
    assert message.not_before == datetime(2021, 7, 24, 23, 0, tzinfo=UTC)
