"""Long runs against `haven serve` on PostgreSQL, as an outside fuzzer sees it: schemathesis over
/openapi.json with an admin key finds no 5xx, and the server's memory stays flat under bad requests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.bench_api import make_key, run_memory_bench, served_api
from tests.conftest import TEST_PG_ADMIN_URL

# The run itself is bounded at 900 s below; /openapi.json now gives schemathesis every body and parameter,
# so on a busy machine it outlasts the default 300 s test timeout (489 s at load average 5).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(960)]

# A bounded run that fits CI (the examples and the boundary-value coverage phase, 2 examples per operation);
# README, Security, gives the full command with the random fuzzing phase. One worker: with two, hypothesis
# describing a filter lambda (ast.parse) in both threads at once crashed schemathesis itself (SystemError).
EXAMPLES_PER_OPERATION = 2


def test_schemathesis_finds_no_server_error(pg_clean_url, tmp_path):
    with served_api(pg_clean_url) as (base, _):
        key = make_key(pg_clean_url, "admin")
        run = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "run", f"{base}/openapi.json", "--checks", "not_a_server_error",
             "-H", f"Authorization: Bearer {key}", "--max-examples", str(EXAMPLES_PER_OPERATION),
             "--phases", "examples,coverage", "--seed", "20260724", "--workers", "1",
             "--request-timeout", "60", "--generation-database", "none", "--suppress-health-check", "all",
             "--no-color", "--report", "junit", "--report-junit-path", str(tmp_path / "schemathesis.xml")],
            capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"schemathesis found server errors (or could not run):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert "passed" in run.stdout, f"schemathesis ran no test case:\n{run.stdout[-2000:]}"


def test_memory_stays_flat_over_rounds_of_bad_requests():
    result = run_memory_bench(TEST_PG_ADMIN_URL, rounds=5, per_round=360, threads=6)
    assert result["server_errors"] == 0, f"bad requests got server errors or no answer: {result['statuses']}"
    assert result["growth_after_warm_up_mb"] < 60, (
        f"the API grew by {result['growth_after_warm_up_mb']} MB after the first round of bad requests "
        f"(RSS after each round: {result['rss_after_each_round_mb']} MB)")
