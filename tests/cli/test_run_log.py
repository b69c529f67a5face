"""`haven run` on the embedded default: quiet while nothing happens (no periodic-task lines, no access log
unless HAVEN_ACCESS_LOG=1), the sign-in details printed last at start, then one line per warning stored
and per claim event."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, free_port, haven, subprocess_env, wait_until

ORANGE = ROOT / "config" / "demo" / "01-typhoon-infa-orange-alert.xml"


def _serve(env):
    return subprocess.Popen([str(Path(sys.executable).parent / "haven"), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_run_prints_sign_ins_last_then_one_line_per_event_and_no_routine_noise(tmp_path):
    port = free_port()
    env = subprocess_env(HAVEN_DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", HAVEN_BIND=f"127.0.0.1:{port}",
                         HAVEN_REDIS_URL="", HAVEN_DEMO_CUSTOMERS=300, HAVEN_DEMO_ASSETS=700, HAVEN_ACCESS_LOG="0",
                         HAVEN_LOG_LEVEL="INFO")
    process = _serve(env)
    try:
        def healthy():
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=60, message="haven run to answer /healthz")
        for _ in range(5):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        time.sleep(12)  # two rounds of every 5-second periodic task
        ingested = haven("alerts", "ingest", str(ORANGE), env=env)
        assert ingested.returncode == 0, f"the warning was not ingested: {ingested.stderr}"
        time.sleep(6)  # the event lines are read from the database every 2 s
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    lines = [line for line in output.splitlines() if line.strip()]
    sign_in = next((i for i, line in enumerate(lines) if "demo-users.txt" in line), None)
    assert sign_in is not None, f"haven run did not say where the sign-ins are:\n{output}"
    assert "username and password" in lines[sign_in], f"the sign-in line does not say how to sign in: {lines[sign_in]}"
    after = lines[sign_in + 1:]
    assert not [line for line in after if "celery.app.trace" in line], \
        f"periodic tasks still log a line each round:\n{output}"
    assert not [line for line in after if "GET /healthz" in line], f"the access log is on without being asked:\n{output}"
    warnings = [line for line in after if "haven.events: warning " in line]
    assert len(warnings) == 1 and "Alert (Severe)" in warnings[0], \
        f"the stored warning should print exactly one line, found {warnings}:\n{output}"
    assert len(after) <= 4, f"haven run printed {len(after)} lines in 25 s of one warning:\n{output}"
