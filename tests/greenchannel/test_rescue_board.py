"""The dispatcher's rules around the board: a hold keeps a watched job from automatic offers, a truck
beyond the radius takes a reason, every waiting job says why, positions dated ahead of the clock are
stored as now, and every job names its place, its customer and what is wrong."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from greenchannel import read_models, rescue
from greenchannel.errors import Conflict, Invalid
from greenchannel.places import districts, english_unit
from greenchannel.requests import JobRequest, ProviderChanges, ProviderRegistration
from store.models import Asset, AuditEvent, RescueJob, RescueProvider
from store.types import utcnow
from tests.greenchannel.conftest import PLACES, ask


def _provider(world, name, kind, place, dlon=0.0, dlat=0.0, **extra):
    lon, lat = PLACES[place]
    body = {"name": name, "kind": kind, "location": {"lon": lon + dlon, "lat": lat + dlat}, **extra}
    return world.run(rescue.register_provider, world.user("dispatcher"), ask(ProviderRegistration, body))


def _pending_job(world, claim):
    job, _ = world.run(rescue.create_job, world.user("dispatcher"),
                       ask(JobRequest, {"claim_id": claim.id, "dispatch": False}), world.rules.rescue)
    return job


def _job(world, job_id) -> RescueJob:
    with world.session() as session:
        job = session.get(RescueJob, job_id)
        session.expunge(job)
        return job


def _audit(world, entity, entity_id, action) -> list[AuditEvent]:
    with world.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.entity == entity,
                                                        AuditEvent.entity_id == str(entity_id),
                                                        AuditEvent.action == action)).all()
        for row in rows:
            session.expunge(row)
        return rows


def test_a_held_job_waits_for_the_dispatcher_and_the_batch_offers_it_once_the_hold_ends(world, haven_env):
    haven_env(world.url, HAVEN_RESCUE_HOLD_S=60)
    truck = _provider(world, "Ningbo Flatbed 05", "flatbed", "ningbo", 0.02)
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    dispatcher = world.user("dispatcher")
    now = utcnow()
    held = world.run(rescue.hold, dispatcher, job.id, world.rules.rescue, now)
    assert held.held_until == now + timedelta(seconds=60), "the hold lasts HAVEN_RESCUE_HOLD_S from the click"

    batch = world.run(rescue.dispatch_pending, world.rules.rescue, now + timedelta(seconds=30))
    assert (batch.offered, batch.held) == (0, 1), "the batch left the held job alone and counted it as held"
    assert _job(world, job.id).state == "created", "a held job is not offered automatically"

    later = now + timedelta(seconds=61)
    batch = world.run(rescue.dispatch_pending, world.rules.rescue, later)
    assert _job(world, job.id).state == "offered", "the batch offered the job once the hold ended"
    assert batch.offered == 1 and batch.offered_jobs == [
        {"job_id": job.id, "provider_id": truck.id, "provider_name": "Ningbo Flatbed 05",
         "distance_km": pytest.approx(1.9, abs=0.3)}], "once the hold ended the batch offered the job, naming the truck"
    world.run(rescue.respond, dispatcher, job.id, True, world.rules.rescue, provider_id=truck.id, eta_minutes=20,
              now=later)
    with pytest.raises(Conflict) as not_pending:
        world.run(rescue.hold, dispatcher, job.id, world.rules.rescue, later)
    assert not_pending.value.code == "not_pending", "a job a truck has accepted cannot be held"


def test_an_offer_that_expires_while_the_job_is_held_does_not_cascade_to_another_truck(world):
    first = _provider(world, "First", "flatbed", "ningbo", 0.01)
    _provider(world, "Second", "flatbed", "ningbo", 0.05)
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    dispatcher = world.user("dispatcher")
    now = utcnow()
    world.run(rescue.hold, dispatcher, job.id, world.rules.rescue, now)
    world.run(rescue.assign, dispatcher, job.id, first.id, world.rules.rescue, now)
    assert _job(world, job.id).held_until is None, "assigning ends the hold"
    lapse = now + timedelta(minutes=5, seconds=30)
    world.run(rescue.hold, dispatcher, job.id, world.rules.rescue, lapse - timedelta(seconds=20))  # still phoning
    world.run(rescue.expire_offers, world.rules.rescue, lapse)
    after = _job(world, job.id)
    assert (after.state, after.provider_id) == ("created", None), \
        "an expired offer on a held job went back to pending instead of on to the second truck"


def test_a_truck_beyond_the_radius_is_assigned_only_with_a_reason_and_the_reason_is_audited(world):
    far = _provider(world, "Guangzhou Flatbed 68", "flatbed", "guangzhou", 0.01)
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))  # in Ningbo, 1,000 km away
    dispatcher = world.user("dispatcher")
    with pytest.raises(Invalid) as refused:
        world.run(rescue.assign, dispatcher, job.id, far.id, world.rules.rescue)
    assert (refused.value.code, refused.value.field) == ("beyond_radius", "override_reason"), \
        "a truck beyond 100 km without a reason is refused naming override_reason"
    offer = world.run(rescue.assign, dispatcher, job.id, far.id, world.rules.rescue,
                      override_reason="only boat-capable flatbed left; bridge open")
    assert (offer.mode, offer.provider_id) == ("manual", far.id), "the override offered the far truck"
    overrides = _audit(world, "rescue_job", job.id, "radius_override")
    assert [o.note for o in overrides] == ["only boat-capable flatbed left; bridge open"], \
        "the override's reason is in the audit trail"
    assert overrides[0].actor_id == dispatcher.user_id, "the audit names who overrode the radius"


def test_every_pending_job_says_why_it_has_no_truck(world):
    now = utcnow()
    dispatcher = world.user("dispatcher")
    no_boat = _pending_job(world, world.file("A00000001"))
    with world.session() as session:
        session.get(RescueJob, no_boat.id).needs = "boat"
    far_only = _provider(world, "Jiaxing Flatbed 68", "flatbed", "jiaxing", 0.01)
    beyond = _pending_job(world, world.file("A00000005", vehicle_in_water=True))  # Guangzhou
    near = _pending_job(world, world.file("A00000003", vehicle_in_water=True))  # Jiaxing
    world.run(rescue.assign, dispatcher, near.id, far_only.id, world.rules.rescue, now - timedelta(minutes=6))
    world.run(rescue.expire_offers, world.rules.rescue, now)
    held = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    world.run(rescue.hold, dispatcher, held.id, world.rules.rescue, now)
    with world.session() as session:
        jobs = [session.get(RescueJob, j.id) for j in (no_boat, beyond, near, held)]
        reasons = rescue.unplaced_reasons(session, jobs, now, world.rules.rescue)
    assert reasons[no_boat.id]["code"] == "no_capable_provider", "no truck at all can do a boat job"
    assert reasons[beyond.id]["code"] == "none_within_radius", "the only flatbed is far from Guangzhou"
    assert reasons[beyond.id]["nearest_free"]["name"] == "Jiaxing Flatbed 68"
    assert reasons[beyond.id]["nearest_free"]["distance_km"] > 1000, "the words carry how far the nearest free truck is"
    assert reasons[near.id]["code"] == "all_declined", "the only truck in reach let its offer expire"
    assert reasons[near.id]["last_offer"]["provider_name"] == "Jiaxing Flatbed 68"
    assert reasons[near.id]["last_offer"]["state"] == "expired", "the reason says the truck let the offer expire"
    assert reasons[near.id]["last_offer"]["at"] is not None, "and when"
    assert reasons[held.id]["code"] == "held" and reasons[held.id]["held_until"] > now, \
        "a held job says a dispatcher is on it, until when"

    batch = world.run(rescue.dispatch_pending, world.rules.rescue, now)
    unplaced = {u["job_id"]: u["reason"]["code"] for u in batch.unplaced}
    assert unplaced == {no_boat.id: "no_capable_provider", beyond.id: "none_within_radius", near.id: "all_declined"}, \
        "the batch reports every job it could not place with its reason (the held one is left out)"


def test_a_position_dated_ahead_of_the_clock_is_stored_as_now_and_ages_are_never_negative(world):
    now = utcnow()
    truck = _provider(world, "Zhoushan Tow 02", "tow", "zhoushan", 0.01)
    ahead = now + timedelta(hours=11, minutes=52)
    moved = world.run(rescue.update_provider, world.user("dispatcher"), truck.id,
                      ask(ProviderChanges, {"location": [122.22, 29.99], "location_at": ahead.isoformat()}), now)
    assert moved.location_at == now and moved.location_clamped, "a fix dated ahead is stored as now and flagged"
    assert len(_audit(world, "rescue_provider", truck.id, "location_clamped")) == 1, "the clamp is audited"
    earlier = now - timedelta(minutes=3)
    moved = world.run(rescue.update_provider, world.user("dispatcher"), truck.id,
                      ask(ProviderChanges, {"location": [122.23, 29.99], "location_at": earlier.isoformat()}), now)
    assert moved.location_at == earlier and not moved.location_clamped, "a fix from the past keeps its time"
    with pytest.raises(Exception, match="location_at goes with a location"):
        world.run(rescue.update_provider, world.user("dispatcher"), truck.id,
                  ask(ProviderChanges, {"location_at": earlier.isoformat()}), now)

    with world.session() as session:  # a position written ahead by someone who bypassed the API
        session.get(RescueProvider, truck.id).location_at = now + timedelta(hours=11)
    with world.session() as session:
        board = read_models.dispatch_board(session, now, world.rules.rescue)
    shown = next(p for p in board["providers"] if p["id"] == truck.id)
    assert (shown["location_age_s"], shown["location_in_future"]) == (0, True), \
        "the board counts a future position as 0 s old and flags it, never a negative age"


def test_jobs_name_their_address_customer_and_what_is_wrong(world):
    with world.session() as session:
        session.get(Asset, "A00000002").address = "宁波市海曙区中山西路88号"
    at_home = _pending_job(world, world.file("A00000002", vehicle_in_water=True, person_trapped=True))
    lon, lat = PLACES["zhoushan"]
    away, _ = world.run(rescue.create_job, world.user("dispatcher"),
                        ask(JobRequest, {"location": [lon, lat], "customer_id": "C0000001", "dispatch": False}),
                        world.rules.rescue)
    with world.session() as session:
        board = read_models.dispatch_board(session, utcnow(), world.rules.rescue)
    jobs = {j["id"]: j for j in board["jobs"]}
    assert jobs[at_home.id]["address"] == "宁波市海曙区中山西路88号", "a job at the asset shows the asset's address"
    assert jobs[at_home.id]["customer_name"] == "Customer C0000002"
    assert jobs[at_home.id]["problems"] == ["person_trapped", "vehicle_in_water"], "what is wrong, as flags"
    assert jobs[away.id]["address"] == "舟山市定海区", "a shared location shows its district"
    assert jobs[away.id]["place"] == {"zh-CN": "舟山市定海区", "en": "Dinghai District, Zhoushan"}
    assert jobs[away.id]["customer_phone"] == "+8617000000001", "a dispatcher sees a live job's customer's number"
    assert [j["id"] for j in board["jobs"]] == [at_home.id, away.id], "people at risk first"
    assert all(j["waited_s"] >= 0 for j in board["jobs"]), "waiting times are never negative"


def test_districts_are_named_in_chinese_and_english_from_the_gazetteer():
    assert districts([(120.655, 28.01)], None) == [{"zh-CN": "温州市鹿城区", "en": "Lucheng District, Wenzhou"}]
    assert districts([(116.40, 39.90)], None) == [None], "outside the bundled gazetteer there is no district"
    assert english_unit("文成县") == "Wencheng County" and english_unit("乐清市") == "Yueqing City"
