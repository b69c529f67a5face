"""Celery configuration (docs/architecture.md)."""

from __future__ import annotations

import functools
import logging
import threading
import time

from celery import Celery, Task, bootsteps
from celery.signals import worker_process_init
from celery.worker.consumer import Consumer

from config import get_settings

log = logging.getLogger(__name__)

QUEUES = ("ingest", "match", "notify-sms", "notify-push", "receipts", "periodic", "greenchannel")

TASK_MODULES = [
    "workers.system",
    "workers.ingest",
    "workers.match",
    "workers.notify",
    "workers.receipts",
    "workers.periodic",
    "workers.greenchannel",
]

# Task name prefix -> queue. A slow provider never starves ingestion because each has its own queue.
ROUTES = {
    "haven.system.*": {"queue": "periodic"},
    "haven.ingest.*": {"queue": "ingest"},
    "haven.match.*": {"queue": "match"},
    "haven.notify.sms.*": {"queue": "notify-sms"},
    "haven.notify.push.*": {"queue": "notify-push"},
    "haven.receipts.*": {"queue": "receipts"},
    "haven.periodic.*": {"queue": "periodic"},
    "haven.greenchannel.*": {"queue": "greenchannel"},
}


_EAGER_LOCK = threading.RLock()


class HavenTask(Task):
    """In the embedded default tasks run in the caller's thread, one at a time.

    Celery marks "inside a task" with a process-global flag while an eager task runs; two threads
    running eager tasks at once can leave it set for good, after which every result.get() fails.
    Serialising eager runs (re-entrant, for tasks that queue tasks) keeps the flag honest, and
    also spares SQLite concurrent writers.
    """

    def apply_async(self, *args, **kwargs):
        if self.app.conf.task_always_eager:
            with _EAGER_LOCK:
                return super().apply_async(*args, **kwargs)
        return super().apply_async(*args, **kwargs)


def make_celery() -> Celery:
    settings = get_settings()
    celery = Celery("haven", include=TASK_MODULES, task_cls=HavenTask)
    embedded = settings.embedded
    # socket timeouts: a Redis that vanished without closing its connections (failover, a dead machine)
    # must turn into a reconnect, not a worker waiting forever on a dead socket.
    transport_options = {"visibility_timeout": 600, "socket_connect_timeout": 5, "socket_timeout": 30}
    if settings.redis_key_prefix:
        transport_options["global_keyprefix"] = settings.redis_key_prefix
    celery.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=settings.redis_url or "cache+memory://",
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        task_always_eager=embedded,
        task_eager_propagates=True,
        task_routes=ROUTES,
        task_default_queue="periodic",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        timezone="UTC",
        # A worker rides out a broker restart: it keeps trying to reconnect (Celery logs each try), never
        # gives up and exits, and then consumes again. What the broker lost meanwhile the sweep queues again.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=5,
        worker_consumer="workers.app:BrokerRetryingConsumer",
        # A running send finishes rather than being cancelled mid-hand-over when the connection drops.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        result_backend_always_retry=True,
        result_backend_max_retries=20,
        redis_socket_connect_timeout=5,
        redis_socket_timeout=30,
        # Each task module adds its own entries: app.conf.beat_schedule["name"] = {"task", "schedule" (s)}.
        beat_schedule={},
    )
    celery.steps["consumer"].add(BrokerConnectionLog)
    return celery


class BrokerRetryingConsumer(Consumer):
    """Celery's consumer, trying a lost broker again every second at first and at least every 5 s: kombu's
    own pause grows to 30 s, which after a long outage leaves a worker idle long after Redis is back."""

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(conn.ensure_connection, interval_start=1, interval_step=1,
                                                   interval_max=5)
        return super().ensure_connected(conn)


class BrokerConnectionLog(bootsteps.StartStopStep):
    """Says when a worker lost the broker and when it is consuming again (start runs on every connect)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, consumer, **kwargs):
        super().__init__(consumer, **kwargs)
        self.lost_at: float | None = None
        self.connections = 0

    def start(self, consumer):
        self.connections += 1
        if self.connections > 1:
            away = f" after {time.monotonic() - self.lost_at:.1f} s" if self.lost_at else ""
            log.warning("reconnected to the broker%s: consuming %s again", away,
                        ", ".join(sorted(q.name for q in consumer.task_consumer.queues)))
        self.lost_at = None

    def stop(self, consumer):
        # Stopped while the consumer still runs: its connection broke (a shutdown closes the blueprint first).
        if consumer.blueprint.state == bootsteps.RUN and self.lost_at is None:
            self.lost_at = time.monotonic()
            log.warning("lost the broker connection; reconnecting until it answers")


app = make_celery()


def enqueue(task: Task, *args, **kwargs):
    """Queue a task by id-only arguments; in the embedded default it runs here and now."""
    return task.apply_async(args=args, kwargs=kwargs)


@worker_process_init.connect
def _fresh_connections_after_fork(**_):
    # A forked worker must not share the parent's pooled database sockets.
    from store.db import dispose_engines

    dispose_engines()
