"""Send a batch concurrently, each message at its rate-limit slot, and turn network failures into outcomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp

from alerts.channels import Outcome, Outgoing
from alerts.ratelimit import Slots

# No connection was made: the provider certainly does not have the message.
NOT_CONNECTED = (aiohttp.ClientConnectorError,)
# The answer never came or never completed: the provider may or may not have the message.
TRANSPORT_ERRORS = (asyncio.TimeoutError, aiohttp.ClientError, OSError)


async def send_paced(messages: list[Outgoing], slots: Slots | None,
                     send_one: Callable[[Outgoing], Awaitable[Outcome]], provider: str) -> list[Outcome]:
    """Start each message at its slot, then let the round trips overlap (100 ms each doesn't serialise a batch).

    The starts are launched in order from one loop, each at its slot or one interval after the one before,
    whichever is later.
    """

    async def one(message: Outgoing) -> Outcome:
        try:
            outcome = await send_one(message)
        except NOT_CONNECTED as exc:
            return Outcome(message.notification_id, "error", provider, error=_describe(exc), transport_error=True)
        except TRANSPORT_ERRORS as exc:
            return Outcome(message.notification_id, "error", provider, error=_describe(exc), transport_error=True,
                           maybe_handed_over=True)
        return replace(outcome, at=datetime.now(UTC))

    if slots is None:
        return list(await asyncio.gather(*(one(m) for m in messages)))
    started, planned = [], float("-inf")
    for index, message in enumerate(messages):
        # Planned, not actual, start times: a sleep's small overshoot must not add up over a batch and
        # push its tail into the next batch's slots.
        planned = max(slots.at(index), planned + slots.interval)
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        started.append(asyncio.ensure_future(one(message)))
    return list(await asyncio.gather(*started))


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name
