"""The fast-track queue: priority with reasons, SLA clocks and breaches, leases (also under races)."""

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import select

from greenchannel import claims, queue
from greenchannel.errors import Conflict, Forbidden
from greenchannel.requests import ClaimChanges
from store.models import AuditEvent, Claim
from store.types import utcnow
from tests.greenchannel.conftest import ask, race


def _ordered(world):
    with world.session() as session:
        return [c.asset_id for c in queue.listing(session)]


def test_the_queue_follows_the_priority_rule_and_says_why(world):
    world.declare_infa()
    plain_green = world.file("A00000003")  # Jiaxing, young customer, nothing special
    deep = world.file("A00000001", flood_depth_level=5)  # presumptive total loss
    elderly = world.file("A00000002")  # customer born 1950
    in_water = world.file("A00000007", vehicle_in_water=True)  # Sanya: ordinary queue, needs rescue
    ordinary = world.file("A00000005")  # Guangzhou: ordinary
    trapped = world.file("A00000005", person_trapped=True)  # ordinary, but a life is at risk
    big_green = world.file("A00000006", estimate="900000")  # factory in Jiaxing
    trapped_green = world.file("A00000003", person_injured=True, in_travel_lane=True)
    assert _ordered(world) == ["A00000003", "A00000002", "A00000001", "A00000006", "A00000003",
                               "A00000005", "A00000007", "A00000005"]
    with world.session() as session:
        reasons = {c.id: c.priority_reasons for c in session.scalars(select(Claim))}
    assert reasons[trapped.id] == ["person trapped"]
    assert reasons[trapped_green.id] == ["green channel CAT-2021-0725-INFA", "person injured",
                                         "vehicle in a travel lane, needs rescue"]
    assert reasons[elderly.id][0] == "green channel CAT-2021-0725-INFA", \
        'expected reasons[elderly.id][0] == "green channel CAT-2021-0725-INFA"'
    assert (reasons[elderly.id][1].startswith( "customer aged")), \
        'expected reasons[elderly.id][1].startswith( "customer aged")'
    assert reasons[deep.id][1] == "flood depth L5 (presumptive total loss)"
    assert reasons[in_water.id] == ["vehicle in water, needs rescue"]
    assert reasons[big_green.id] == ["green channel CAT-2021-0725-INFA", "estimate 900,000.00 CNY"]
    assert reasons[ordinary.id] == [], 'expected reasons[ordinary.id] == []'
    assert reasons[plain_green.id] == ["green channel CAT-2021-0725-INFA"], \
        'expected reasons[plain_green.id] == ["green channel CAT-2021-0725-INFA"]'


def test_priority_is_recomputed_when_the_claim_changes(world):
    claim = world.file("A00000005", person_injured=True)
    assert claim.priority_reasons == ["person injured"]
    updated = world.run(claims.update_details, world.user("adjuster"), claim.id,
                        ask(ClaimChanges, {"person_injured": False, "estimate": "12000.50", "note": "minor cut, treated"}))
    assert updated.priority < claim.priority, 'expected updated.priority < claim.priority'
    assert updated.priority_reasons == ["estimate 12,000.50 CNY"], \
        'expected updated.priority_reasons == ["estimate 12,000.50 CNY"]'


def test_equal_priority_is_served_by_time_waited_against_the_sla(world):
    world.declare_infa()
    first = world.file("A00000003")
    second = world.file("A00000003")
    with world.session() as session:
        order = [c.id for c in queue.listing(session)]
    assert order == [first.id, second.id]


def test_sla_clocks_first_contact_then_advance_decision_and_breaches_are_flagged_once(world):
    world.declare_infa()
    green = world.file("A00000001")
    ordinary = world.file("A00000005")
    assert (green.sla_clock, green.sla_due_at - green.created_at) == ("first_contact", timedelta(minutes=30))
    assert ordinary.sla_due_at - ordinary.created_at == timedelta(hours=4)

    later = utcnow() + timedelta(minutes=45)
    assert world.run(queue.flag_breaches, later) == 1  # the green claim missed its first contact
    assert world.run(queue.flag_breaches, later) == 0
    leased = world.run(queue.lease_next, world.user("adjuster"), world.rules.queue, later)
    assert leased.id == green.id, 'expected leased.id == green.id'
    assert leased.first_contact_at == later, 'expected leased.first_contact_at == later'
    assert (leased.sla_clock, leased.sla_due_at) == ("advance_decision", green.created_at + timedelta(hours=24))
    assert leased.sla_breached_at is None  # a new clock starts clean; the breach stays in the audit
    no_advance = world.run(claims.update_details, world.user("adjuster"), green.id, ask(ClaimChanges, {"no_advance": True}), later)
    assert no_advance.sla_clock == "stage:reported"
    with world.session() as session:
        breaches = session.scalars(select(AuditEvent).where(AuditEvent.action == "sla_breached")).all()
    assert [(b.entity_id, b.note) for b in breaches] == [(str(green.id), "first_contact")]


def test_leases_go_to_one_adjuster_expire_back_to_the_queue_and_can_be_released(world, haven_env):
    haven_env(world.url, HAVEN_CLAIM_LEASE_S=600)
    world.declare_infa()
    first, second = world.file("A00000002"), world.file("A00000003")
    ann, ben = world.user("adjuster", "ann"), world.user("adjuster", "ben")
    now = utcnow()
    assert world.run(queue.lease_next, ann, world.rules.queue, now).id == first.id
    assert world.run(queue.lease_next, ben, world.rules.queue, now).id == second.id
    assert world.run(queue.lease_next, ben, world.rules.queue, now) is None
    with pytest.raises(Conflict, match="leased to user"):
        world.run(claims.transition, ben, first.id, "surveyed", now=now)
    with pytest.raises(Forbidden, match="only a supervisor"):
        world.run(queue.release, ben, first.id, now)

    after = now + timedelta(seconds=601)
    assert world.run(queue.expire_leases, after) == 2
    assert world.run(queue.lease_next, ben, world.rules.queue, after).id == first.id  # back in the queue, top again
    world.run(queue.release, world.user("supervisor"), first.id, after)
    with pytest.raises(Conflict, match="not leased"):
        world.run(queue.release, ben, first.id, after)
    moved = world.run(claims.transition, ann, second.id, "surveyed", "called the customer", now=after)
    assert moved.stage == "surveyed"


def test_concurrent_next_never_gives_two_adjusters_one_claim(world):
    """20 rounds; each round 8 adjusters ask at the same moment over real parallel connections
    (PostgreSQL: SKIP LOCKED; SQLite: the same single UPDATE under its writer lock)."""
    world.declare_infa()
    adjusters = [world.user("adjuster", f"adjuster-{i}") for i in range(8)]
    for round_number in range(20):
        with world.session() as session:
            session.query(Claim).delete()
        for asset_id in ("A00000001", "A00000002", "A00000003", "A00000004", "A00000006"):
            world.file(asset_id)
        outcomes = race(*[partial(world.run, queue.lease_next, a, world.rules.queue) for a in adjusters])
        assert all(kind == "ok" for kind, _ in outcomes), f"round {round_number}: {outcomes}"
        results = {a.name: (claim.id if claim else None) for a, (_, claim) in zip(adjusters, outcomes, strict=True)}
        leased = [v for v in results.values() if v is not None]
        assert len(leased) == 5 == len(set(leased)), f"round {round_number}: {results}"
        assert list(results.values()).count(None) == 3
        with world.session() as session:
            holders = {c.id: c.lease_holder_id for c in session.scalars(select(Claim))}
        assert sorted(holders.values()) == sorted(a.user_id for a in adjusters if results[a.name])


def test_a_claim_waiting_for_the_customers_documents_leaves_the_queue_until_they_arrive(world):
    from tests.greenchannel.test_claims import _upload

    world.declare_infa()
    adjuster = world.user("adjuster")
    claim = world.file("A00000001", vehicle_in_water=True)
    world.run(claims.transition, adjuster, claim.id, "surveyed")
    waiting = world.run(claims.transition, adjuster, claim.id, "assessed", estimate=Decimal("30000"))
    assert waiting.awaiting_documents
    assert world.run(queue.lease_next, adjuster, world.rules.queue) is None
    with world.session() as session:
        assert queue.entry_json(queue.listing(session)[0], utcnow())["waiting_for"] == "documents"
    alice = world.user("customer", "alice", "C0000001")
    for kind in ("photos", "id"):
        _upload(world, alice, claim.id, kind)
    assert world.run(queue.lease_next, adjuster, world.rules.queue) is None
    _upload(world, alice, claim.id, "bank_account")
    assert world.run(queue.lease_next, adjuster, world.rules.queue).id == claim.id  # back for document review
