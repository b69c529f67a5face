"""The failover rule between SMS providers (alerts/notifying/providers.py): health, cuts, drift back, choice."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from alerts.notifying.channels.base import Outcome
from alerts.notifying.failover import health_counts
from alerts.notifying.providers import (
    FailoverRules,
    Health,
    ProviderState,
    Split,
    SwitchKind,
    Trouble,
    choose,
    next_states,
    split,
    trouble,
)
from config.settings import SettingsError, load_settings

RULES = FailoverRules(("twilio", "aliyun"), (1.0, 0.0), window_s=30, slow_handover_s=2, slow_delivery_s=240,
                      error_rate=0.3, drift_back_s=100, min_samples=10)
HEALTHY = Health(attempts=100)


def test_errors_slowness_and_late_receipts_are_trouble_few_samples_are_not():
    assert trouble(Health(attempts=100, errors=20, throttled=10), RULES) == Trouble.ERRORS, \
        "30% of 5xx and 429 together did not count as errors"
    assert trouble(Health(attempts=100, slow=30), RULES) == Trouble.SLOW_HANDOVER, "30% slow answers were not slow"
    assert trouble(Health(delivered=50, slow_delivered=20), RULES) == Trouble.SLOW_DELIVERY, \
        "40% of receipts later than the threshold were not slow delivery"
    assert trouble(Health(attempts=9, errors=9), RULES) is None, "nine failures, below min_samples, cut a provider"
    assert trouble(Health(attempts=100, errors=29), RULES) is None, "29% errors, below the threshold, was trouble"


def test_a_failing_provider_is_cut_at_once_and_its_traffic_goes_to_the_other():
    states, switches = next_states({}, {"twilio": Health(attempts=50, errors=25), "aliyun": HEALTHY}, RULES, 1.0)
    assert split(states, RULES).shares == {"twilio": 0.0, "aliyun": 1.0}, "the failing first provider kept traffic"
    assert [(s.provider, s.kind, s.trouble) for s in switches] == [("twilio", SwitchKind.CUT, Trouble.ERRORS)], \
        "the cut was not reported as one switch naming the provider and why"
    assert (switches[0].share_before, switches[0].share_after) == (1.0, 0.0), "the switch's shares are wrong"


def test_nobody_is_cut_when_every_provider_is_in_trouble():
    bad = Health(attempts=50, errors=50)
    states, switches = next_states({}, {"twilio": bad, "aliyun": bad}, RULES, 1.0)
    assert split(states, RULES).shares == {"twilio": 1.0, "aliyun": 0.0}, "the split moved though both providers fail"
    assert switches == [], "a switch was reported though nothing moved"


def test_a_recovered_provider_drifts_back_gradually_and_is_reported_restored():
    cut = {"twilio": ProviderState(0.0, Trouble.SLOW_HANDOVER), "aliyun": ProviderState()}
    halfway, switches = next_states(cut, {"twilio": Health(), "aliyun": HEALTHY}, RULES, 50.0)
    assert split(halfway, RULES).shares == pytest.approx({"twilio": 0.5, "aliyun": 0.5}), \
        "after half the drift-back time the provider did not have half its resting share"
    assert switches == [], "a restoration was reported before the provider was back at its resting share"
    back, switches = next_states(halfway, {"twilio": Health(), "aliyun": HEALTHY}, RULES, 50.0)
    assert split(back, RULES).shares == {"twilio": 1.0, "aliyun": 0.0}, "after the drift-back time it was not back"
    assert [(s.provider, s.kind) for s in switches] == [("twilio", SwitchKind.RESTORED)], \
        "being back at its resting share was not reported"


def test_trouble_while_drifting_back_cuts_it_again():
    drifting = {"twilio": ProviderState(0.4, Trouble.ERRORS), "aliyun": ProviderState()}
    states, switches = next_states(drifting, {"twilio": Health(attempts=20, errors=10), "aliyun": HEALTHY}, RULES, 1)
    assert states["twilio"].weight == 0.0, "a provider failing again during its drift back kept traffic"
    assert [s.kind for s in switches] == [SwitchKind.CUT], "the second cut was not reported"


def test_a_split_keeps_its_resting_shares_and_a_cut_share_goes_to_the_healthy_ones():
    rules = FailoverRules(("twilio", "aliyun", "outbox"), (0.5, 0.3, 0.2), drift_back_s=10)
    assert split({}, rules).shares == pytest.approx({"twilio": 0.5, "aliyun": 0.3, "outbox": 0.2}), \
        "healthy providers did not get their resting shares"
    cut = {"twilio": ProviderState(0.0, Trouble.ERRORS)}
    assert split(cut, rules).shares == pytest.approx({"twilio": 0.0, "aliyun": 0.6, "outbox": 0.4}), \
        "the cut provider's share was not spread over the others by their resting shares"


def test_a_retry_goes_to_another_provider_not_cut_even_a_standby():
    rng = random.Random(7)
    assert choose(Split({"twilio": 1.0, "aliyun": 0.0}), RULES, rng, avoid="twilio") == "aliyun", \
        "a retry went back to the provider that failed though the standby is healthy"
    assert choose(Split({"twilio": 1.0, "aliyun": 0.0}, frozenset({"aliyun"})), RULES, rng, avoid="twilio") == "twilio", \
        "a retry went to a provider that is cut"
    assert choose(Split({"twilio": 1.0, "aliyun": 0.0}), RULES, rng) == "twilio", "a new message went to the standby"
    picks = Counter(choose(Split({"twilio": 0.7, "aliyun": 0.3}), RULES, rng) for _ in range(4000))
    assert 0.66 < picks["twilio"] / 4000 < 0.74, f"new messages did not follow a 70/30 split: {picks}"


def test_health_counts_5xx_timeouts_429_and_slow_answers_but_not_a_refused_number():
    outcomes = [Outcome(1, "accepted", "twilio", "SM1", latency_s=0.1),
                Outcome(2, "accepted", "twilio", "SM2", latency_s=5.0),
                Outcome(3, "error", "twilio", http_status=500, latency_s=0.1),
                Outcome(4, "error", "twilio", http_status=429, latency_s=0.1),
                Outcome(5, "error", "twilio", transport_error=True, maybe_handed_over=True, latency_s=10.0),
                Outcome(6, "error", "twilio", http_status=400, error_code="21211", latency_s=0.1),
                Outcome(7, "accepted", "aliyun", "BIZ7", latency_s=0.1)]
    counts = health_counts(outcomes, RULES)
    assert counts["twilio"] == {"attempts": 6, "errors": 2, "throttled": 1, "slow": 2}, \
        f"Twilio's health figures are wrong: {counts['twilio']}"
    assert counts["aliyun"] == {"attempts": 1, "errors": 0, "throttled": 0, "slow": 0}, \
        "Aliyun's hand-over was not counted as one healthy attempt"


def test_the_settings_name_the_providers_and_the_split():
    settings = load_settings(sms_providers="twilio, aliyun", sms_split="70,30", sms_health_window_s=10,
                             sms_drift_back_s=60)
    rules = FailoverRules.from_settings(settings)
    assert rules.providers == ("twilio", "aliyun"), "the providers were not read in order of preference"
    assert rules.resting == pytest.approx((0.7, 0.3)), "the split was not read as shares"
    assert (rules.window_s, rules.drift_back_s) == (10, 60), "the window and drift-back settings were not used"
    single = FailoverRules.from_settings(load_settings(sms_channel="twilio"))
    assert (single.providers, single.resting) == (("twilio",), (1.0,)), "HAVEN_SMS_CHANNEL alone is not one provider"
    with pytest.raises(SettingsError, match="HAVEN_SMS_PROVIDERS"):
        load_settings(sms_providers="twilio,nexmo")
    with pytest.raises(SettingsError, match="HAVEN_SMS_SPLIT"):
        load_settings(sms_providers="twilio,aliyun", sms_split="100")


def test_late_delivered_receipts_count_as_slow_delivery_on_both_databases(db_url):
    from datetime import timedelta

    from alerts.dao.provider_health_dao import delivery_latency
    from book.dao import upsert_customers
    from store.db import session_scope
    from store.models import Notification, Receipt
    from store.types import utcnow

    now = utcnow()
    with session_scope(db_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": "+8617000000001"}])
        for n, took_s, provider in ((1, 300, "twilio"), (2, 10, "twilio"), (3, 20, "aliyun")):
            session.add(Notification(id=n, idempotency_key=f"k{n}", customer_id="C1", channel="sms", kind="warning",
                                     recipient="+8617000000001", body="text", state="delivered", provider=provider,
                                     provider_message_id=f"m{n}", sent_at=now - timedelta(seconds=took_s),
                                     final_at=now))
            session.add(Receipt(provider=provider, provider_message_id=f"m{n}", status="delivered", payload={},
                                received_at=now, processed_at=now, outcome="applied", notification_id=n))
    with session_scope(db_url) as session:
        figures = delivery_latency(session, now - timedelta(seconds=60), slow_s=240)
    assert figures == {"twilio": (2, 1), "aliyun": (1, 0)}, \
        f"delivered receipts and the late ones among them were not counted per provider: {figures}"
