"""The channels the settings name for "sms" and "push" (docs/architecture.md, "A warning, from feed to SMS").

SMS may go through several providers at once (HAVEN_SMS_PROVIDERS, in order of preference); which one takes
a message is decided in alerts/notifying/failover.py.
"""

from __future__ import annotations

import contextlib

from alerts.notifying.channels.base import Channel, ChannelConfigError


def sms_channel(name: str, settings) -> Channel:
    """One SMS provider by name (outbox, twilio, aliyun)."""
    # The providers' SDKs load on first use, so a process that never sends does not pay for them.
    if name == "twilio":
        from alerts.notifying.channels.twilio_sms import TwilioSms

        return TwilioSms.from_settings(settings)
    if name == "aliyun":
        from alerts.notifying.channels.aliyun_sms import AliyunSms

        return AliyunSms.from_settings(settings)
    if name == "outbox":
        from alerts.notifying.channels.outbox import Outbox

        return Outbox()
    raise ValueError(f"unknown SMS provider {name!r}")


def channel_for(channel: str, settings) -> Channel:
    """The configured provider for a channel ("sms": the first in order of preference, or "push")."""
    if channel == "sms":
        return sms_channel(settings.sms_provider_names[0], settings)
    if channel == "push" and settings.push_channel == "http":
        from alerts.notifying.channels.push import HttpPush

        return HttpPush.from_settings(settings)
    if channel != "push":
        raise ValueError(f"unknown channel {channel!r}")
    from alerts.notifying.channels.outbox import Outbox

    return Outbox()


def warm_up(settings) -> None:
    """Get the configured SMS providers' clients ready (the SDKs load their resources lazily), so the first
    warning after a worker starts does not wait for imports and set-up."""
    for name in settings.sms_provider_names:
        # A missing setting is reported on the first send, where the batch is kept for a retry.
        with contextlib.suppress(ChannelConfigError):
            prepare = getattr(sms_channel(name, settings), "prepare", None)
            if prepare is not None:
                prepare()
