"""The one settings object. Every variable is documented in config/.env.example.

A bad value stops start-up with a message naming the variable (SettingsError), so an
operator never runs with a half-understood configuration.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
# The green-channel hotline every warning names; a placeholder until the insurer sets HAVEN_HOTLINE.
DEFAULT_HOTLINE = "400-000-0000"
HOTLINE_MAX = 20  # the templates are proven to fit 2 SMS segments with a hotline this long
HOTLINE = re.compile(r"\+?[0-9][0-9 ()-]*[0-9]")
SMS_PROVIDER_NAMES = ("outbox", "twilio", "aliyun")


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    # An empty variable means "unset", so config/.env.example can be copied and used as it is.
    model_config = SettingsConfigDict(env_prefix="HAVEN_", extra="ignore", populate_by_name=True,
                                      env_ignore_empty=True, env_file_encoding="utf-8")

    # Storage and tasks
    database_url: str = f"sqlite:///{VAR_DIR / 'haven.sqlite3'}"
    redis_url: str | None = None
    redis_key_prefix: str = ""
    # Recovery (alerts/notifying/delivery.py, the sweep): a worker's claim on a batch or a fan-out lasts
    # delivery_lease_s and is renewed every third of it while the worker lives; the sweep runs every
    # sweep_every_s; a queued row whose queue has been empty for lost_task_s lost its task.
    delivery_lease_s: float = Field(default=30.0, ge=3, le=3600)
    sweep_every_s: float = Field(default=5.0, ge=1, le=600)
    lost_task_s: float = Field(default=15.0, ge=1, le=3600)
    bind: str = "127.0.0.1:8080"
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = False  # one line per HTTP request; off so the event lines stay readable
    # API threads: request work and /metrics scrapes each have their own bounded pool
    api_threads: int = Field(default=16, ge=1, le=256)
    metrics_threads: int = Field(default=1, ge=1, le=16)
    metrics_token: str | None = None  # when set, /metrics needs Authorization: Bearer <token>

    # Channels
    sms_channel: Literal["outbox", "twilio", "aliyun"] = "outbox"
    push_channel: Literal["outbox", "http"] = "outbox"
    push_url: str | None = None
    push_secret: str | None = None
    sms_rate_per_s: float = Field(default=100.0, gt=0)
    twilio_account_sid: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN"))
    twilio_messaging_service_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_MESSAGING_SERVICE_SID")
    )
    twilio_from: str | None = Field(default=None, validation_alias=AliasChoices("TWILIO_FROM"))
    twilio_api_base_url: str | None = None
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_sign_name: str | None = None
    aliyun_templates: dict[str, dict[str, dict]] | None = None  # JSON: kind -> language -> {code, params}
    aliyun_endpoint: str | None = None  # dysmsapi.aliyuncs.com, or http://127.0.0.1:<port> for a local server
    aliyun_report_token: str | None = None  # the secret in the status report URL (docs/architecture.md)
    # Several SMS providers at once (alerts/notifying/providers.py): their names in order of preference,
    # e.g. "twilio,aliyun" (unset: HAVEN_SMS_CHANNEL alone); the resting split of new messages between them
    # in percent, e.g. "70,30" (unset: all to the first); and the health rule's thresholds.
    sms_providers: str | None = None
    sms_split: str | None = None
    sms_health_window_s: float = Field(default=30.0, ge=1, le=3600)
    sms_slow_handover_s: float = Field(default=2.0, gt=0, le=60)  # the provider's API answer
    sms_slow_delivery_s: float = Field(default=240.0, gt=0, le=86400)  # hand-over to the delivered receipt
    sms_error_rate_threshold: float = Field(default=0.3, gt=0, le=1)
    sms_drift_back_s: float = Field(default=300.0, ge=0, le=86400)  # from no traffic back to its resting share

    # Warning rules
    severity_threshold: Literal["Minor", "Moderate", "Severe", "Extreme"] = "Moderate"
    warning_margin_km: float = Field(default=0.0, ge=0)
    quiet_hours: str = "22:00-07:00"
    hotline: str = DEFAULT_HOTLINE
    alert_default_lifetime_h: float = Field(default=24.0, gt=0)
    gazetteer_path: str | None = None
    point_snap_m: float = Field(default=50.0, ge=0)

    # Matching shards (alerts/matching/spatial.py): how many region shards, and which one this worker holds
    match_shards: int = Field(default=1, ge=1)
    match_shard: int | None = Field(default=None, ge=0)

    # Feeds
    feed_user_agent: str = "Haven/0.1 (operations@haven.example)"
    feed_timeout_s: float = Field(default=15.0, gt=0)
    feed_max_backoff_s: float = Field(default=3600.0, gt=0)
    # QWeather Weather Alert API v1 (feed kind qweather-v1, alerts/reading/qweather_polling.py): the account's own
    # API host, and either an API key or an Ed25519 JWT credential (key id, project id, private key PEM file)
    qweather_api_host: str | None = None
    qweather_api_key: str | None = None
    qweather_jwt_key_id: str | None = None
    qweather_jwt_project_id: str | None = None
    qweather_jwt_private_key_path: str | None = None
    qweather_lang: str = "zh"
    qweather_points: str | None = None  # fixed points "lat,lon[,adcode];..." instead of the book's counties
    qweather_concurrency: int = Field(default=4, ge=1, le=64)

    # Manual warnings (alerts/manual.py): above this many customers a second staff member approves; one
    # nobody confirms or approves within manual_approval_wait_min expires.
    manual_approval_above: int = Field(default=1000, ge=0)
    manual_approval_wait_min: float = Field(default=30.0, gt=0, le=24 * 60)

    # Green channel
    cat_propose_min_assets: int = Field(default=500, ge=1)
    rescue_offer_timeout: float = Field(default=300.0, gt=0)
    provider_location_max_age_s: float = Field(default=900.0, gt=0)
    rescue_hold_s: float = Field(default=60.0, gt=0, le=3600)  # a watched pending job waits this long
    advance_ratio: float = Field(default=0.5, gt=0, le=1)
    claim_lease_s: float = Field(default=900.0, gt=0)

    # Signing in (identity/): session idle timeouts, one-time codes, signed links, throttles. Throttles
    # count within sign_in_throttle_window_s; codes per phone and requests per client address.
    staff_session_idle_h: float = Field(default=8.0, gt=0, le=24 * 30)
    customer_session_idle_days: float = Field(default=30.0, gt=0, le=365)
    sign_in_code_ttl_s: int = Field(default=600, ge=60, le=3600)
    sign_in_code_max_failures: int = Field(default=5, ge=1, le=100)
    sign_in_lockout_s: int = Field(default=900, ge=1, le=86400)
    customer_link_ttl_h: float = Field(default=72.0, gt=0, le=24 * 90)
    sign_in_throttle_window_s: int = Field(default=900, ge=1, le=86400)
    sign_in_codes_per_phone: int = Field(default=5, ge=1)
    sign_in_requests_per_address: int = Field(default=30, ge=1)
    login_failures_per_username: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)

    # Demo
    demo_seed: int = 20210725
    demo_customers: int = Field(default=20_000, ge=1)
    demo_assets: int = Field(default=50_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL, or unset to run tasks in-process")
        return value

    @field_validator("match_shard", mode="before")
    @classmethod
    def _blank_shard(cls, value):
        return None if value == "" else value

    @field_validator("bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @field_validator("sms_providers")
    @classmethod
    def _sms_providers(cls, value: str | None) -> str | None:
        if not value:
            return None
        names = [name.strip() for name in value.split(",")]
        unknown = [name for name in names if name not in SMS_PROVIDER_NAMES]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"must name distinct providers among {', '.join(SMS_PROVIDER_NAMES)}, "
                             "in order of preference, e.g. twilio,aliyun")
        return ",".join(names)

    @field_validator("sms_split")
    @classmethod
    def _sms_split(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        providers = (info.data.get("sms_providers") or "").split(",")
        if (not re.fullmatch(r"\s*\d{1,3}(\s*,\s*\d{1,3})*\s*", value) or not sum(int(p) for p in value.split(","))
                or len(value.split(",")) != len(providers)):
            raise ValueError("must be whole percentages, one per provider of HAVEN_SMS_PROVIDERS, e.g. 70,30")
        return value.replace(" ", "")

    @field_validator("hotline")
    @classmethod
    def _hotline(cls, value: str) -> str:
        if not HOTLINE.fullmatch(value.strip()) or len(value.strip()) > HOTLINE_MAX:
            raise ValueError("must be a phone number of digits, spaces, brackets and dashes (an optional leading +), "
                             f"at most {HOTLINE_MAX} characters: it is printed in every warning SMS")
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @field_validator("qweather_api_host")
    @classmethod
    def _qweather_host(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"https?://[^/\s]+/?", value.strip()):
            raise ValueError("must be the API host as a URL, e.g. https://abc1234xyz.qweatherapi.com")
        return value.strip().rstrip("/") if value else None

    @field_validator("qweather_points")
    @classmethod
    def _qweather_points(cls, value: str | None) -> str | None:
        point = r"\s*-?\d{1,2}(\.\d+)?\s*,\s*-?\d{1,3}(\.\d+)?\s*(,\s*\d{6}\s*)?"
        if value and not re.fullmatch(rf"{point}(;{point})*;?\s*", value):
            raise ValueError("must be points 'lat,lon[,adcode]' separated by ';', e.g. 28.02,120.65,330302")
        return value

    @property
    def sms_provider_names(self) -> tuple[str, ...]:
        """The SMS providers in order of preference (HAVEN_SMS_PROVIDERS, else HAVEN_SMS_CHANNEL alone)."""
        return tuple(self.sms_providers.split(",")) if self.sms_providers else (self.sms_channel,)

    @property
    def embedded(self) -> bool:
        """True when tasks run in-process (no Redis configured)."""
        return self.redis_url is None

    @property
    def host(self) -> str:
        return self.bind.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.bind.rpartition(":")[2])


def parse_quiet_hours(value: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """'22:00-07:00' -> ((22, 0), (7, 0)); raises ValueError on anything else."""
    try:
        start, end = value.split("-")
        pairs = []
        for part in (start, end):
            hours, minutes = part.strip().split(":")
            h, m = int(hours), int(minutes)
            if not (0 <= h < 24 and 0 <= m < 60):
                raise ValueError
            pairs.append((h, m))
    except ValueError:
        raise ValueError("must be HH:MM-HH:MM, e.g. 22:00-07:00") from None
    return pairs[0], pairs[1]


def _variable_name(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    return f"HAVEN_{field_name.upper()}"


def load_settings(**overrides) -> Settings:
    """Read the environment, and the file HAVEN_ENV_FILE names if set (the environment wins over it);
    raise SettingsError naming the offending variable."""
    env_file = os.environ.get("HAVEN_ENV_FILE") or None
    if env_file and not Path(env_file).is_file():
        raise SettingsError(f"invalid configuration: HAVEN_ENV_FILE: no such file {env_file!r}")
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = _variable_name(str(error["loc"][0])) if error["loc"] else "settings"
            problems.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings, so the next get_settings() re-reads the environment."""
    get_settings.cache_clear()
