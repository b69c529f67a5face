"""What the SDK-backed SMS channels (twilio_sms.py, aliyun_sms.py) share: one client per process on the
sender loop (pacing.py), made before the first warning, and a batch sent through it at its rate-limit slots."""

from __future__ import annotations

from alerts.notifying.channels.base import Outcome, Outgoing
from alerts.notifying.channels.pacing import SenderLoop, send_paced
from alerts.notifying.ratelimit import Reserve


class SdkChannel:
    """Subclasses say `provider`, how to make and find their client (`_shared_client`) and `_send_one`."""

    provider: str

    def prepare(self) -> None:
        """Create this process's client now rather than on the first warning."""

        async def make():
            self._shared_client()

        SenderLoop.get().run(make())

    def _send_on_loop(self, messages: list[Outgoing], reserve: Reserve | None) -> list[Outcome]:
        return SenderLoop.get().run(self._send_batch(messages, reserve))

    async def _send_batch(self, messages: list[Outgoing], reserve: Reserve | None) -> list[Outcome]:
        client = self._shared_client()
        return await send_paced(messages, reserve, lambda m: self._send_one(client, m), self.provider)

    def _shared_client(self):
        raise NotImplementedError

    async def _send_one(self, client, message: Outgoing) -> Outcome:
        raise NotImplementedError
