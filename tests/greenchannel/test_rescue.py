"""Rescue dispatch: fit and freshness, nearest offer, cascade on reject and expiry, job states,
customer SMS, surge batches, and the database keeping one truck per job under races."""

from datetime import timedelta
from functools import partial

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from greenchannel import rescue
from greenchannel.errors import Conflict, Forbidden, Invalid
from greenchannel.requests import JobRequest, ProviderChanges, ProviderRegistration
from store.models import AuditEvent, Notification, RescueJob, RescueOffer, RescueProvider
from store.types import utcnow
from tests.greenchannel.conftest import PLACES, ask, race


def _provider(world, name, kind, place, dlon=0.0, dlat=0.0, capacity=1, **extra):
    lon, lat = PLACES[place]
    body = {"name": name, "kind": kind, "capacity": capacity, "location": {"lon": lon + dlon, "lat": lat + dlat},
            **extra}
    return world.run(rescue.register_provider, world.user("dispatcher"), ask(ProviderRegistration, body),
                     extra.pop("now", None))


def _job(world, claim, **body):
    job, _ = world.run(rescue.create_job, world.user("dispatcher"), ask(JobRequest, {"claim_id": claim.id, **body}),
                       world.rules.rescue)
    return job


def _state(world, job_id):
    with world.session() as session:
        job = session.get(RescueJob, job_id)
        offer = rescue.live_offer(session, job_id)
        return job.state, offer.provider_id if offer else None


def test_a_flooded_car_goes_to_the_nearest_fresh_flatbed(world):
    near_tow = _provider(world, "Tow 1 (1 km)", "tow", "zhoushan", 0.01)
    stale = _provider(world, "Flatbed stale (2 km)", "flatbed", "zhoushan", 0.02)
    far_flatbed = _provider(world, "Flatbed far (20 km)", "flatbed", "zhoushan", 0.2)
    with world.session() as session:
        session.get(RescueProvider, stale.id).location_at = utcnow() - timedelta(minutes=16)
    claim = world.file("A00000001", vehicle_in_water=True, flood_depth_level=3)
    job = _job(world, claim)
    assert job.needs == "flatbed", 'expected job.needs == "flatbed"'
    assert job.urgency == 1, 'expected job.urgency == 1'
    assert _state(world, job.id) == ("offered", far_flatbed.id)
    with pytest.raises(Invalid, match="needs a flatbed"):
        _job(world, world.file("A00000002", vehicle_in_water=True), needs="tow")
    dry = _job(world, world.file("A00000002", cannot_drive=True))
    assert dry.needs == "tow", 'expected dry.needs == "tow"'
    assert _state(world, dry.id) == ("offered", near_tow.id), \
        'expected _state(world, dry.id) == ("offered", near_tow.id)'


def test_reject_and_expiry_cascade_to_the_next_provider_then_wait(world, haven_env):
    haven_env(world.url, HAVEN_RESCUE_OFFER_TIMEOUT=300)
    first = _provider(world, "First", "flatbed", "ningbo", 0.01)
    second = _provider(world, "Second", "flatbed", "ningbo", 0.05)
    third = _provider(world, "Third", "flatbed", "ningbo", 0.10)
    job = _job(world, world.file("A00000002", vehicle_in_water=True))
    assert _state(world, job.id) == ("offered", first.id)
    world.run(rescue.respond, world.user("dispatcher"), job.id, False, world.rules.rescue, provider_id=first.id, note="no driver")
    assert _state(world, job.id) == ("offered", second.id)

    later = utcnow() + timedelta(seconds=301)
    assert world.run(rescue.expire_offers, world.rules.rescue, later) == 1
    assert _state(world, job.id) == ("offered", third.id)
    with pytest.raises(Conflict) as expired:
        world.run(rescue.respond, world.user("dispatcher"), job.id, True, world.rules.rescue, provider_id=third.id, eta_minutes=20,
                  now=later + timedelta(seconds=301))
    assert expired.value.code == "offer_expired"
    assert _state(world, job.id) == ("created", None)  # everyone tried: waits for the next batch
    with world.session() as session:
        offers = session.scalars(select(RescueOffer).where(RescueOffer.job_id == job.id)
                                 .order_by(RescueOffer.attempt)).all()
        slots = [session.get(RescueProvider, p.id).active_jobs for p in (first, second, third)]
    assert [(o.provider_id, o.state) for o in offers] == [(first.id, "rejected"), (second.id, "expired"),
                                                          (third.id, "expired")]
    assert slots == [0, 0, 0]


def test_a_job_runs_to_completion_and_the_customer_is_told_in_their_language(world):
    truck = _provider(world, "Ningbo Flatbed 3", "flatbed", "jiaxing", 0.02, phone="+8657400000003")
    english = world.file("A00000003", vehicle_in_water=True)  # customer C0000003 reads English
    job = _job(world, english)
    dispatcher = world.user("dispatcher")
    with pytest.raises(Exception, match="eta_minutes is required"):
        world.run(rescue.respond, dispatcher, job.id, True, world.rules.rescue)
    world.run(rescue.respond, dispatcher, job.id, True, world.rules.rescue, eta_minutes=25)
    with pytest.raises(Conflict, match="comes after en_route"):
        world.run(rescue.advance, dispatcher, job.id, "on_scene")
    for status in ("en_route", "on_scene", "towing", "completed"):
        world.run(rescue.advance, dispatcher, job.id, status)
    with world.session() as session:
        sms = session.scalars(select(Notification).order_by(Notification.id)).all()
        trail = session.scalars(select(AuditEvent).where(AuditEvent.entity == "rescue_job")
                                .order_by(AuditEvent.id)).all()
        stored = session.get(RescueProvider, truck.id)
    # Saved with the state change, then handed to the warnings pipeline (its outbox channel here).
    assert [(n.kind, n.language, n.channel, n.provider, n.state) for n in sms] == [
        ("rescue_assigned", "en", "sms", "outbox", "delivered"), ("rescue_arrived", "en", "sms", "outbox", "delivered")]
    assert sms[0].idempotency_key == f"C0000003:rescue-job-{job.id}:sms:rescue_assigned"
    assert "ETA about 25 min" in sms[0].body, 'expected "ETA about 25 min" in sms[0].body'
    assert "Ningbo Flatbed 3" in sms[0].body, 'expected "Ningbo Flatbed 3" in sms[0].body'
    assert sms[0].recipient == "+8617000000003"
    assert [a.to_state for a in trail] == ["created", "offered", "accepted", "en_route", "on_scene", "towing",
                                           "completed"]
    assert stored.active_jobs == 0


def test_chinese_customers_get_chinese_and_opted_out_customers_get_no_sms(world):
    _provider(world, "舟山平板1号", "flatbed", "zhoushan", 0.01, capacity=2)
    _provider(world, "Guangzhou Tow", "tow", "guangzhou", 0.01)
    chinese = _job(world, world.file("A00000001", vehicle_in_water=True))
    opted_out = _job(world, world.file("A00000005"))  # C0000005 sent STOP
    for job in (chinese, opted_out):
        world.run(rescue.respond, world.user("dispatcher"), job.id, True, world.rules.rescue, eta_minutes=15)
    with world.session() as session:
        sms = session.scalars(select(Notification)).all()
    assert len(sms) == 1, 'expected len(sms) == 1'
    assert sms[0].language == "zh-CN", 'expected sms[0].language == "zh-CN"'
    assert "舟山平板1号已接单，约15分钟到达" in sms[0].body, 'expected "舟山平板1号已接单，约15分钟到达" in sms[0].body'


def test_capacity_is_respected_and_cancelling_frees_the_slot(world):
    truck = _provider(world, "Only truck", "flatbed", "ningbo", 0.01, capacity=1)
    first = _job(world, world.file("A00000002", vehicle_in_water=True))
    second = _job(world, world.file("A00000001", vehicle_in_water=True))
    assert _state(world, first.id) == ("offered", truck.id), 'expected _state(world, first.id) == ("offered", truck.id)'
    assert _state(world, second.id) == ("created", None), 'expected _state(world, second.id) == ("created", None)'
    world.run(rescue.advance, world.user("dispatcher"), first.id, "cancelled", "customer got a lift")
    assert _state(world, first.id)[0] == "cancelled"
    result = world.run(rescue.dispatch_pending, world.rules.rescue)
    assert result.offered == 1, 'expected result.offered == 1'
    assert _state(world, second.id) == ("offered", truck.id), \
        'expected _state(world, second.id) == ("offered", truck.id)'


def test_a_provider_updates_its_own_location_and_answers_only_its_own_offers(world):
    one = _provider(world, "One", "flatbed", "ningbo", 0.01)
    two = _provider(world, "Two", "flatbed", "ningbo", 0.30)
    from store.db import session_scope
    from store.users import Principal, create_user

    with session_scope(world.url) as session:
        user, _ = create_user(session, "dispatcher", "two-staff")
        session.get(RescueProvider, two.id).user_id = user.id
    staff_of_two = Principal(user.id, "two-staff", "dispatcher", None)
    moved = world.run(rescue.update_provider, staff_of_two, two.id,
                      ask(ProviderChanges, {"location": [121.551, 29.874], "capacity": 2}))
    assert (moved.lon, moved.capacity) == (121.551, 2), 'expected (moved.lon, moved.capacity) == (121.551, 2)'
    assert moved.location_at is not None, 'expected moved.location_at is not None'
    with pytest.raises(Forbidden):
        world.run(rescue.update_provider, staff_of_two, one.id, ask(ProviderChanges, {"available": False}))
    job = _job(world, world.file("A00000002", vehicle_in_water=True))
    assert _state(world, job.id) == ("offered", two.id)  # Two is nearest now
    with pytest.raises(Forbidden):
        world.run(rescue.assign, staff_of_two, job.id, one.id, world.rules.rescue)
    accepted = world.run(rescue.respond, staff_of_two, job.id, True, world.rules.rescue, eta_minutes=10)
    assert accepted.state == "accepted"


def test_a_dispatcher_reoffers_after_the_truck_breaks_down_and_the_customer_hears_of_the_new_truck(world):
    first = _provider(world, "First", "flatbed", "zhoushan", 0.01)
    second = _provider(world, "Second", "flatbed", "zhoushan", 0.05)
    job = _job(world, world.file("A00000001", vehicle_in_water=True))
    dispatcher = world.user("dispatcher")
    world.run(rescue.respond, dispatcher, job.id, True, world.rules.rescue, eta_minutes=10)
    world.run(rescue.advance, dispatcher, job.id, "en_route")
    world.run(rescue.reoffer, dispatcher, job.id, world.rules.rescue, "gearbox failure")
    assert _state(world, job.id) == ("offered", second.id)
    world.run(rescue.respond, dispatcher, job.id, True, world.rules.rescue, eta_minutes=30)
    with world.session() as session:
        keys = session.scalars(select(Notification.idempotency_key).order_by(Notification.id)).all()
        assert session.get(RescueProvider, first.id).active_jobs == 0
    assert len(keys) == 2, 'expected len(keys) == 2'
    assert keys[1].startswith(keys[0] + ":offer-"), 'expected keys[1].startswith(keys[0] + ":offer-")'


def test_surge_batch_minimises_total_distance_and_serves_people_at_risk_first(world):
    rng = np.random.default_rng(7)
    base_lon, base_lat = PLACES["ningbo"]
    for i in range(6):
        _provider(world, f"Truck {i}", "flatbed", "ningbo", float(rng.normal(0, 0.1)), float(rng.normal(0, 0.1)))
    trapped = world.file("A00000004", person_trapped=True)  # a home: the job needs a boat? no: a tow
    jobs = [_job(world, trapped, dispatch=False, location=[base_lon + 0.4, base_lat + 0.4])]
    dispatcher = world.user("dispatcher")
    for _ in range(11):
        job, _ = world.run(rescue.create_job, dispatcher, ask(JobRequest, {
            "location": [base_lon + float(rng.normal(0, 0.12)), base_lat + float(rng.normal(0, 0.12))],
            "needs": "flatbed", "dispatch": False}), world.rules.rescue)
        jobs.append(job)
    with world.session() as session:
        providers = session.scalars(select(RescueProvider)).all()
        pending = session.scalars(select(RescueJob).where(RescueJob.state == "created")).all()
        arrays = ([j.lon for j in pending], [j.lat for j in pending], [j.needs for j in pending],
                  [j.urgency for j in pending], [p.lon for p in providers], [p.lat for p in providers],
                  [p.capabilities for p in providers], [1] * len(providers))
    greedy = rescue.plan_greedy(*arrays)
    result = world.run(rescue.dispatch_pending, world.rules.rescue)
    assert result.surge, 'expected result.surge'
    assert (result.pending, result.free_slots, result.offered) == (12, 6, 6), \
        'expected (result.pending, result.free_slots, result.offered) == (12, 6, 6)'
    assert result.total_km <= greedy.total_km + 1e-6
    assert _state(world, jobs[0].id)[0] == "offered"  # the far-away trapped person is served
    with world.session() as session:
        live = session.scalars(select(RescueOffer).where(RescueOffer.state == "offered")).all()
    assert len({o.job_id for o in live}) == len({o.provider_id for o in live}) == 6


def test_the_optimal_batch_beats_greedy_on_a_case_greedy_gets_wrong():
    # Two jobs and two trucks on a line: greedy gives job A the truck job B needed.
    plan_args = ([0.00, 0.10], [30.0, 30.0], ["tow", "tow"], [0, 0], [0.05, -0.20], [30.0, 30.0],
                 [["tow"], ["tow"]], [1, 1])
    optimal, greedy = rescue.plan_batch(*plan_args), rescue.plan_greedy(*plan_args)
    assert optimal.total_km < greedy.total_km


def test_the_database_allows_one_live_offer_per_job_and_one_live_job_per_claim(world):
    truck_a = _provider(world, "A", "flatbed", "ningbo", 0.01)
    truck_b = _provider(world, "B", "flatbed", "ningbo", 0.02)
    claim = world.file("A00000002", vehicle_in_water=True)
    job = _job(world, claim)
    with pytest.raises(IntegrityError), world.session() as session:
        session.add(RescueOffer(job_id=job.id, attempt=9, provider_id=truck_b.id, state="offered",
                                expires_at=utcnow()))
        session.flush()
    with pytest.raises(IntegrityError), world.session() as session:
        session.add(RescueJob(claim_id=claim.id, lon=1, lat=1, needs="flatbed", state="created"))
        session.flush()
    again, created = world.run(rescue.create_job, world.user("dispatcher"), ask(JobRequest, {"claim_id": claim.id}),
                               world.rules.rescue)
    assert (again.id, created) == (job.id, False)
    assert truck_a.id != truck_b.id


def test_concurrent_offers_and_accepts_never_put_two_trucks_on_one_job(pg_world):
    """20 rounds over real parallel PostgreSQL connections: 4 dispatchers offer one job to 4 trucks, the
    batch runs at the same time; then accept, reject and re-offer race on the live offer."""
    world = pg_world
    trucks = [_provider(world, f"Truck {i}", "flatbed", "ningbo", 0.01 * (i + 1), capacity=50) for i in range(4)]
    dispatchers = [world.user("dispatcher", f"dispatcher-{i}") for i in range(4)]
    for round_number in range(20):
        claim = world.file("A00000002", vehicle_in_water=True)
        job = _job(world, claim, dispatch=False)
        outcomes = race(*[partial(world.run, rescue.assign, d, job.id, t.id, world.rules.rescue) for d, t in zip(dispatchers, trucks,
                                                                                                  strict=True)],
                        partial(world.run, rescue.dispatch_pending, world.rules.rescue))
        unexpected = [o for kind, o in outcomes if kind != "ok" and not isinstance(o, Conflict)]
        assert unexpected == [], f"round {round_number}: {unexpected}"
        with world.session() as session:
            live = session.scalars(select(RescueOffer).where(RescueOffer.job_id == job.id,
                                                             RescueOffer.state.in_(("offered", "accepted")))).all()
        assert len(live) == 1, f"round {round_number}: {len(live)} live offers"

        holder = live[0].provider_id
        outcomes = race(*[partial(world.run, rescue.respond, d, job.id, True, world.rules.rescue, provider_id=holder, eta_minutes=20)
                          for d in dispatchers[:2]],
                        partial(world.run, rescue.respond, dispatchers[2], job.id, False, world.rules.rescue, provider_id=holder),
                        partial(world.run, rescue.reoffer, dispatchers[3], job.id, world.rules.rescue))
        unexpected = [o for kind, o in outcomes if kind != "ok" and not isinstance(o, Conflict)]
        assert unexpected == [], f"round {round_number}: {unexpected}"
        with world.session() as session:
            accepted = session.scalars(select(RescueOffer).where(RescueOffer.job_id == job.id,
                                                                 RescueOffer.state == "accepted")).all()
            live = session.scalars(select(RescueOffer).where(RescueOffer.job_id == job.id,
                                                             RescueOffer.state.in_(("offered", "accepted")))).all()
            job_row = session.get(RescueJob, job.id)
        assert len(accepted) <= 1, f"round {round_number}"
        assert len(live) <= 1, f"round {round_number}"
        assert job_row.state in ("offered", "accepted", "created")
        assert (job_row.state == "accepted") == (len(accepted) == 1)
        world.run(rescue.advance, dispatchers[0], job.id, "cancelled")
    with world.session() as session:
        slots = [session.get(RescueProvider, t.id).active_jobs for t in trucks]
    assert slots == [0, 0, 0, 0]  # every slot taken by an offer was given back


def test_concurrent_requests_for_one_claim_open_one_job(pg_world):
    world = pg_world
    _provider(world, "Truck", "flatbed", "ningbo", 0.01, capacity=50)
    dispatchers = [world.user("dispatcher", f"dispatcher-{i}") for i in range(6)]
    for round_number in range(20):
        claim = world.file("A00000002", vehicle_in_water=True)
        outcomes = race(*[partial(world.run, rescue.create_job, d, ask(JobRequest, {"claim_id": claim.id}),
                                  world.rules.rescue) for d in dispatchers])
        assert all(kind == "ok" for kind, _ in outcomes), f"round {round_number}: {outcomes}"
        assert len({job.id for _, (job, _created) in outcomes}) == 1, f"round {round_number}: {outcomes}"
        assert [created for _, (_job, created) in outcomes].count(True) == 1


def test_a_job_for_a_location_needs_a_known_customer(world):
    with pytest.raises(Invalid) as unknown:
        world.run(rescue.create_job, world.user("dispatcher"),
                  ask(JobRequest, {"location": [121.5, 29.9], "customer_id": "C9999999"}), world.rules.rescue)
    assert unknown.value.field == "customer_id"
    job, created = world.run(rescue.create_job, world.user("dispatcher"),
                             ask(JobRequest, {"location": [121.5, 29.9], "customer_id": "C0000002", "needs": "boat"}),
                             world.rules.rescue)
    assert created, 'expected created'
    assert (job.needs, job.claim_id, job.state) == ("boat", None, "created"), \
        'expected (job.needs, job.claim_id, job.state) == ("boat", None, "created")'
