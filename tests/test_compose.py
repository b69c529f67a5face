"""docker-compose.yml matches what the code reads (no Docker engine here, so we read the file)."""

import re

import yaml

from config.settings import Settings, load_settings
from tests.support import ROOT
from workers import QUEUES


def _compose():
    text = (ROOT / "docker-compose.yml").read_text()
    # Resolve ${VAR:-default} the way `docker compose` does when VAR is unset.
    return yaml.safe_load(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text))


def _known_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(field.validation_alias.choices[0] if field.validation_alias else f"HAVEN_{name.upper()}")
    return names


def test_services_and_commands():
    services = _compose()["services"]
    assert {"postgres", "redis", "api", "worker", "beat"} <= set(services)
    assert "haven" in " ".join(services["api"]["command"]) and "serve" in services["api"]["command"]
    worker_command = " ".join(services["worker"]["command"])
    assert "-Q" in worker_command
    assert set(worker_command.split("-Q", 1)[1].split()[0].split(",")) == set(QUEUES)
    assert "beat" in " ".join(services["beat"]["command"])
    for name in ("postgres", "redis", "api"):
        assert "healthcheck" in services[name], f"{name} has no health check"


def test_environment_uses_only_real_settings_and_points_at_the_services(monkeypatch):
    services = _compose()["services"]
    known = _known_variables()
    for name in ("api", "worker", "beat"):
        environment = services[name]["environment"]
        unknown = set(environment) - known
        assert not unknown, f"{name} sets variables the code never reads: {unknown}"
        assert environment["HAVEN_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in environment["HAVEN_DATABASE_URL"]
        assert environment["HAVEN_REDIS_URL"].startswith("redis://redis:6379")
        for key, value in environment.items():
            monkeypatch.setenv(key, str(value))
        load_settings()  # every value in the file is one the code accepts
    assert services["api"]["environment"]["HAVEN_BIND"].startswith("0.0.0.0:")
