"""The channel the settings name for "sms" and "push" (docs/architecture.md, "A warning, from feed to SMS")."""

from __future__ import annotations

import contextlib

from alerts.notifying.channels.base import Channel, ChannelConfigError


def channel_for(channel: str, settings) -> Channel:
    """The configured provider for a channel ("sms" or "push")."""
    # The providers' SDKs load on first use, so a process that never sends does not pay for them.
    from alerts.notifying.channels.outbox import Outbox

    if channel == "sms" and settings.sms_channel == "twilio":
        from alerts.notifying.channels.twilio_sms import TwilioSms

        return TwilioSms.from_settings(settings)
    if channel == "sms" and settings.sms_channel == "aliyun":
        from alerts.notifying.channels.aliyun_sms import AliyunSms

        return AliyunSms.from_settings(settings)
    if channel == "push" and settings.push_channel == "http":
        from alerts.notifying.channels.push import HttpPush

        return HttpPush.from_settings(settings)
    if channel not in ("sms", "push"):
        raise ValueError(f"unknown channel {channel!r}")
    return Outbox()


def warm_up(settings) -> None:
    """Get the configured SMS provider's client ready (the SDK loads its resources lazily), so the first
    warning after a worker starts does not wait for imports and set-up."""
    if settings.sms_channel == "twilio":
        from alerts.notifying.channels.twilio_sms import TwilioSms

        # A missing setting is reported on the first send, where the batch is kept for a retry.
        with contextlib.suppress(ChannelConfigError):
            TwilioSms.from_settings(settings).prepare()
    if settings.sms_channel == "aliyun":
        from alerts.notifying.channels.aliyun_sms import AliyunSms

        with contextlib.suppress(ChannelConfigError):
            AliyunSms.from_settings(settings).prepare()
