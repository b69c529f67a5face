"""What every channel speaks: the message handed over (`Outgoing`) and the provider's answer (`Outcome`).

A channel hands a batch to its provider and reports, per message, what the provider said (`Outcome`).
It never decides what happens next: alerts/notifying/delivery.py classifies the outcome (retry, failed) and moves
the notification's state. `reserve` (a limiter from alerts/notifying/ratelimit.py) spaces the hand-overs for a rate limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from alerts.notifying.ratelimit import Reserve


class ChannelConfigError(RuntimeError):
    """The channel cannot send with the current settings (names the variable to set)."""


def require_settings(channel: str, **values) -> None:
    """Raise ChannelConfigError naming every variable (keyword) left empty."""
    missing = [name.replace("_OR_", " or ") for name, value in values.items() if not value]
    if missing:
        raise ChannelConfigError(f"{channel} needs {', '.join(missing)}")


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    idempotency_key: str
    customer_id: str
    channel: str
    kind: str
    recipient: str
    body: str
    language: str | None = None
    alert_id: int | None = None
    chain_id: int | None = None
    expires_at: datetime | None = None
    attempt: int = 1
    # The facts its text was composed from (hazard, level, place, code, ...): what a template-only provider
    # (Alibaba Cloud, alerts/notifying/channels/aliyun_sms.py) fills its approved template's variables with.
    params: Mapping[str, str] | None = None
    last_provider: str | None = None  # the provider of its previous attempt, if any


@dataclass(frozen=True)
class Outcome:
    """What the provider answered for one message.

    result: "accepted" (handed over; receipts will tell the rest), "delivered" (handing over is the end
    of the road: outbox, push gateway) or "error" (see http_status, error_code, transport_error).
    """

    notification_id: int
    result: str
    provider: str
    provider_message_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error: str | None = None
    transport_error: bool = False  # timeout, refused or reset connection: nobody answered
    # The request may have reached the provider before the answer was lost (timeout, reset):
    # a retry may then be a second message, and is counted as a possible duplicate.
    maybe_handed_over: bool = False
    at: datetime | None = None  # when the provider answered (the hand-over time of an accepted message)
    latency_s: float | None = None  # from the request's start to its answer (or to giving up on it)


class Channel(Protocol):
    provider: str
    rate_limited: bool

    def send(self, messages: list[Outgoing], reserve: Reserve | None) -> list[Outcome]: ...
