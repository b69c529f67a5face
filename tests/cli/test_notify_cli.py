"""`haven demo` sends the typhoon chain's warnings to the outbox and prints the reach report;
`haven bench fanout` runs end to end (tiny sizes here: the figures themselves come from a real run)."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support import haven, subprocess_env


@pytest.mark.slow
def test_haven_demo_prints_each_alerts_reach(demo_run):
    out = demo_run
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    reach = [line for line in lines if line.startswith("warnings for alert")]
    assert [line.split("(")[1].split(")")[0] for line in reach] == ["Alert", "Update", "Cancel"]
    assert "delivered" in reach[0] and "sms" in reach[0]
    assert sum("handed over within 10 s: 100.0%" in line for line in lines) == 3
    assert any(line.strip().startswith("e.g. 【Haven保险】台风") or "typhoon warning" in line for line in lines)
    assert any("预警已解除" in line or "has been lifted" in line for line in lines)


@pytest.mark.slow
def test_haven_demo_says_when_all_clears_held_for_quiet_hours_go_out(tmp_path):
    beijing = datetime.now(ZoneInfo("Asia/Shanghai"))
    quiet = f"{beijing - timedelta(hours=1):%H:%M}-{beijing + timedelta(hours=2):%H:%M}"  # night is now
    env = subprocess_env(HAVEN_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}", HAVEN_REDIS_URL="",
                         HAVEN_DEMO_CUSTOMERS="300", HAVEN_DEMO_ASSETS="600", HAVEN_QUIET_HOURS=quiet)
    out = haven("demo", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    [cancel] = [n for n, line in enumerate(lines) if line.startswith("warnings for alert") and "(Cancel)" in line]
    assert "held for quiet hours" in lines[cancel] and "created" not in lines[cancel]
    release = f"{beijing + timedelta(hours=2):%Y-%m-%d %H:%M} (Asia/Shanghai)"
    assert f"held for quiet hours, to go out from {release}" in lines[cancel + 1]
    # The orange warnings waited for morning too; the red (Extreme) update went out at once and replaced them.
    [orange] = [n for n, line in enumerate(lines) if line.startswith("warnings for alert") and "(Alert)" in line]
    assert "cancelled" in lines[orange] and "superseded by a newer message of the chain" in lines[orange + 1]


@pytest.mark.slow
def test_bench_fanout_measures_and_checks_exactly_one_message_each():
    out = haven("bench", "fanout", "--only", "share", "--share-customers", "300", "--latency-ms", "5",
                "--workers", "1", "--threads", "2", "--json", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    [result] = json.loads(out.stdout)["results"]
    assert result["customers"] == result["handed_over"] == 300
    assert result["exactly_one_each"] and result["duplicates"] == 0 and result["missing"] == 0
    assert 0 < result["first_s"] <= result["median_s"] <= result["p99_s"] <= result["all_s"]
