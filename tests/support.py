"""Helpers shared by tests (import as `from tests.support import ...`)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**variables) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in variables.items()})
    return env


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class ApiClient:
    """A small synchronous HTTP client for the API under test (real HTTP over 127.0.0.1)."""

    def __init__(self, base_url: str, key: str | None = None):
        import requests

        self.base_url = base_url
        self.session = requests.Session()
        self.key = key

    def as_user(self, key: str) -> ApiClient:
        return ApiClient(self.base_url, key)

    def request(self, method: str, path: str, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.key:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self.session.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)


def make_user(database_url: str, role: str, name: str | None = None, customer_id: str | None = None) -> str:
    """Create a user directly in the database and return its API key."""
    from store.db import session_scope
    from store.users import create_user

    with session_scope(database_url) as session:
        _, key = create_user(session, role, name or role, customer_id)
    return key


def haven(*args: str, env: dict | None = None, check: bool = False, timeout: float = 300, input: str | None = None):
    """Run the installed `haven` command; returns the CompletedProcess (text mode)."""
    import subprocess
    import sys

    command = [str(Path(sys.executable).parent / "haven"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env or subprocess_env(),
                          check=check, timeout=timeout, input=input)
