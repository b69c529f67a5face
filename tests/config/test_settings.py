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
