"""The composition of the domain parts: their rules, rebuilt from the settings on every use (cheap, and a
settings reload takes effect at once), and what follows their commits, queued as tasks.

Every composition root calls `wire()` before any operation: worker start-up (workers/__init__.py), the app
factory (web/app.py), the CLI (cli/root.py). Routes never import tasks: they call a service, and the
service hands its after-commit effects to what was wired here (docs/architecture.md, "The layers").
"""

from __future__ import annotations

from alerts import rules, service
from config import get_settings
from workers.greenchannel import wire_green_channel
from workers.ingest import queue_matching
from workers.receipts import schedule_drain


def wire() -> None:
    rules.follow(get_settings)
    service.configure(service.Effects(match_alerts=queue_matching, drain_receipts=schedule_drain))
    wire_green_channel()
