"""The split of new SMS between providers, kept in Redis and decided from their health (docs/architecture.md,
"Failover between SMS providers"); the rule itself is alerts/notifying/providers.py.

Health lives in Redis, not in the database: every send batch adds its counts there (one pipeline per batch
and provider, into a per-bucket hash that expires after the window), so 1,000 SMS a second are ten small
increments a second spread over a few keys rather than UPDATEs of one hot row, and every worker, old or
freshly restarted, reads the same figures. The receipts half (sent -> delivered) is read from the
receipts table by its processed_at index. One worker at a time decides (a Redis key taken with SET NX
for DECIDE_EVERY_S), writes the providers' states back to Redis, and records each cut or restoration in
the audit trail; every process reads the states at most every CACHE_S. Without Redis (the embedded
default) the split stays at its resting point.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import redis

from alerts.dao.provider_health_dao import delivery_latency
from alerts.notifying.channels.base import Outcome
from alerts.notifying.providers import (
    FailoverRules,
    Health,
    ProviderState,
    Split,
    Switch,
    SwitchKind,
    Trouble,
    next_states,
    split,
)
from store.audit import record
from store.db import session_scope
from store.types import utcnow

log = logging.getLogger(__name__)

BUCKETS_PER_WINDOW = 30
DECIDE_EVERY_S = 1.0
CACHE_S = 0.5
_COUNTED = ("attempts", "errors", "throttled", "slow")


def health_counts(outcomes: Sequence[Outcome], rules: FailoverRules) -> dict[str, dict[str, int]]:
    """provider -> what these hand-overs add to its health."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        mine = counts.setdefault(outcome.provider, dict.fromkeys(_COUNTED, 0))
        mine["attempts"] += 1
        if outcome.result == "error" and (outcome.transport_error or (outcome.http_status or 0) >= 500):
            mine["errors"] += 1
        elif outcome.http_status == 429:
            mine["throttled"] += 1
        if outcome.latency_s is not None and outcome.latency_s > rules.slow_handover_s:
            mine["slow"] += 1
    return counts


@dataclass
class Router:
    """This process's view of the split, for one set of rules and one Redis."""

    rules: FailoverRules
    client: redis.Redis | None
    prefix: str
    _cached: Split | None = None
    _cached_at: float = -1e9
    _guard: threading.Lock = field(default_factory=threading.Lock)

    # --- keys ------------------------------------------------------------------------------------

    @property
    def bucket_s(self) -> float:
        return max(1.0, self.rules.window_s / BUCKETS_PER_WINDOW)

    def _bucket_key(self, provider: str, bucket: int) -> str:
        return f"{self.prefix}haven:sms-health:{provider}:{bucket}"

    @property
    def _state_key(self) -> str:
        return f"{self.prefix}haven:sms-failover:state"

    @property
    def _leader_key(self) -> str:
        return f"{self.prefix}haven:sms-failover:deciding"

    @property
    def _switches_key(self) -> str:
        return f"{self.prefix}haven:sms-failover:switches"

    # --- what the send batches do ------------------------------------------------------------------

    def current(self) -> Split:
        """Each provider's share of new messages now."""
        if self.client is None or not self.rules.several:
            return split({}, self.rules)
        with self._guard:
            if self._cached is not None and time.monotonic() - self._cached_at < CACHE_S:
                return self._cached
        try:
            if self.client.set(self._leader_key, "1", nx=True, px=int(DECIDE_EVERY_S * 1000)):
                self.decide()
            states, _ = self.states()
            current = split(states, self.rules)
        except Exception:  # Redis or the database is away: the resting split, until they answer again
            log.warning("could not decide or read the SMS providers' split; using the resting one", exc_info=True)
            current = split({}, self.rules)
        with self._guard:
            self._cached, self._cached_at = current, time.monotonic()
        return current

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Add a batch's hand-overs to its providers' health (never fails the batch)."""
        if self.client is None or not self.rules.several or not outcomes:
            return
        bucket = int(time.time() / self.bucket_s)
        ttl = int(self.rules.window_s + 2 * self.bucket_s) + 1
        try:
            pipe = self.client.pipeline(transaction=False)
            for provider, counts in health_counts(outcomes, self.rules).items():
                key = self._bucket_key(provider, bucket)
                for name, value in counts.items():
                    if value:
                        pipe.hincrby(key, name, value)
                pipe.expire(key, ttl)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not record the SMS providers' health", exc_info=True)

    # --- the decision ------------------------------------------------------------------------------

    def health(self, now: float) -> dict[str, Health]:
        last = int(now / self.bucket_s)
        first = int((now - self.rules.window_s) / self.bucket_s) + 1
        pipe = self.client.pipeline(transaction=False)
        for provider in self.rules.providers:
            for bucket in range(first, last + 1):
                pipe.hgetall(self._bucket_key(provider, bucket))
        answers = iter(pipe.execute())
        totals = {}
        for provider in self.rules.providers:
            summed = dict.fromkeys(_COUNTED, 0)
            for _ in range(first, last + 1):
                for name, value in next(answers).items():
                    summed[name.decode()] = summed.get(name.decode(), 0) + int(value)
            totals[provider] = summed
        with session_scope() as session:
            receipts = delivery_latency(session, utcnow() - timedelta(seconds=self.rules.window_s),
                                        self.rules.slow_delivery_s)
        return {provider: Health(**{name: totals[provider][name] for name in _COUNTED},
                                 delivered=receipts.get(provider, (0, 0))[0],
                                 slow_delivered=receipts.get(provider, (0, 0))[1])
                for provider in self.rules.providers}

    def states(self) -> tuple[dict[str, ProviderState], float | None]:
        """The providers' states and when they were last decided (time.time()), as Redis holds them."""
        raw = self.client.get(self._state_key)
        if not raw:
            return {}, None
        saved = json.loads(raw)
        states = {}
        for name, state in saved["providers"].items():
            found = state.get("trouble")
            states[name] = ProviderState(float(state["weight"]), Trouble(found) if found else None)
        return states, float(saved["decided_at"])

    def decide(self) -> list[Switch]:
        now = time.time()
        before, decided_at = self.states()
        elapsed = 0.0 if decided_at is None else max(0.0, now - decided_at)
        health = self.health(now)
        after, switches = next_states(before, health, self.rules, elapsed)
        self.client.set(self._state_key, json.dumps({
            "decided_at": now,
            "providers": {name: {"weight": s.weight, "trouble": s.trouble} for name, s in after.items()}}))
        if switches:
            self._announce(switches, health)
        return switches

    def _announce(self, switches: list[Switch], health: dict[str, Health]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for switch in switches:
            pipe.hincrby(self._switches_key, f"{switch.provider}:{switch.kind}", 1)
        pipe.execute()
        with session_scope() as session:
            for switch in switches:
                cut = switch.kind == SwitchKind.CUT
                log.warning("SMS provider %s %s (%s): share %.0f%% -> %.0f%%", switch.provider, switch.kind,
                            switch.trouble, switch.share_before * 100, switch.share_after * 100)
                record(session, "sms_provider", switch.provider, f"sms_provider_{switch.kind}",
                       from_state=f"{switch.share_before:.0%}", to_state=f"{switch.share_after:.0%}",
                       note=(f"cut from new messages: {switch.trouble}" if cut else
                             "back at its resting share after " + str(switch.trouble)),
                       data={"health": asdict(health[switch.provider])})

    # --- what /metrics shows --------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """{"shares": {provider: share}, "switches": {(provider, kind): count}} for /metrics."""
        current = self.current()
        switches: dict[tuple[str, str], int] = {}
        if self.client is not None:
            for key, value in self.client.hgetall(self._switches_key).items():
                provider, _, kind = key.decode().rpartition(":")
                switches[(provider, kind)] = int(value)
        return {"shares": current.shares, "switches": switches}


_routers: dict[tuple, Router] = {}
_routers_guard = threading.Lock()


def router_for(settings) -> Router:
    """This process's router for the settings' providers and Redis."""
    rules = FailoverRules.from_settings(settings)
    key = (rules, settings.redis_url, settings.redis_key_prefix)
    with _routers_guard:
        if key not in _routers:
            client = (redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
                      if settings.redis_url else None)
            _routers[key] = Router(rules, client, settings.redis_key_prefix)
        return _routers[key]
