"""Tasks for the receipts queue: apply stored provider receipts (thin wrappers over alerts/notifying/receipts.py).

A burst of callbacks (two per SMS) must not become one task per callback: the webhook asks for a
drain, and at most one drain is queued at a time (a short-lived Redis flag), which applies every
receipt stored by then.
"""

from __future__ import annotations

import functools

import redis

from config import get_settings
from workers.app import app

DRAIN_GATHER_S = 0.2  # let a burst of callbacks land before the drain reads them
DRAIN_FLAG_TTL_MS = 5000  # a drain that died frees the flag after this


@app.task(name="haven.receipts.apply_pending")
def apply_pending_receipts() -> int:
    """Apply every stored receipt not applied yet (idempotent; out of order and twice are fine)."""
    from workers.notify import apply_waiting_receipts

    settings = get_settings()
    if not settings.embedded:
        _redis(settings.redis_url).delete(_flag_key(settings))  # callbacks arriving from now on queue a new drain
    return apply_waiting_receipts()


def schedule_drain() -> None:
    """Queue a drain unless one is already queued."""
    settings = get_settings()
    if settings.embedded or app.conf.task_always_eager:
        apply_pending_receipts.apply()
        return
    if _redis(settings.redis_url).set(_flag_key(settings), "1", nx=True, px=DRAIN_FLAG_TTL_MS):
        apply_pending_receipts.apply_async(countdown=DRAIN_GATHER_S)


def _flag_key(settings) -> str:
    return f"{settings.redis_key_prefix}haven:receipts:drain-queued"


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
