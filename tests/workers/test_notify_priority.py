"""Most exposed first, through real Celery workers (two processes), the shared Redis rate limit and the
Twilio SDK against the Twilio-compatible server: the provider receives the warnings of customers who need
care first, then the deepest inside the area, then the rest."""

from alerts.matching import spatial
from alerts.reading.ingest import Origin
from alerts.service import ingest
from store.db import session_scope
from store.models import Customer
from tests.notify_support import add_book, live_demo_cap, twilio_server_fixture, wait_for_workers  # noqa: F401
from tests.support import wait_until

DEEP = (120.699, 27.994)  # Wenzhou, about 60 km inside the orange area's edge
SHALLOW = (119.52, 27.05)  # about 15 km inside its western edge
RATE_PER_S = 20  # 50 ms between hand-overs: the arrival order is the send order


def phone(n: int) -> str:
    return f"+861700{n:07d}"  # tests.notify_support.add_book's numbering


def test_the_provider_receives_those_needing_care_first_then_the_deepest(
        haven_env, celery_worker, pg_clean_url, twilio_server):
    url = pg_clean_url
    spatial.forget_indexes()
    environment = twilio_server.env(HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_SMS_RATE_PER_S=RATE_PER_S)
    haven_env(url, **environment)
    add_book(url, 8, *SHALLOW, start=1)  # 1-4 need care, 5-8 do not
    add_book(url, 4, *DEEP, start=11)
    with session_scope(url) as session:
        for n in (1, 2):
            session.get(Customer, f"C{n:07d}").vulnerable = True
        for n in (3, 4):
            session.get(Customer, f"C{n:07d}").birth_year = 1950
    celery_worker(url, concurrency=2, **environment)
    wait_for_workers(2)

    ingest(live_demo_cap("01-typhoon-infa-orange-alert.xml"), Origin(source="test"), url)
    provider = twilio_server.provider
    wait_until(lambda: len(provider.accepted) >= 12, timeout=90, message="all 12 warnings handed over")
    arrived = [m.to for m in provider.accepted]
    assert len(arrived) == 12, f"one SMS each, no duplicate: {arrived}"
    assert set(arrived[:4]) == {phone(n) for n in (1, 2, 3, 4)}, f"the vulnerable and the aged first: {arrived}"
    assert set(arrived[4:8]) == {phone(n) for n in (11, 12, 13, 14)}, f"then the deepest inside: {arrived}"
    assert set(arrived[8:]) == {phone(n) for n in (5, 6, 7, 8)}, f"the shallow ones last: {arrived}"
    spatial.forget_indexes()
