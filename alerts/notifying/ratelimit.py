"""The provider rate limit: one token bucket in Redis shared by every worker (HAVEN_SMS_RATE_PER_S).

The provider's rate limit is a token bucket in Redis, shared by all workers (docs/architecture.md).
It is kept as a cell-rate schedule (GCRA, the token bucket with no burst): one number in Redis, the
time at which the next token falls due. `reserve(n)` atomically takes the next n slots, 1/rate apart,
and says how long to wait for the first. A batch of 100 therefore goes out evenly over 100/rate seconds
instead of in a burst, so any 1 s window sees at most `rate` messages whichever worker sends them.
Redis's own clock decides, so workers on several machines agree without synchronised clocks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

# Slots are spaced for 95% of the configured rate: between a slot and the provider's clock come the
# network, the event loop and the provider's own scheduling, and their jitter must not push any 1 s
# window over the ceiling.
HEADROOM = 0.95
# KEYS[1]: the schedule key. ARGV: count, interval (s). Returns {first slot wait in µs, interval in µs}.
# The key expires once the schedule is in the past, so an idle limiter leaves nothing behind.
RESERVE_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local count = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due < now then due = now end
local after = due + count * interval
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return {string.format('%.0f', due - now), string.format('%.0f', interval)}
"""


@dataclass(frozen=True)
class Slots:
    """`count` send times: `start` (time.monotonic) then every `interval` seconds."""

    start: float
    interval: float
    count: int

    def at(self, index: int) -> float:
        return self.start + index * self.interval

    def wait_for_first(self) -> None:
        delay = self.start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


Reserve = Callable[[int], Slots]  # reserve(n) -> the next n slots


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, key: str, rate_per_s: float):
        self.client, self.key, self.rate_per_s = client, key, rate_per_s
        self._reserve = client.register_script(RESERVE_LUA)

    def reserve(self, count: int) -> Slots:
        interval_us = round(1_000_000 / (self.rate_per_s * HEADROOM))
        asked = time.monotonic()
        wait_us, interval_us = (int(v) for v in self._reserve(keys=[self.key], args=[count, interval_us]))
        answered = time.monotonic()
        # Redis read its clock somewhere within the round trip: the middle is the best local estimate.
        return Slots((asked + answered) / 2 + wait_us / 1e6, interval_us / 1e6, count)


class LocalRateLimiter:
    """The same schedule in-process, for the embedded default (one process, no Redis)."""

    def __init__(self, rate_per_s: float):
        self.rate_per_s = rate_per_s
        self._due = 0.0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> Slots:
        interval = 1.0 / (self.rate_per_s * HEADROOM)
        with self._lock:
            now = time.monotonic()
            start = max(self._due, now)
            self._due = start + count * interval
        return Slots(start, interval, count)


_limiters: dict[tuple, RedisRateLimiter | LocalRateLimiter] = {}


def limiter_for(name: str, rate_per_s: float, redis_url: str | None, key_prefix: str = ""):
    """One limiter per (provider, rate, Redis) in this process; Redis keeps the shared schedule."""
    cache_key = (name, rate_per_s, redis_url, key_prefix)
    if cache_key not in _limiters:
        if redis_url is None:
            _limiters[cache_key] = LocalRateLimiter(rate_per_s)
        else:
            client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
            _limiters[cache_key] = RedisRateLimiter(client, f"{key_prefix}haven:ratelimit:{name}", rate_per_s)
    return _limiters[cache_key]


def peak_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most instants within any half-open window [t, t + window_s): what a rate limit promises to cap."""
    ordered = sorted(times)
    peak, start = 0, 0
    for end, instant in enumerate(ordered):
        while instant - ordered[start] >= window_s:
            start += 1
        peak = max(peak, end - start + 1)
    return peak
