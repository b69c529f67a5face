"""greenchannel/service.py: one transaction per call, the rules and the after-commit runner handed in by
the composition root, and the operations the routes and tasks call."""

from datetime import timedelta
from decimal import Decimal

import pytest

from greenchannel import claims, effects, payments, service
from greenchannel.errors import Invalid
from greenchannel.requests import ClaimChanges, PaymentRequest
from greenchannel.rules import GreenChannelRules, PaymentRules
from store.models import Payment
from store.types import utcnow
from tests.greenchannel.conftest import ask


@pytest.fixture
def record_effects():
    """record_effects() configures the service with a runner that only records what it is handed (World.run
    wires the real one, so call it after the setup); the real wiring is restored afterwards."""
    from workers.greenchannel import current_rules, wire_green_channel

    def record() -> list[dict]:
        handed: list[dict] = []
        service.configure(current_rules, handed.append)
        return handed

    yield record
    wire_green_channel()


def test_effects_reach_the_runner_only_after_a_commit(world, record_effects):
    recorded_effects = record_effects()

    def collects(session, ids, refuse):
        effects.after_commit(session, effects.PAYOUTS, ids)
        if refuse:
            raise Invalid("refused after collecting", "amount")
        return "done"

    assert service.run_unit(collects, [7, 8], False) == "done", "the unit's own result comes back"
    assert recorded_effects == [{effects.PAYOUTS: [7, 8]}], f"committed effects are handed over: {recorded_effects}"
    with pytest.raises(Invalid):
        service.run_unit(collects, [9], True)
    assert recorded_effects == [{effects.PAYOUTS: [7, 8]}], "a refused unit's effects are dropped, not run"


def test_an_approved_payment_is_handed_to_the_runner_and_found_when_it_stalls(world, record_effects):
    world.declare_infa()
    claim = world.file("A00000001")
    adjuster = world.user("adjuster")
    world.run(claims.update_details, adjuster, claim.id, ask(ClaimChanges, {"estimate": "20000"}))
    recorded_effects = record_effects()
    view, created = service.request_payment(adjuster, claim.id, PaymentRequest(amount="3000.00"), "s1")
    assert created, "the first request with a key creates a payment"
    assert view["state"] == "approved", f"3,000 CNY is within an adjuster's authority: {view['state']}"
    assert recorded_effects[-1] == {effects.PAYOUTS: [view["id"]]}, f"the payout is queued: {recorded_effects}"
    assert service.stuck_payouts(300) == [], "a payout approved a moment ago has not stalled"
    with world.session() as session:
        session.get(Payment, view["id"]).updated_at = utcnow() - timedelta(minutes=10)
    assert service.stuck_payouts(300) == [view["id"]], "an approved payment untouched for 10 minutes is resent"


def test_operations_use_the_rules_they_are_given(world, record_effects):
    world.declare_infa()
    claim = world.file("A00000001")
    adjuster = world.user("adjuster")
    world.run(claims.update_details, adjuster, claim.id, ask(ClaimChanges, {"estimate": "20000"}))
    record_effects()
    strict = GreenChannelRules(payments=PaymentRules(advance_ratio=Decimal("0.1")))
    service.configure(strict)
    with pytest.raises(Invalid) as refused:
        service.request_payment(adjuster, claim.id, PaymentRequest(amount="3000.00"), "r1")
    assert refused.value.code == "above_advance_ratio", f"10% of 20,000 is 2,000: {refused.value.message}"
    assert "2,000.00 CNY" in refused.value.message, f"the refusal gives the cap: {refused.value.message}"
    assert payments.advance_cap(Decimal("20000.00"), strict.payments) == Decimal("2000.00"), "the cap follows the ratio"


def test_rules_from_settings_carry_every_configurable_value():
    class Settings:
        rescue_offer_timeout, provider_location_max_age_s, claim_lease_s = 45.0, 600.0, 120.0
        advance_ratio, cat_propose_min_assets = 0.3, 42

    rules = GreenChannelRules.from_settings(Settings())
    assert rules.rescue.offer_timeout == timedelta(seconds=45), f"offer timeout: {rules.rescue}"
    assert rules.rescue.location_max_age == timedelta(minutes=10), f"location age: {rules.rescue}"
    assert rules.queue.claim_lease_s == 120.0, f"lease: {rules.queue}"
    assert rules.payments.advance_ratio == Decimal("0.3"), f"the ratio is read as a decimal: {rules.payments}"
    assert rules.cat_events.propose_min_assets == 42, f"proposal threshold: {rules.cat_events}"
