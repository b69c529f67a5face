"""The demo's GPS feed: `haven demo`'s trucks keep reporting their positions while `haven run` serves the
embedded default, so dispatch still works long after the demo ran; a provider someone added is left alone."""

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import update

from greenchannel import demo, demo_gps, rescue
from greenchannel.errors import Conflict
from store.models import RescueProvider
from store.types import utcnow
from tests.greenchannel.test_rescue_board import _audit, _pending_job, _provider
from workers import greenchannel as tasks


def _positions(world) -> dict[int, tuple]:
    with world.session() as session:
        return {p.id: (p.lon, p.lat, p.location_at) for p in session.query(RescueProvider)}


def test_the_feed_keeps_the_demo_trucks_fresh_and_leaves_real_providers_alone(world, haven_env):
    dispatcher = world.user("dispatcher")
    job = _pending_job(world, world.file("A00000002", vehicle_in_water=True))
    trucks = demo.register_providers(world.run, dispatcher, [job], 2, np.random.default_rng(7), utcnow())
    real = _provider(world, "Ningbo Flatbed 09", "flatbed", "ningbo", 0.02)
    flatbed = next(t for t in trucks if t.kind == "flatbed")

    aged = utcnow() - world.rules.rescue.location_max_age - timedelta(minutes=5)
    with world.session() as session:  # 20 minutes pass without a report from any truck
        session.execute(update(RescueProvider).values(location_at=aged))
    with pytest.raises(Conflict) as stale:
        world.run(rescue.assign, dispatcher, job.id, flatbed.id, world.rules.rescue)
    assert stale.value.code == "provider_unavailable", "a truck whose position is too old cannot be assigned"

    haven_env(world.url, HAVEN_REDIS_URL="redis://127.0.0.1:6379/0")
    assert tasks.demo_gps_feed.apply().get() == {"skipped": "not the embedded default"}, \
        "with Redis (production) the demo feed reports nothing: real trucks have real GPS"
    assert all(at == aged for _, _, at in _positions(world).values()), "and no position was touched"

    before = _positions(world)
    haven_env(world.url, HAVEN_REDIS_URL="")
    result = tasks.demo_gps_feed.apply().get()
    assert (result["trucks"], result["reported"]) == (2, 2), f"both demo trucks reported once: {result}"
    after = _positions(world)
    for truck in trucks:
        assert after[truck.id][2] > utcnow() - timedelta(minutes=1), f"demo truck {truck.id}'s position is fresh"
        assert after[truck.id][:2] == before[truck.id][:2], f"demo truck {truck.id} reported where it was parked"
        sources = [(a.data or {}).get("source") for a in _audit(world, "rescue_provider", truck.id, "location_reported")]
        assert sources == [demo_gps.SOURCE], f"demo truck {truck.id}'s report is audited as the demo's feed"
    assert after[real.id] == before[real.id], "the provider someone added keeps its old position"
    assert _audit(world, "rescue_provider", real.id, "location_reported") == [], \
        "and has no report from the demo's feed"

    offer = world.run(rescue.assign, dispatcher, job.id, flatbed.id, world.rules.rescue)
    assert offer.provider_id == flatbed.id, "after one round of the feed the dispatcher's assignment goes through"
