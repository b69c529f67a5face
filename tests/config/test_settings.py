"""A bad setting stops start-up with a message that names the variable."""

import pytest

from config.settings import SettingsError, load_settings
from tests.support import haven, subprocess_env


@pytest.mark.parametrize(("variable", "value"), [
    ("HAVEN_DATABASE_URL", "mysql://nope"),
    ("HAVEN_REDIS_URL", "http://127.0.0.1:6379"),
    ("HAVEN_SMS_CHANNEL", "pigeon"),
    ("HAVEN_BIND", "localhost"),
    ("HAVEN_QUIET_HOURS", "late-early"),
    ("HAVEN_SMS_RATE_PER_S", "-3"),
    ("HAVEN_MAX_BODY_BYTES", "lots"),
    ("HAVEN_HOTLINE", "call us"),
    ("HAVEN_HOTLINE", "+86 (0571) 8888-8888-88"),  # longer than the templates are proven to fit
])
def test_bad_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_twilio_variables_have_no_prefix(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_FROM", "+15005550006")
    settings = load_settings()
    assert settings.twilio_account_sid == "AC123" and settings.twilio_from == "+15005550006"


def test_cli_refuses_to_start_with_a_bad_value():
    result = haven("db", "upgrade", env=subprocess_env(HAVEN_SMS_CHANNEL="pigeon"))
    assert result.returncode != 0
    assert "HAVEN_SMS_CHANNEL" in result.stderr


def test_env_example_documents_every_setting():
    from config.settings import Settings
    from tests.support import ROOT

    documented = (ROOT / "config" / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias.choices[0] if field.validation_alias else f"HAVEN_{name.upper()}"
        assert f"{variable}=" in documented, f"{variable} is not documented in config/.env.example"


def _without_haven_variables(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("HAVEN_", "TWILIO_")):
            monkeypatch.delenv(name)


def test_the_env_example_can_be_copied_and_used_as_it_is(monkeypatch, tmp_path):
    from tests.support import ROOT

    _without_haven_variables(monkeypatch)
    copy = tmp_path / ".env"
    copy.write_text((ROOT / "config" / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("HAVEN_ENV_FILE", str(copy))
    settings = load_settings()
    assert settings.redis_url is None, "an empty HAVEN_REDIS_URL= in the example must mean 'in-process tasks'"
    assert settings.feed_user_agent == "Haven/0.1 (operations@haven.example)", \
        "the quoted user agent in the example was not read as written"


def test_the_env_file_is_read_and_the_environment_wins_over_it(monkeypatch, tmp_path):
    _without_haven_variables(monkeypatch)
    env_file = tmp_path / "haven.env"
    env_file.write_text("HAVEN_SMS_RATE_PER_S=7\nHAVEN_QUIET_HOURS=23:00-06:00\n", encoding="utf-8")
    monkeypatch.setenv("HAVEN_ENV_FILE", str(env_file))
    monkeypatch.setenv("HAVEN_QUIET_HOURS", "00:00-00:00")
    settings = load_settings()
    assert settings.sms_rate_per_s == 7, "HAVEN_SMS_RATE_PER_S from the env file was not read"
    assert settings.quiet_hours == "00:00-00:00", "the environment must win over the env file"


def test_a_missing_env_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HAVEN_ENV_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(SettingsError, match="HAVEN_ENV_FILE"):
        load_settings()


def test_the_env_example_loads_into_a_shell():
    import subprocess

    from tests.support import ROOT

    shell = subprocess.run(["bash", "-c", "set -a; . config/.env.example; echo \"$HAVEN_FEED_USER_AGENT\""],
                           cwd=ROOT, capture_output=True, text=True)
    assert shell.returncode == 0, f"sourcing config/.env.example failed: {shell.stderr}"
    assert shell.stdout.strip() == "Haven/0.1 (operations@haven.example)", "the shell read the user agent wrong"
