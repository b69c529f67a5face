"""Send a batch concurrently, each message at its rate-limit slot, and turn network failures into outcomes.

The HTTP clients live on one event loop per process (`SenderLoop`, a daemon thread), so their keep-alive
connections (and TLS sessions) outlive a batch: a new batch does not open a hundred new connections.
Send tasks, in whatever thread Celery runs them, hand their coroutine to that loop and wait.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp

from alerts.notifying.channels.base import Outcome, Outgoing
from alerts.notifying.ratelimit import Reserve

LATE_S = 0.01  # a start this late has lost its slot
CONNECTIONS_PER_HOST = 256  # at 100 ms a round trip, enough for 2,500 messages a second per process


class SenderLoop:
    """This process's event loop for provider traffic, and the long-lived clients created on it."""

    _current: SenderLoop | None = None
    _guard = threading.Lock()

    def __init__(self):
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._clients: dict[tuple, object] = {}
        threading.Thread(target=self.loop.run_forever, name="haven-sender-loop", daemon=True).start()

    @classmethod
    def get(cls) -> SenderLoop:
        with cls._guard:
            if cls._current is None or cls._current.pid != os.getpid():  # a forked worker starts its own
                cls._current = SenderLoop()
            return cls._current

    def run(self, coroutine: Coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def client(self, key: tuple, make: Callable[[], object]):
        """A client made once per key, on this loop (call from a coroutine running here)."""
        if key not in self._clients:
            self._clients[key] = make()
        return self._clients[key]


def connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0, limit_per_host=CONNECTIONS_PER_HOST, keepalive_timeout=60)


# No connection was made: the provider certainly does not have the message.
NOT_CONNECTED = (aiohttp.ClientConnectorError,)
# The answer never came or never completed: the provider may or may not have the message.
TRANSPORT_ERRORS = (asyncio.TimeoutError, aiohttp.ClientError, OSError)


async def send_paced(messages: list[Outgoing], reserve: Reserve | None,
                     send_one: Callable[[Outgoing], Awaitable[Outcome]], provider: str) -> list[Outcome]:
    """Start each message at its rate-limit slot, then let the round trips overlap (100 ms each doesn't
    serialise a batch).

    A start that misses its slot by more than LATE_S (the process was busy) does not go late, which would
    bunch it with the next slots: it takes the next slot, and new ones are reserved if the batch runs out.
    """

    async def one(message: Outgoing) -> Outcome:
        began = time.monotonic()
        try:
            outcome = await send_one(message)
        except NOT_CONNECTED as exc:
            return Outcome(message.notification_id, "error", provider, error=_describe(exc), transport_error=True,
                           latency_s=time.monotonic() - began)
        except TRANSPORT_ERRORS as exc:
            return Outcome(message.notification_id, "error", provider, error=_describe(exc), transport_error=True,
                           maybe_handed_over=True, latency_s=time.monotonic() - began)
        return replace(outcome, at=datetime.now(UTC), latency_s=time.monotonic() - began)

    if reserve is None:
        return list(await asyncio.gather(*(one(m) for m in messages)))
    loop = asyncio.get_running_loop()
    started: list[asyncio.Future] = []
    waiting = deque(messages)
    while waiting:
        try:
            slots = await loop.run_in_executor(None, reserve, len(waiting))
        except Exception as exc:  # the limiter is gone (Redis down): what has not started is not handed over
            return list(await asyncio.gather(*started)) + [
                Outcome(m.notification_id, "error", provider, error=f"rate limiter unavailable: {_describe(exc)}",
                        transport_error=True) for m in waiting]
        # The slots were ours from the moment Redis handed them out; the hop back to this loop shifts them
        # all a little (nobody else holds them), so a slow hop never makes a whole reservation "late".
        shift = max(0.0, time.monotonic() - slots.start)
        for index in range(slots.count):
            at = slots.at(index) + shift
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() - at > LATE_S:
                continue  # this slot is lost; the message takes the next one
            started.append(asyncio.ensure_future(one(waiting.popleft())))
    return list(await asyncio.gather(*started))


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name
