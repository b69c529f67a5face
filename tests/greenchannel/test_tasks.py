"""The green-channel tasks on a real Celery worker (Redis broker, PostgreSQL), and their beat entries."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from greenchannel import claims, payments, rescue
from greenchannel.requests import ClaimChanges, JobRequest, ProviderRegistration
from store.models import Claim, Payment, RescueOffer
from store.types import utcnow
from tests.greenchannel.conftest import PLACES, ask
from tests.support import wait_until
from workers import app
from workers import greenchannel as tasks


def test_every_periodic_task_is_scheduled():
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"haven.greenchannel.expire_offers", "haven.greenchannel.dispatch_pending",
            "haven.greenchannel.expire_leases", "haven.greenchannel.flag_sla_breaches",
            "haven.greenchannel.resend_stuck_payouts"} <= scheduled


def test_a_real_worker_expires_offers_dispatches_flags_and_pays(pg_world, celery_worker, haven_env):
    # .get(disable_sync_subtasks=False): a test elsewhere in the session may leave Celery believing this
    # thread is inside a task; here the test is the client waiting for a real worker.
    world = pg_world
    haven_env(world.url, HAVEN_RESCUE_OFFER_TIMEOUT=1, HAVEN_CLAIM_LEASE_S=1)
    celery_worker(world.url, queues="greenchannel", HAVEN_RESCUE_OFFER_TIMEOUT=1, HAVEN_CLAIM_LEASE_S=1)
    dispatcher = world.user("dispatcher")
    lon, lat = PLACES["ningbo"]
    near, far = (world.run(rescue.register_provider, dispatcher, ask(ProviderRegistration, {"name": name, "kind": "flatbed",
                                                                  "location": [lon + d, lat]}))
                 for name, d in (("Near", 0.01), ("Far", 0.05)))
    claim = world.file("A00000002", vehicle_in_water=True)
    job, _ = world.run(rescue.create_job, dispatcher, ask(JobRequest, {"claim_id": claim.id}), world.rules.rescue)

    def offered_to():
        with world.session() as session:
            offer = rescue.live_offer(session, job.id)
            return offer.provider_id if offer else None

    assert offered_to() == near.id
    wait_until(lambda: utcnow() > job.created_at + timedelta(seconds=1.2), 5, message="the offer to run out")
    assert tasks.expire_offers.delay().get(timeout=60, disable_sync_subtasks=False) == {"expired": 1}
    assert offered_to() == far.id

    world.run(rescue.advance, dispatcher, job.id, "cancelled")
    waiting, _ = world.run(rescue.create_job, dispatcher, ask(JobRequest, {"claim_id": world.file("A00000001").id,
                                                           "dispatch": False}), world.rules.rescue)
    assert tasks.dispatch_pending.delay().get(timeout=60, disable_sync_subtasks=False)["offered"] == 1
    with world.session() as session:
        assert session.scalar(select(RescueOffer.mode).where(RescueOffer.job_id == waiting.id)) == "batch"

    from greenchannel import queue

    leased = world.run(queue.lease_next, world.user("adjuster"), world.rules.queue)
    assert leased is not None
    wait_until(lambda: utcnow() > leased.lease_expires_at, 5, message="the lease to run out")
    assert tasks.expire_leases.delay().get(timeout=60, disable_sync_subtasks=False) == {"returned": 1}
    with world.session() as session:
        late = session.get(Claim, leased.id)
        late.first_contact_at, late.created_at = None, utcnow() - timedelta(hours=5)
        queue.refresh(session, late)
    assert tasks.flag_sla_breaches.delay().get(timeout=60, disable_sync_subtasks=False)["flagged"] >= 1

    world.run(claims.update_details, world.user("adjuster"), claim.id, ask(ClaimChanges, {"estimate": "90000.00"}))
    payment, _ = world.run(payments.request_payment, world.user("supervisor"), claim.id, Decimal("40000.00"), "w1", world.rules.payments)
    assert payment.state == "approved"  # the payout itself is the worker's job

    def paid():
        with world.session() as session:
            return session.get(Payment, payment.id).state == "paid"

    wait_until(paid, 60, message="the worker to pay the advance through the outbox")
