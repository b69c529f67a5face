"""Leases on work in progress: a claimed batch of notifications and a running fan-out.

A worker's claim lasts `HAVEN_DELIVERY_LEASE_S` (30 s by default). While the worker process lives, one
daemon thread of it renews the leases of everything it holds every third of a lease, in one UPDATE per
kind, so a live but slow send keeps its batch however long it waits for rate-limit slots, and a dead
worker's batch is taken back by the sweep about one lease after its last renewal. A hold is renewed
for at most `max_hold_s`: a send stuck longer than that is not slow but hung, and the sweep takes it back.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from store.bulk import one_of
from store.db import session_scope
from store.models import FanOutLease, Notification
from store.models.notifications import NotificationState
from store.types import utcnow

log = logging.getLogger(__name__)

MAX_HOLD_S = 300.0


def renew_batch_leases(session: Session, ids: Sequence[int], until: datetime) -> int:
    """Extend the lease of these notifications, where they are still `sending` (the sweep may have taken
    one back meanwhile: it is someone else's now)."""
    if not ids:
        return 0
    table = Notification.__table__
    return session.execute(update(table).where(one_of(session, table.c.id, ids), table.c.state == NotificationState.SENDING)
                           .values(lease_until=until)).rowcount


def renew_fan_out_leases(session: Session, alert_ids: Sequence[int], until: datetime) -> int:
    if not alert_ids:
        return 0
    table = FanOutLease.__table__
    return session.execute(update(table).where(one_of(session, table.c.alert_id, alert_ids),
                                               table.c.finished_at.is_(None))
                           .values(lease_until=until)).rowcount


@dataclass
class _Hold:
    kind: str  # "batch" or "fan_out"
    ids: tuple[int, ...]
    lease_s: float
    database_url: str | None
    since: float  # time.monotonic()


class LeaseKeeper:
    """The renewing thread of one process, and what it holds."""

    def __init__(self, max_hold_s: float = MAX_HOLD_S):
        self.max_hold_s = max_hold_s
        self._holds: dict[int, _Hold] = {}
        self._tokens = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def holding(self, kind: str, ids: Sequence[int], lease_s: float, database_url: str | None = None
                ) -> Iterator[None]:
        token = next(self._tokens)
        with self._changed:
            self._holds[token] = _Hold(kind, tuple(ids), lease_s, database_url, time.monotonic())
            self._ensure_thread()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._holds.pop(token, None)

    def held(self) -> list[_Hold]:
        with self._changed:
            return list(self._holds.values())

    def _ensure_thread(self) -> None:
        # A forked pool process inherits the object but not the thread: each process starts its own.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="haven-lease-keeper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._holds:
                    self._changed.wait()
                every = min(hold.lease_s for hold in self._holds.values()) / 3
            time.sleep(every)
            try:
                self.renew_now()
            except Exception:  # the database is away for a moment: try again at the next tick
                log.warning("could not renew the leases of the work in progress", exc_info=True)

    def renew_now(self) -> int:
        """Renew every lease this process holds (one UPDATE per kind and database); returns rows renewed."""
        now_mono, now = time.monotonic(), utcnow()
        groups: dict[tuple[str, str | None, float], list[int]] = {}
        for hold in self.held():
            if now_mono - hold.since <= self.max_hold_s:
                groups.setdefault((hold.kind, hold.database_url, hold.lease_s), []).extend(hold.ids)
        renewed = 0
        for (kind, database_url, lease_s), ids in groups.items():
            until = now + timedelta(seconds=lease_s)
            with session_scope(database_url) as session:
                renew = renew_batch_leases if kind == "batch" else renew_fan_out_leases
                renewed += renew(session, ids, until)
        return renewed


keeper = LeaseKeeper()
