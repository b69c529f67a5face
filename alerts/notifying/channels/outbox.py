"""The embedded default channel: a message is stored and shown in the console, never sent.

Handing a message to the outbox is the whole delivery, so it ends `delivered` at once; GET /v1/outbox
lists what would have gone out (alerts/dao/outbox_dao.py).
"""

from __future__ import annotations

from alerts.notifying.channels.base import Outcome, Outgoing
from alerts.notifying.ratelimit import Reserve


class Outbox:
    provider = "outbox"
    rate_limited = False

    def send(self, messages: list[Outgoing], reserve: Reserve | None = None) -> list[Outcome]:
        return [Outcome(m.notification_id, "delivered", self.provider, f"outbox-{m.notification_id}")
                for m in messages]
