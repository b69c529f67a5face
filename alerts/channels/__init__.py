"""Where a notification goes: Twilio SMS, an HTTP push gateway, or the outbox (DESIGN.md, Channels).

A channel hands a batch to its provider and reports, per message, what the provider said (`Outcome`).
It never decides what happens next: alerts/delivery.py classifies the outcome (retry, failed) and moves
the notification's state. `reserve` (a limiter from alerts/ratelimit.py) spaces the hand-overs for a rate limit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from alerts.ratelimit import Reserve


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


class Channel(Protocol):
    provider: str
    rate_limited: bool

    def send(self, messages: list[Outgoing], reserve: Reserve | None) -> list[Outcome]: ...


def channel_for(channel: str, settings) -> Channel:
    """The configured provider for a channel ("sms" or "push")."""
    from alerts.channels.outbox import Outbox

    if channel == "sms" and settings.sms_channel == "twilio":
        from alerts.channels.twilio_sms import TwilioSms

        return TwilioSms.from_settings(settings)
    if channel == "push" and settings.push_channel == "http":
        from alerts.channels.push import HttpPush

        return HttpPush.from_settings(settings)
    if channel not in ("sms", "push"):
        raise ValueError(f"unknown channel {channel!r}")
    return Outbox()


def warm_up(settings) -> None:
    """Get the configured SMS provider's client ready (the SDK loads its resources lazily), so the first
    warning after a worker starts does not wait for imports and set-up."""
    if settings.sms_channel == "twilio":
        from alerts.channels.twilio_sms import TwilioSms

        # A missing setting is reported on the first send, where the batch is kept for a retry.
        with contextlib.suppress(ChannelConfigError):
            TwilioSms.from_settings(settings).prepare()
