"""A rescue request the hotline leaves for a dispatcher (a customer's call-back, as `haven demo` leaves three):
the automatic batch leaves it alone until the given time and then takes it, so none is forgotten; the
reason names it; a dispatcher opening it on the board does not shorten the wait; only dispatchers may."""

from datetime import timedelta

import pytest

from greenchannel import read_models, rescue
from greenchannel.errors import Conflict, Forbidden
from store.types import utcnow
from tests.greenchannel.test_rescue_board import _audit, _job, _pending_job, _provider


def test_a_call_back_waits_for_a_dispatcher_then_the_batch_takes_it(world):
    truck = _provider(world, "Ningbo Flatbed 07", "flatbed", "ningbo", 0.02)
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    hotline, dispatcher = world.user("dispatcher", "Hotline 95500"), world.user("dispatcher")
    now = utcnow()
    until = now + timedelta(minutes=10)  # inside the trucks' position age
    world.run(rescue.leave_for_dispatcher, hotline, job.id, until, now)
    assert [a.note for a in _audit(world, "rescue_job", job.id, "left_for_dispatcher")] == \
        [f"until {until.isoformat()}"], "leaving the job for a dispatcher is audited with its end"

    batch = world.run(rescue.dispatch_pending, world.rules.rescue, now + timedelta(minutes=5))
    assert (batch.offered, batch.held) == (0, 1), "the batch left the call-back alone and counted it as held"
    with world.session() as session:
        board = read_models.dispatch_board(session, now + timedelta(minutes=5), world.rules.rescue)
    reason = next(j for j in board["jobs"] if j["id"] == job.id)["unplaced"]
    assert reason["code"] == "for_dispatcher", f"the board says the job waits for a dispatcher: {reason}"
    assert reason["nearest_free"]["name"] == "Ningbo Flatbed 07", "and names the nearest free truck for them"

    opened = world.run(rescue.hold, dispatcher, job.id, world.rules.rescue, now + timedelta(minutes=5))
    assert opened.held_until == until, "opening the job on the board does not cut its wait to a short hold"

    later = until + timedelta(seconds=1)
    batch = world.run(rescue.dispatch_pending, world.rules.rescue, later)
    assert (_job(world, job.id).state, batch.offered_jobs[0]["provider_id"]) == ("offered", truck.id), \
        "once its time is up the batch offers the call-back to the nearest truck"


def test_only_a_pending_job_is_left_for_a_dispatcher_and_only_by_haven_staff(world):
    _provider(world, "Ningbo Flatbed 08", "flatbed", "ningbo", 0.02)
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    now = utcnow()
    with pytest.raises(Forbidden):
        world.run(rescue.leave_for_dispatcher, world.user("adjuster"), job.id, now + timedelta(hours=1), now)
    world.run(rescue.dispatch_pending, world.rules.rescue, now)
    assert _job(world, job.id).state == "offered", "the job was offered by the batch"
    with pytest.raises(Conflict) as offered:
        world.run(rescue.leave_for_dispatcher, world.user("dispatcher"), job.id, now + timedelta(hours=1), now)
    assert offered.value.code == "not_pending", "an offered job is not left for a dispatcher"
