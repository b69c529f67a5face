"""Advance payments: caps, authority by role and band, no self-approval, exactly-once under races,
payout through the outbox gateway, an audit entry for every change."""

from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import select

from greenchannel import claims, payments
from greenchannel.errors import Conflict, Forbidden, Invalid
from greenchannel.requests import ClaimChanges
from store.db import session_scope
from store.models import AuditEvent, Claim, Payment, PaymentInstruction
from tests.greenchannel.conftest import LANDFALL, ask, race
from tests.greenchannel.test_claims import _upload

BANDS = {"adjuster": Decimal("8000.00"), "supervisor": Decimal("60000.00"), "manager": Decimal("450000.00")}


def _claim_with_estimate(world, estimate="1000000.00", asset="A00000006", identified=True):
    """A claim with an estimate; identified: its ID card and bank account documents are in, so approvers
    need no override."""
    claim = world.file(asset)
    world.run(claims.update_details, world.user("adjuster"), claim.id, ask(ClaimChanges, {"estimate": estimate}))
    if identified:
        for kind in payments.IDENTITY_DOCUMENTS:
            _upload(world, world.user("adjuster"), claim.id, kind)
    return claim


def _stored(world, payment_id) -> Payment:
    """The payment as it is now (the payout runs after the request's transaction commits)."""
    with world.session() as session:
        return session.get(Payment, payment_id)


def _request(world, actor, claim_id, amount, key=None, kind="advance"):
    return world.run(payments.request_payment, actor, claim_id, Decimal(amount), key or f"key-{amount}-{actor.name}", world.rules.payments,
                     kind)


def test_advances_stay_within_the_ratio_and_all_payments_within_the_estimate(world):
    world.declare_infa()
    claim = _claim_with_estimate(world, "10000.00", asset="A00000001")
    adjuster = world.user("adjuster")
    paid, created = _request(world, adjuster, claim.id, "3000.00", "k1")
    assert created, 'expected created'
    assert paid.state == "approved", 'expected paid.state == "approved"'
    assert isinstance(paid.amount, Decimal), 'expected isinstance(paid.amount, Decimal)'
    assert _stored(world, paid.id).state == "paid"
    with pytest.raises(Invalid) as over_ratio:
        _request(world, adjuster, claim.id, "2000.01", "k2")
    assert over_ratio.value.code == "above_advance_ratio", 'expected over_ratio.value.code == "above_advance_ratio"'
    assert "5,000.00 CNY" in over_ratio.value.message, 'expected "5,000.00 CNY" in over_ratio.value.message'
    _request(world, adjuster, claim.id, "2000.00", "k3")
    world.run(claims.update_details, world.user("adjuster"), claim.id, ask(ClaimChanges, {"estimate": "6000.00"}))
    with pytest.raises(Invalid) as over_estimate:
        world.run(payments.request_payment, adjuster, claim.id, Decimal("1000.01"), "k4", world.rules.payments, "advance")
    assert over_estimate.value.code in ("above_estimate", "above_advance_ratio")
    no_estimate = world.file("A00000002")
    with pytest.raises(Invalid, match="no estimate"):
        _request(world, adjuster, no_estimate.id, "100.00")
    with world.session() as session:
        total = sum(p.amount for p in session.scalars(select(Payment).where(Payment.claim_id == claim.id)))
    assert total == Decimal("5000.00")


def test_a_settlement_tops_up_to_the_estimate_once_adjudicated(world):
    claim = _claim_with_estimate(world, "20000.00", asset="A00000003")
    adjuster, supervisor = world.user("adjuster"), world.user("supervisor")
    _request(world, adjuster, claim.id, "9000.00", "advance")
    with pytest.raises(Conflict, match="adjudicated"):
        _request(world, supervisor, claim.id, "11000.00", "settle", kind="settlement")
    for stage in ("surveyed", "assessed"):
        world.run(claims.transition, adjuster, claim.id, stage)
    world.run(claims.update_details, adjuster, claim.id, ask(ClaimChanges, {"no_advance": True}))
    with world.session() as session:
        for document in session.get(Claim, claim.id).required_documents:
            _upload(world, adjuster, claim.id, document)
    for stage in ("documents_reviewed", "adjudicated"):
        world.run(claims.transition, adjuster, claim.id, stage)
    with pytest.raises(Invalid, match="above the estimate"):
        _request(world, supervisor, claim.id, "11000.01", "settle", kind="settlement")
    settlement, _ = _request(world, supervisor, claim.id, "11000.00", "settle", kind="settlement")
    assert _stored(world, settlement.id).state == "paid"
    closed = world.run(claims.transition, adjuster, claim.id, "closed_paid")
    assert closed.stage == "closed_paid"


ROLES = ("customer", "dispatcher", "adjuster", "supervisor", "manager", "admin")


@pytest.mark.parametrize("band", list(BANDS))
def test_authority_for_every_role_against_every_band(world, band):
    """Who may request, what happens to the request, and who may approve it (never the requester)."""
    amount = BANDS[band]
    users = {role: world.user(role, role, "C0000001" if role == "customer" else None) for role in ROLES}
    levels = payments.LEVELS
    for requester_role in ROLES:
        claim = _claim_with_estimate(world)
        requester = users[requester_role]
        if requester_role not in levels:
            with pytest.raises(Forbidden, match="no payment authority"):
                _request(world, requester, claim.id, amount)
            continue
        payment, _ = _request(world, requester, claim.id, amount)
        within = levels.index(requester_role) >= levels.index(band)
        assert payment.required_role == band
        assert _stored(world, payment.id).state == ("paid" if within else "pending_approval"), (requester_role, band)
        with pytest.raises(Forbidden, match="own"):
            world.run(payments.approve, requester, payment.id, world.rules.payments)
        if within:
            continue
        for approver_role in ROLES:
            if approver_role == requester_role:
                continue
            approver = users[approver_role]
            may = approver_role in levels and levels.index(approver_role) >= levels.index(band)
            if not may:
                with pytest.raises(Forbidden):
                    world.run(payments.approve, approver, payment.id, world.rules.payments)
                with pytest.raises(Forbidden):
                    world.run(payments.reject, approver, payment.id, "not mine to decide")
        approver = users[band]
        approved = world.run(payments.approve, approver, payment.id, world.rules.payments, "checked photos")
        assert (approved.state, approved.decided_by) == ("approved", approver.user_id)
        assert _stored(world, payment.id).state == "paid"


def test_a_second_supervisor_cannot_approve_their_colleagues_request_above_both_of_them(world):
    claim = _claim_with_estimate(world)
    first, second = world.user("supervisor", "sup-1"), world.user("supervisor", "sup-2")
    payment, _ = _request(world, first, claim.id, "150000.00")
    assert payment.required_role == "manager"
    with pytest.raises(Forbidden, match="needs a manager"):
        world.run(payments.approve, second, payment.id, world.rules.payments)


def test_every_change_is_audited_and_the_outbox_holds_one_instruction(world):
    claim = _claim_with_estimate(world)
    adjuster, supervisor = world.user("adjuster"), world.user("supervisor")
    payment, _ = _request(world, adjuster, claim.id, "25000.00", "advance-1")
    world.run(payments.approve, supervisor, payment.id, world.rules.payments)
    payments.pay_out(payment.id, payments.OutboxGateway(session_scope), session_scope)  # a duplicate task run
    with world.session() as session:
        trail = session.scalars(select(AuditEvent).where(AuditEvent.entity == "payment")
                                .order_by(AuditEvent.id)).all()
        instructions = session.scalars(select(PaymentInstruction)).all()
        stored = session.get(Payment, payment.id)
    assert [(a.action, a.from_state, a.to_state, a.actor_role) for a in trail] == [
        ("requested", None, "requested", "adjuster"), ("pending_approval", "requested", "pending_approval", "adjuster"),
        ("approved", "pending_approval", "approved", "supervisor"), ("paid", "approved", "paid", None)]
    assert all(a.at is not None for a in trail)
    assert len(instructions) == 1, 'expected len(instructions) == 1'
    assert instructions[0].amount == Decimal("25000.00"), 'expected instructions[0].amount == Decimal("25000.00")'
    assert stored.gateway_ref == f"outbox-{instructions[0].id}", \
        'expected stored.gateway_ref == f"outbox-{instructions[0].id}"'
    assert stored.paid_at is not None, 'expected stored.paid_at is not None'
    with world.session() as session:
        view = claims.view(session, world.user("customer", "alice", "C0000001"), session.get(Claim, claim.id))
    assert view["advance_paid"] == "25000.00"


def test_a_declined_payout_fails_and_an_unavailable_gateway_is_retried(world):
    claim = _claim_with_estimate(world)
    payment, _ = _request(world, world.user("supervisor"), claim.id, "20000.00")

    class Flaky:
        name = "bank"

        def __init__(self):
            self.calls = 0

        def submit(self, payout):
            self.calls += 1
            if self.calls == 1:
                raise payments.GatewayUnavailable("timeout")
            raise payments.GatewayDeclined("account closed")

    # The request was paid through the outbox already; a second approved payment goes to the bank.
    second, _ = _request(world, world.user("manager"), claim.id, "30000.00", "bank")
    with world.session() as session:
        session.get(Payment, second.id).state = "approved"
        session.get(Payment, second.id).gateway_ref = None
    gateway = Flaky()
    with pytest.raises(payments.GatewayUnavailable):
        payments.pay_out(second.id, gateway, session_scope)
    assert payments.pay_out(second.id, gateway, session_scope) is None
    with world.session() as session:
        failed = session.get(Payment, second.id)
    assert (failed.state, failed.failure) == ("failed", "bank: account closed")
    assert _stored(world, payment.id).state == "paid"


def test_the_same_key_gives_the_same_payment_and_a_changed_request_is_refused(world):
    claim = _claim_with_estimate(world)
    adjuster = world.user("adjuster")
    first, created = _request(world, adjuster, claim.id, "5000.00", "double-click")
    again, created_again = _request(world, adjuster, claim.id, "5000.00", "double-click")
    assert (created, created_again, again.id) == (True, False, first.id)
    with pytest.raises(Conflict) as changed:
        _request(world, adjuster, claim.id, "5000.01", "double-click")
    assert changed.value.code == "idempotency_key_reused"


def test_concurrent_requests_with_one_key_make_one_payment(world):
    """20 rounds, 6 parallel connections each sending the same request (a retry storm), on both databases."""
    claim = _claim_with_estimate(world)
    adjusters = [world.user("adjuster", f"adjuster-{i}") for i in range(6)]
    for round_number in range(20):
        key = f"fnol-advance-{round_number}"
        outcomes = race(*[partial(world.run, payments.request_payment, a, claim.id, Decimal("100.00"), key, world.rules.payments)
                          for a in adjusters])
        assert all(kind == "ok" for kind, _ in outcomes), f"round {round_number}: {outcomes}"
        ids = {result[0].id for _, result in outcomes}
        created = [result[1] for _, result in outcomes]
        assert len(ids) == 1, f"round {round_number}: {outcomes}"
        assert created.count(True) == 1, f"round {round_number}: {outcomes}"
    with world.session() as session:
        rows = session.scalars(select(Payment).where(Payment.claim_id == claim.id)).all()
        instructions = session.scalars(select(PaymentInstruction)).all()
    assert len(rows) == 20, 'expected len(rows) == 20'
    assert len(instructions) == 20, 'expected len(instructions) == 20'
    assert sum(p.amount for p in rows) == Decimal("2000.00")
    from celery._state import task_join_will_block

    assert not task_join_will_block()  # the payouts ran eagerly from many threads without confusing Celery


def test_concurrent_different_keys_never_exceed_the_caps(pg_world):
    world = pg_world
    claim = _claim_with_estimate(world, "10000.00", asset="A00000001")
    adjusters = [world.user("adjuster", f"adjuster-{i}") for i in range(8)]
    outcomes = race(*[partial(world.run, payments.request_payment, a, claim.id, Decimal("1000.00"), f"k{i}", world.rules.payments)
                      for i, a in enumerate(adjusters)])
    assert [kind for kind, _ in outcomes].count("ok") == 5, 'expected [kind for kind, _ in outcomes].count("ok") == 5'
    assert all(kind != "crash" for kind, _ in outcomes), 'expected all(kind != "crash" for kind, _ in outcomes)'
    with world.session() as session:
        total = sum(p.amount for p in session.scalars(select(Payment)))
    assert total == Decimal("5000.00")


def test_approve_racing_reject_leaves_one_consistent_outcome(pg_world):
    """20 rounds: two supervisors approve while two others reject the same pending payment."""
    world = pg_world
    claim = _claim_with_estimate(world)
    adjuster = world.user("adjuster")
    deciders = [world.user("supervisor", f"supervisor-{i}") for i in range(4)]
    finals = []
    for round_number in range(20):
        payment, _ = world.run(payments.request_payment, adjuster, claim.id, Decimal("20000.00"), f"r{round_number}", world.rules.payments)
        assert payment.state == "pending_approval"
        outcomes = race(*[partial(world.run, payments.approve, d, payment.id, world.rules.payments) for d in deciders[:2]],
                        *[partial(world.run, payments.reject, d, payment.id, "duplicate") for d in deciders[2:]])
        oks = [(i, r) for i, (kind, r) in enumerate(outcomes) if kind == "ok"]
        assert len(oks) == 1, f"round {round_number}: {outcomes}"
        assert all(kind == "refused" and r.code == "already_decided" for kind, r in outcomes if kind != "ok")
        winner_index, winner = oks[0]
        with world.session() as session:
            stored = session.get(Payment, payment.id)
            decisions = session.scalars(select(AuditEvent).where(
                AuditEvent.entity == "payment", AuditEvent.entity_id == str(payment.id),
                AuditEvent.action.in_(("approved", "rejected")))).all()
        expected = "paid" if winner_index < 2 else "rejected"
        assert stored.state == expected, 'expected stored.state == expected'
        assert stored.decided_by == deciders[winner_index].user_id, \
            'expected stored.decided_by == deciders[winner_index].user_id'
        assert len(decisions) == 1, 'expected len(decisions) == 1'
        assert decisions[0].actor_id == deciders[winner_index].user_id, \
            'expected decisions[0].actor_id == deciders[winner_index].user_id'
        finals.append(expected)
        if expected == "paid":
            world.run(claims.update_details, adjuster, claim.id, ask(ClaimChanges, {"estimate": str(Decimal("1000000.00")
                                                                                  + 20000 * len(finals))}))
    assert set(finals) <= {"paid", "rejected"}
    assert LANDFALL  # the claims are from the In-Fa landfall window
