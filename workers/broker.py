"""What the sweep asks of the broker (Redis): did it lose its queues, and which queues are empty.

Redis keeps the queued tasks in memory. Restarted without persistence (or failed over to a replica that
had not caught up), it comes back empty, and every queued row's task is gone. The sweep notices within
one period: it keeps a marker key holding the server's run id (INFO server), and a marker that is
missing, or that names another run id, means the queues may have been lost; the sweep then queues every
queued row again before it writes the marker anew. A queue with no message in it (every priority level
counted) tells the sweep that a row queued long ago is no longer waiting in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

MARKER_KEY = "haven:broker-run-id"
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport: queue "notify-sms" at priority 3 is "notify-sms\x06\x163"
PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's default priority_steps


@dataclass(frozen=True)
class BrokerProbe:
    client: redis.Redis
    prefix: str = ""

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> BrokerProbe:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix)

    def run_id(self) -> str:
        try:
            return str(self.client.info("server").get("run_id", ""))
        except redis.ResponseError:  # some managed Redis services refuse INFO: the marker alone then decides
            return "unknown"

    def lost_its_queues(self) -> tuple[bool, str]:
        """(lost, run id now). Lost when the marker is gone or names another run of the server."""
        run_id = self.run_id()
        marker = self.client.get(self.prefix + MARKER_KEY)
        return marker is None or marker.decode() != run_id, run_id

    def remember(self, run_id: str) -> None:
        """Mark the queues as seen whole by this run of the server (after whatever they lost was queued again)."""
        self.client.set(self.prefix + MARKER_KEY, run_id)

    def queue_keys(self, queue: str) -> list[str]:
        return [self.prefix + queue + (f"{PRIORITY_SEPARATOR}{step}" if step else "") for step in PRIORITY_STEPS]

    def empty_queues(self, queues: list[str]) -> set[str]:
        pipeline = self.client.pipeline(transaction=False)
        for queue in queues:
            for key in self.queue_keys(queue):
                pipeline.llen(key)
        lengths = pipeline.execute()
        per_queue = len(PRIORITY_STEPS)
        return {queue for n, queue in enumerate(queues) if not any(lengths[n * per_queue:(n + 1) * per_queue])}
