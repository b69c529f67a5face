"""The embedded default channel: a message is stored and shown in the console, never sent.

Handing a message to the outbox is the whole delivery, so it ends `delivered` at once; GET /v1/outbox
lists what would have gone out (DESIGN.md, Real components and the embedded default).
"""

from __future__ import annotations

from alerts.channels import Outcome, Outgoing
from alerts.ratelimit import Slots


class Outbox:
    provider = "outbox"
    rate_limited = False

    def send(self, messages: list[Outgoing], slots: Slots | None = None) -> list[Outcome]:
        return [Outcome(m.notification_id, "delivered", self.provider, f"outbox-{m.notification_id}")
                for m in messages]
