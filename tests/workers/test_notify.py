"""Warnings out through real Celery workers on real Redis: ingest -> match -> fan-out -> batch sends via the
twilio SDK to the Twilio-compatible server -> signed status callbacks to the API -> receipts applied."""

from sqlalchemy import func, select

from alerts.matching import spatial
from alerts.notifying.reach import reach_report
from alerts.reading.ingest import Origin
from alerts.service import ingest
from store.db import session_scope
from store.models import Customer, Notification, Receipt
from store.types import utcnow
from tests.notify_support import add_book, live_demo_cap, twilio_server_fixture, wait_for_workers  # noqa: F401
from tests.support import wait_until
from workers.notify import enqueue_notifications

ORANGE, CANCEL = "01-typhoon-infa-orange-alert.xml", "03-typhoon-infa-cancel.xml"
CUSTOMERS = 250


def count(url, *where):
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(Notification).where(*where)).scalar_one()


def test_a_warning_and_its_all_clear_reach_every_customer_once_through_real_workers(
        api_server, haven_env, celery_worker, pg_clean_url, twilio_server):
    url = pg_clean_url
    spatial.forget_indexes()
    api = api_server(url)
    environment = twilio_server.env(public_base_url=api.base_url, HAVEN_QUIET_HOURS="00:00-00:00",
                                    HAVEN_SMS_RATE_PER_S=500)
    haven_env(url, **environment)  # the API in this process checks the callbacks' signatures
    customers = add_book(url, CUSTOMERS)
    celery_worker(url, concurrency=2, **environment)
    wait_for_workers()
    twilio_server.faults.latency_s = 0.05

    ingest(live_demo_cap(ORANGE), Origin(source="test"), url)
    wait_until(lambda: count(url, Notification.state == "delivered") == CUSTOMERS, timeout=90,
               message="every warning delivered (receipts applied)")
    provider = twilio_server.provider
    assert sorted(provider.per_recipient().values()) == [1] * CUSTOMERS  # one SMS each, no duplicate
    with session_scope(url) as session:
        alert_id = session.execute(select(Notification.alert_id)).scalars().first()
        report = reach_report(session, alert_id)
        batches = session.execute(select(func.count(func.distinct(Notification.sending_at)))).scalar_one()
        receipts = session.execute(select(func.count()).select_from(Receipt)).scalar_one()
    assert report["handover"]["share_within_goal"] == 1.0
    assert batches <= CUSTOMERS // 100 + 6  # claimed in batches of about 100, not one task per SMS
    assert receipts == 2 * CUSTOMERS  # "sent" then "delivered", each signed by the provider and accepted

    ingest(live_demo_cap(CANCEL), Origin(source="test"), url)
    wait_until(lambda: count(url, Notification.kind == "all_clear", Notification.state == "delivered") == CUSTOMERS,
               timeout=90, message="every all-clear delivered")
    assert sorted(provider.per_recipient().values()) == [2] * CUSTOMERS  # the warning, then the all-clear
    assert {m.to for m in provider.accepted} == {f"+861700{n:07d}" for n in range(1, CUSTOMERS + 1)}
    assert len(customers) == CUSTOMERS
    spatial.forget_indexes()


def test_rescue_updates_saved_by_another_module_are_sent_by_enqueue_notifications(
        celery_worker, haven_env, pg_clean_url):
    url = haven_env(pg_clean_url)
    add_book(url, 3)
    with session_scope(url) as session:
        ids = []
        for n, customer in enumerate(session.execute(select(Customer)).scalars()):
            row = Notification(idempotency_key=f"customer:{customer.customer_id}/job:{n}/sms/rescue_assigned",
                               customer_id=customer.customer_id, channel="sms", kind="rescue_assigned",
                               recipient=customer.phone, body="【Haven保险】救援车已派出，预计25分钟到达。", state="created",
                               created_at=utcnow())
            session.add(row)
            session.flush()
            ids.append(row.id)
    celery_worker(url, queues="notify-sms")
    assert enqueue_notifications(ids) == 3
    assert enqueue_notifications(ids) == 0  # already queued: nothing is sent twice
    wait_until(lambda: count(url, Notification.state == "delivered") == 3, timeout=60, message="sent via the outbox")
