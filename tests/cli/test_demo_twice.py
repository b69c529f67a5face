"""`haven demo` on the embedded default: the story is the demo users', dated in the past, leaves work
for every role, and a second run the same day says so, exits 0 and warns nobody again."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from greenchannel import queue
from greenchannel.dao import catevents_dao
from greenchannel.rules import QueueRules
from store.db import session_scope
from store.models import (
    Alert,
    AuditEvent,
    CatEvent,
    Claim,
    ClaimDocument,
    Notification,
    Payment,
    RescueJob,
    RescueOffer,
    RescueProvider,
    User,
)
from store.types import utcnow
from store.users import Principal
from tests.support import haven, subprocess_env

BEIJING = timezone(timedelta(hours=8))
EVENT_TIMES = [(Claim, "created_at"), (Claim, "loss_at"), (Claim, "stage_entered_at"), (Claim, "first_contact_at"),
               (Claim, "updated_at"), (ClaimDocument, "uploaded_at"), (RescueProvider, "location_at"),
               (RescueJob, "created_at"), (RescueJob, "accepted_at"), (RescueJob, "finished_at"),
               (RescueOffer, "offered_at"), (RescueOffer, "responded_at"), (Payment, "created_at"),
               (Payment, "decided_at"), (Payment, "paid_at"), (CatEvent, "created_at"), (CatEvent, "confirmed_at"),
               (Alert, "sent_at"), (Notification, "created_at")]


@pytest.mark.slow
def test_demo_twice_tells_a_past_story_leaves_work_and_never_warns_twice(tmp_path, haven_env):
    url = f"sqlite:///{tmp_path / 'haven.sqlite3'}"
    env = subprocess_env(HAVEN_DATABASE_URL=url, HAVEN_REDIS_URL="", HAVEN_DEMO_CUSTOMERS=1500,
                         HAVEN_DEMO_ASSETS=4000)
    first = haven("demo", env=env, timeout=600)
    finished = utcnow()
    assert first.returncode == 0, f"the first demo failed:\n{first.stdout}\n{first.stderr}"
    out = first.stdout

    sign_ins = [line.split() for line in (tmp_path / "demo-users.txt").read_text().splitlines()]
    names = {"Supervisor Su", "Adjuster An", "Adjuster Bo", "Dispatcher Deng"}
    for name in names:
        assert name in out, f"the story does not name the demo user {name}:\n{out}"
    for gone in ("Supervisor Zhou", "Adjuster Wang", "Adjuster Li", "customers over 60 ", "rescue SMS saved"):
        assert gone not in out, f"the story still says {gone!r}:\n{out}"
    assert re.search(r"\d+ customers? aged 60 or over", out), f"no sentence about customers aged 60 or over:\n{out}"
    assert re.search(r"\d+ SMS about rescues went to customers", out), f"no sentence about rescue SMS:\n{out}"
    assert str(tmp_path / "demo-users.txt") in out.strip().splitlines()[-1], "the sign-in file is not named last"

    now_beijing = finished.astimezone(BEIJING)
    for stamp in re.findall(r"sent (\d{4}-\d\d-\d\d \d\d:\d\d) Beijing time \(UTC\+8\)", out):
        sent = datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)
        assert sent <= now_beijing, f"an alert is printed as sent at {stamp} Beijing time, after now ({now_beijing})"
    worked = re.search(r"worked the queue until (\d\d):(\d\d) Beijing time \(UTC\+8\)", out)
    assert worked, f"the adjusters' end of work is not printed with its zone:\n{out}"
    hour, minute = int(worked.group(1)), int(worked.group(2))
    candidates = [(now_beijing - timedelta(days=d)).replace(hour=hour, minute=minute, second=0, microsecond=0)
                  for d in (0, 1)]
    assert any(now_beijing - timedelta(hours=16) <= c <= now_beijing for c in candidates), \
        f"'until {hour:02}:{minute:02} Beijing time' is not a time of the last 16 hours (now {now_beijing:%H:%M})"

    haven_env(url)
    with session_scope(url) as session:
        for model, column in EVENT_TIMES:
            latest = session.scalar(select(func.max(getattr(model, column))))
            assert latest is None or latest <= finished, \
                f"{model.__tablename__}.{column} is {latest}, ahead of the clock ({finished})"
        audit_latest = session.scalar(select(func.max(AuditEvent.at)))
        assert audit_latest is None or audit_latest <= finished, f"an audit row is dated {audit_latest}, ahead of now"
        warnings_sent = session.scalar(select(func.count()).select_from(Notification))
        claims_filed = session.scalar(select(func.count()).select_from(Claim))

        adjuster = session.scalar(select(User).where(User.name == "Adjuster An"))
        taken = queue.lease_next(session, Principal(adjuster.id, adjuster.name, "adjuster", None),
                                 QueueRules(claim_lease_s=900))
        assert taken is not None, "after the demo an adjuster's Take next finds no workable claim"
        waiting = session.scalars(select(Payment).where(Payment.state == "pending_approval")).all()
        assert any(p.required_role == "supervisor" for p in waiting), \
            f"no approval waits for the supervisor after the demo: {[(p.state, p.required_role) for p in waiting]}"
        pending_jobs = session.scalar(select(func.count()).select_from(RescueJob).where(RescueJob.state == "created"))
        assert pending_jobs >= 1, "the dispatcher has no pending rescue job to assign after the demo"
        customer_line = next(line for line in sign_ins if line[2] == "customer")
        customer_claims = session.scalars(select(Claim).where(Claim.customer_id == customer_line[0],
                                                              Claim.stage == "assessed")).all()
        from greenchannel.claims import missing_documents

        assert any(len(missing_documents(session, c)) == 1 for c in customer_claims), \
            f"the demo customer {customer_line[0]} has no assessed claim missing exactly one document"
        warned = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.customer_id == customer_line[0], Notification.kind.in_(("warning", "escalation")),
            Notification.state.in_(("sent", "delivered"))))
        assert warned >= 1, "the demo customer received no typhoon warning to reply to"
        open_events = catevents_dao.list_events(session, "open")
        assert len(open_events) == 1, f"one open CAT event expected, found {[e.code for e in open_events]}"
        session.rollback()

    second = haven("demo", env=env, timeout=600)
    assert second.returncode == 0, f"the second demo failed:\n{second.stdout}\n{second.stderr}"
    assert "Traceback" not in second.stdout + second.stderr, f"the second demo printed a traceback:\n{second.stderr}"
    assert "already ran today" in second.stdout, f"the second demo does not say it already ran:\n{second.stdout}"
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == warnings_sent, \
            "the second demo sent a second wave of messages"
        assert session.scalar(select(func.count()).select_from(Claim)) == claims_filed, \
            "the second demo filed claims again"


def test_replay_gives_each_message_its_own_send_time_and_references_follow():
    from pathlib import Path

    from alerts.reading.parse import parse_message
    from alerts.reading.replay import replay
    from cli.demo import DEMO_DIR, TYPHOON_CHAIN

    landfall = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    now = landfall + timedelta(hours=15)
    raws = [Path(DEMO_DIR / name).read_bytes() for name in TYPHOON_CHAIN]
    messages = replay(raws, landfall, tag="T2", sent_at=[landfall - timedelta(hours=8), landfall, now])
    orange, red, cancel = (parse_message(raw, max_bytes=10**6).alerts[0].alert for raw in messages)
    assert [orange["sent"], red["sent"], cancel["sent"]] == \
        ["2030-01-01T02:00:00+08:00", "2030-01-01T10:00:00+08:00", "2030-01-02T01:00:00+08:00"], \
        "each message should be sent at its own replayed time"
    assert orange["infos"][0]["expires"] == "2030-01-02T02:00:00+08:00", "the orange alert's lifetime moved with it"
    assert cancel["references"] == [
        {"sender": orange["sender"], "identifier": orange["identifier"], "sent": orange["sent"]},
        {"sender": red["sender"], "identifier": red["identifier"], "sent": red["sent"]}], \
        "the all-clear's references should carry the replayed send times of the messages they point to"
