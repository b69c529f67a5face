"""Shared fixtures: real PostgreSQL and Redis, per-test SQLite files, a real Celery worker.

Tests use HAVEN_TEST_DATABASE_URL / HAVEN_TEST_REDIS_URL where set, else the local default ports
(`make test` starts or installs them). Every session gets its own PostgreSQL database and its own
Redis key prefix, so two test runs on one machine never see each other's rows or queues.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from tests.support import ROOT, subprocess_env

RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
TEST_REDIS_URL = os.environ.get("HAVEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PG_ADMIN_URL = os.environ.get(
    "HAVEN_TEST_DATABASE_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)

# Set before any Haven module reads its settings: the Celery app points at the test Redis under a
# private prefix. Tasks still run in-process (eager) unless a test asks for a real worker.
os.environ["HAVEN_REDIS_URL"] = TEST_REDIS_URL
os.environ["HAVEN_REDIS_KEY_PREFIX"] = f"haven-test-{RUN_ID}:"
os.environ["HAVEN_DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / f'test-{RUN_ID}.sqlite3'}"
os.environ.setdefault("HAVEN_LOG_LEVEL", "WARNING")

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config import reset_settings  # noqa: E402
from store.db import dispose_engines, session_scope, upgrade  # noqa: E402
from store.models import Base  # noqa: E402
from workers.wiring import wire  # noqa: E402

# The tests are a composition root too: rule modules get their rules (rebuilt from the settings on each
# use, so a test's HAVEN_* variables count) and services their after-commit effects, as in the app.
wire()


def _admin_engine():
    return create_engine(TEST_PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url():
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"haven_test_{RUN_ID}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(TEST_PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(url: str) -> None:
    with session_scope(url) as session:
        if session.get_bind().dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Path:
    """One SQLite file migrated to head per session: running Alembic takes a second, a copy milliseconds."""
    path = tmp_path_factory.mktemp("sqlite-head") / "haven.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, _migrated_sqlite):
    """A fresh SQLite file at the newest migration, of this test's own (a copy of the session's)."""
    path = tmp_path / "haven.sqlite3"
    with closing(sqlite3.connect(_migrated_sqlite)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_clean_url(pg_url):
    truncate_all(pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    """Run the test once on SQLite (embedded default) and once on PostgreSQL (production)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_clean_url")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """One `haven demo` on a small book (quiet hours off), shared by the tests that only read what it printed."""
    from tests.support import haven

    folder = tmp_path_factory.mktemp("demo-run")
    env = subprocess_env(HAVEN_DATABASE_URL=f"sqlite:///{folder / 'demo.sqlite3'}", HAVEN_REDIS_URL="",
                         HAVEN_DEMO_CUSTOMERS="300", HAVEN_DEMO_ASSETS="600", HAVEN_QUIET_HOURS="00:00-00:00")
    return haven("demo", env=env)


@pytest.fixture
def haven_env(monkeypatch):
    """Point Haven's settings at a database: haven_env(url, **extra HAVEN_* variables)."""

    def apply(database_url: str, **variables):
        monkeypatch.setenv("HAVEN_DATABASE_URL", database_url)
        for key, value in variables.items():
            monkeypatch.setenv(key if key.isupper() else f"HAVEN_{key.upper()}", str(value))
        reset_settings()
        return database_url

    yield apply
    reset_settings()


@pytest.fixture(autouse=True)
def _tasks_in_process():
    """Tasks run eagerly unless the test starts a real worker (see celery_worker)."""
    from workers import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = True


@pytest.fixture
def celery_worker():
    """Start real Celery worker processes on the test Redis: celery_worker(database_url, queues=..., ...)."""
    from workers import app

    started: list[subprocess.Popen] = []

    def start(database_url: str, queues: str | None = None, concurrency: int = 1, **variables):
        from workers import QUEUES

        env = subprocess_env(HAVEN_DATABASE_URL=database_url, **variables)
        command = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues or ",".join(QUEUES),
                   "-c", str(concurrency), "--loglevel", "WARNING", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        process = subprocess.Popen(command, env=env, cwd=ROOT)
        started.append(process)
        app.conf.task_always_eager = False
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()



@pytest.fixture
def api_server(haven_env):
    """Serve the real aiohttp app on 127.0.0.1 in a background thread: api_server(database_url, **env)."""
    import asyncio
    import threading

    from aiohttp import web

    from tests.support import ApiClient, free_port
    from web.app import create_app

    runners = []

    def start(database_url: str, run_periodic: bool = False, **variables) -> ApiClient:
        haven_env(database_url, **variables)
        port = free_port()
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        runner = web.AppRunner(create_app(run_periodic=run_periodic))

        async def serve():
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            ready.set()

        thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()),
                                  daemon=True)
        thread.start()
        assert ready.wait(20), "API server did not start"
        runners.append((loop, runner, thread))
        return ApiClient(f"http://127.0.0.1:{port}")

    yield start
    for loop, runner, thread in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)


# The fast lane (`make test-fast`): tests that need a PostgreSQL database, a real Celery worker, a served
# API or Chromium are marked `services` here from the fixtures they ask for, so nobody has to remember to.
SERVICE_FIXTURES = {"pg_url", "pg_clean_url", "pg_world", "celery_worker", "api_server", "browser", "page"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        on_postgresql = "postgresql" in getattr(getattr(item, "callspec", None), "id", "")
        uses_browser = "playwright" in (getattr(item.module, "__dict__", {}).get("__doc__") or "").lower() \
            or hasattr(item.module, "sync_playwright")
        if fixtures & SERVICE_FIXTURES or on_postgresql or uses_browser or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.services)
    # Files with slow tests first: under pytest-xdist (`make test`) the minutes-long ones then start at once,
    # instead of one of them keeping a single process busy after the other has run out of work.
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
