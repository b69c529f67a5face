"""`haven demo`'s green-channel story on the embedded default, and `haven bench dispatch`."""

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.models import AuditEvent, Claim, Notification, RescueJob
from tests.support import haven, subprocess_env


@pytest.mark.slow
def test_the_typhoon_story_fast_tracks_rescues_and_pays_at_every_level(sqlite_url, haven_env):
    from config.seed import seed_demo_book
    from greenchannel.demo import run_story
    from greenchannel.service import run_unit
    from workers.greenchannel import current_rules, wire_green_channel

    haven_env(sqlite_url, HAVEN_DEMO_CUSTOMERS=1500, HAVEN_DEMO_ASSETS=4000)
    seed_demo_book()
    lines = []
    wire_green_channel()
    summary = run_story(run_unit, claims_count=300, say=lines.append, rules=current_rules())

    assert summary.claims_filed == 300 == summary.fast_tracked + summary.ordinary
    assert summary.fast_tracked > 150, 'expected summary.fast_tracked > 150'
    assert summary.outside_area > 50, 'expected summary.outside_area > 50'
    assert summary.outside_window > 5, 'expected summary.outside_window > 5'
    assert summary.people_trapped, 'expected summary.people_trapped'
    assert summary.customers_over_60, 'expected summary.customers_over_60'
    assert summary.cars_in_water, 'expected summary.cars_in_water'
    green, ordinary = summary.median_first_contact_min["green_channel"], summary.median_first_contact_min["ordinary"]
    assert green < 30 < ordinary  # the green channel meets its first-contact SLA; the ordinary queue waits
    assert summary.rescue_jobs == 40 == summary.rescues_completed, \
        'expected summary.rescue_jobs == 40 == summary.rescues_completed'
    assert summary.offers_expired > 0, 'expected summary.offers_expired > 0'
    assert set(summary.advances_paid) == {"adjuster", "supervisor", "manager"}
    assert summary.sms_saved >= 60
    assert any(line.startswith(f"green channel {summary.cat_code}: 300 claims") for line in lines)
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(func.count()).select_from(Claim).where(Claim.fast_track.is_(True))) \
            == summary.fast_tracked
        assert session.scalar(select(func.count()).select_from(RescueJob).where(RescueJob.state == "completed")) == 40
        transitions = session.scalar(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.entity == "claim", AuditEvent.action == "transition"))
        rescue_sms = session.scalar(select(func.count()).select_from(Notification)
                                    .where(Notification.kind.in_(("rescue_assigned", "rescue_arrived"))))
    assert transitions >= 300, 'expected transitions >= 300'
    assert rescue_sms == summary.sms_saved, 'expected rescue_sms == summary.sms_saved'
    paid = sum((total for _, total in summary.advances_paid.values()), Decimal("0"))
    assert paid > Decimal("150000")


def test_bench_dispatch_prints_the_batch_time_and_the_greedy_baseline():
    result = haven("bench", "dispatch", "--jobs", "200", "--providers", "60", "--json", env=subprocess_env())
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["pending_jobs"] == 200, 'expected figures["pending_jobs"] == 200'
    assert figures["free_providers"] == 60, 'expected figures["free_providers"] == 60'
    assert figures["surge"] is True, 'expected figures["surge"] is True'
    assert figures["offered"] >= max(180, figures["greedy_offered"])  # small fleets: a few jobs fit no truck
    assert figures["batch_seconds"] > 0, 'expected figures["batch_seconds"] > 0'
    assert figures["assignment_seconds"] > 0, 'expected figures["assignment_seconds"] > 0'
    assert figures["total_km"] > 0, 'expected figures["total_km"] > 0'
    assert figures["greedy_total_km"] > 0, 'expected figures["greedy_total_km"] > 0'
    text = haven("bench", "dispatch", "--jobs", "50", "--providers", "20", env=subprocess_env())
    assert "one batch (linear_sum_assignment): " in text.stdout, \
        'expected "one batch (linear_sum_assignment): " in text.stdout'
    assert "goal <= 1 s for the batch:" in text.stdout, 'expected "goal <= 1 s for the batch:" in text.stdout'
    assert "greedy nearest-first" in text.stdout
