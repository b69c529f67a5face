"""`haven run` serves the embedded default with the demo book, and a second start does no harm."""

import subprocess

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.models import Asset, Customer
from tests.support import ROOT, free_port, subprocess_env, wait_until


def _start(env):
    import sys
    from pathlib import Path

    return subprocess.Popen([str(Path(sys.executable).parent / "haven"), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_run_migrates_seeds_and_serves_twice_without_duplicates(tmp_path):
    import requests

    url = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    port = free_port()
    env = subprocess_env(HAVEN_DATABASE_URL=url, HAVEN_BIND=f"127.0.0.1:{port}", HAVEN_REDIS_URL="",
                         HAVEN_DEMO_CUSTOMERS=300, HAVEN_DEMO_ASSETS=700)
    for _ in range(2):
        process = _start(env)
        try:
            def healthy():
                try:
                    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                except requests.ConnectionError:
                    return False

            wait_until(healthy, timeout=60, message="haven run to answer /healthz")
            body = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            assert body["queue"]["mode"] == "in-process"
        finally:
            process.terminate()
            output = process.communicate(timeout=20)[0]
        if _ == 0:
            first_output = output
    assert "Loaded the demo book" in first_output
    assert "Loaded the demo book" not in output  # the second start found the book already there
    keys = (tmp_path / "demo-keys.txt").read_text().split("\n")
    roles = [line.split()[0] for line in keys if line]
    assert roles == ["admin", "dispatcher", "adjuster", "adjuster", "supervisor", "manager", "customer"]
    customer_key = keys[6].split()[-1]
    assert customer_key in first_output and customer_key not in output  # printed once, on first start
    sign_ins = [line.split() for line in (tmp_path / "demo-users.txt").read_text().splitlines()]
    assert [line[2] for line in sign_ins] == roles, f"demo-users.txt lists {sign_ins}"
    assert sign_ins[6][1].startswith("+86"), "the demo customer's line should give a phone number to sign in with"
    for started in (first_output, output):
        lines = [line for line in started.splitlines() if line.strip()]
        path_line = next(i for i, line in enumerate(lines) if "demo-users.txt" in line)
        listening = next(i for i, line in enumerate(lines) if "Haven listening" in line)
        assert path_line > listening, f"the demo sign-ins path is not printed after the start-up logs:\n{started}"
    with session_scope(url) as session:
        assert session.scalar(select(func.count(Asset.asset_id))) == 700
        assert session.scalar(select(func.count(Customer.customer_id))) == 300
