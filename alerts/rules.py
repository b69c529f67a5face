"""The warnings' configurable rules as typed objects (docs/architecture.md, "The layers").

Rule modules never read settings: they take these objects, or ask `current()` for the ones the composition
root (the app factory, worker start-up, the CLI, the tests' conftest) handed to `configure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReadingRules:
    max_body_bytes: int = 5 * 1024 * 1024
    default_lifetime_h: float = 24.0


@dataclass(frozen=True)
class FeedRules:
    user_agent: str = "Haven/0.1 (operations@haven.example)"
    timeout_s: float = 15.0
    max_bytes: int = 5 * 1024 * 1024
    max_backoff_s: float = 3600.0
    lifetime_h: float = 24.0


@dataclass(frozen=True)
class MatchingRules:
    shards: int = 1
    gazetteer_path: str | None = None
    warning_margin_km: float = 0.0
    point_snap_m: float = 50.0


@dataclass(frozen=True)
class QWeatherRules:
    api_host: str | None = None
    api_key: str | None = None
    jwt_key_id: str | None = None
    jwt_project_id: str | None = None
    jwt_private_key_path: str | None = None
    lang: str = "zh"
    points: str | None = None
    concurrency: int = 4
    gazetteer_path: str | None = None


@dataclass(frozen=True)
class AlertRules:
    reading: ReadingRules = field(default_factory=ReadingRules)
    feeds: FeedRules = field(default_factory=FeedRules)
    matching: MatchingRules = field(default_factory=MatchingRules)
    qweather: QWeatherRules = field(default_factory=QWeatherRules)

    @classmethod
    def from_settings(cls, settings) -> AlertRules:
        """From a config.Settings (or anything with the same attributes)."""
        return cls(
            reading=ReadingRules(max_body_bytes=settings.max_body_bytes,
                                 default_lifetime_h=settings.alert_default_lifetime_h),
            feeds=FeedRules(user_agent=settings.feed_user_agent, timeout_s=settings.feed_timeout_s,
                            max_bytes=settings.max_body_bytes, max_backoff_s=settings.feed_max_backoff_s,
                            lifetime_h=settings.alert_default_lifetime_h),
            matching=MatchingRules(shards=settings.match_shards, gazetteer_path=settings.gazetteer_path,
                                   warning_margin_km=settings.warning_margin_km,
                                   point_snap_m=settings.point_snap_m),
            qweather=QWeatherRules(api_host=settings.qweather_api_host, api_key=settings.qweather_api_key,
                                   jwt_key_id=settings.qweather_jwt_key_id,
                                   jwt_project_id=settings.qweather_jwt_project_id,
                                   jwt_private_key_path=settings.qweather_jwt_private_key_path,
                                   lang=settings.qweather_lang, points=settings.qweather_points,
                                   concurrency=settings.qweather_concurrency,
                                   gazetteer_path=settings.gazetteer_path),
        )


RulesSource = Callable[[], AlertRules]

_source: list[RulesSource] = []


def configure(rules: AlertRules | RulesSource) -> None:
    """Called by each composition root before any warning is read, matched or sent: the rules, or a
    function giving the current ones (so a settings reload takes effect at once)."""
    _source[:] = [rules if callable(rules) else (lambda: rules)]


def follow(settings: Callable[[], object]) -> None:
    """Rebuild the rules from `settings()` (the root's settings getter) on every use: cheap, and a settings
    reload, or a test's HAVEN_* variables, take effect at once."""
    configure(lambda: AlertRules.from_settings(settings()))


def current() -> AlertRules:
    if not _source:
        raise RuntimeError("alerts.rules.configure(rules) was not called at start-up")
    return _source[0]()
