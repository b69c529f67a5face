"""Setting up a QWeather v1 feed from the command line: the points are chosen from the book at once, and
book assets outside the gazetteer in use (so no point, so never warned) are announced loudly with their count;
`haven feeds poll` and `haven feeds list` repeat it."""

from __future__ import annotations

import subprocess
import sys

from tests.notify_support import add_book
from tests.support import ROOT, subprocess_env

WENZHOU_LUCHENG = (120.51, 28.07)
BEIJING = (116.40, 39.90)
GUILIN = (110.29, 25.27)


def haven(url: str, *args: str) -> subprocess.CompletedProcess:
    env = subprocess_env(HAVEN_DATABASE_URL=url, HAVEN_REDIS_URL="", HAVEN_QWEATHER_API_KEY="k")
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=180)


def test_feeds_add_warns_loudly_with_the_count_of_assets_outside_the_gazetteer(sqlite_url):
    add_book(sqlite_url, 2, lon=WENZHOU_LUCHENG[0], lat=WENZHOU_LUCHENG[1], start=1)
    add_book(sqlite_url, 1, lon=BEIJING[0], lat=BEIJING[1], start=11)
    add_book(sqlite_url, 1, lon=GUILIN[0], lat=GUILIN[1], start=21)
    added = haven(sqlite_url, "feeds", "add", "http://127.0.0.1:9/weatheralert/v1/current", "--kind", "qweather-v1",
                  "--every", "300s", "--disabled")
    assert added.returncode == 0, f"feeds add failed: {added.stderr}"
    assert "1 point(s)" in added.stdout, f"one county (Lucheng) holds assets: {added.stdout}"
    assert "WARNING" in added.stderr, f"the Beijing and Guilin assets are announced with their count: {added.stderr}"
    assert "2 book asset(s) lie outside the gazetteer" in added.stderr, f"the Beijing and Guilin assets are announced with their count: {added.stderr}"
    assert "HAVEN_GAZETTEER_PATH=cnmaps" in added.stderr, "the warning names the fix"
    listed = haven(sqlite_url, "feeds", "list")
    assert "WARNING: 2 book asset(s) outside the gazetteer" in listed.stdout, listed.stdout


def test_a_book_inside_the_gazetteer_gets_no_warning(sqlite_url):
    add_book(sqlite_url, 2, lon=WENZHOU_LUCHENG[0], lat=WENZHOU_LUCHENG[1], start=1)
    added = haven(sqlite_url, "feeds", "add", "http://127.0.0.1:9/weatheralert/v1/current", "--kind", "qweather-v1",
                  "--disabled")
    assert added.returncode == 0, f"nothing to warn about: {added.stderr}"
    assert "WARNING" not in added.stderr, f"nothing to warn about: {added.stderr}"
