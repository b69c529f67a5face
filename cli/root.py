"""The root `haven` group; domain command modules attach their commands to it."""

import click

from cli import system
from cli.bench import bench


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Haven: weather warnings out to insured customers, green-channel claims in."""
    from alerts import rules, service
    from config import get_settings

    rules.follow(get_settings)
    service.configure(service.Effects(match_alerts=_queue_matching, drain_receipts=_drain_receipts))


# The task queue is imported only when work is queued: importing it makes the Celery app from the settings
# of that moment, and a command such as `haven bench fanout` points the settings at its own broker first.
def _queue_matching(alert_ids: list[int]) -> None:
    from workers.ingest import queue_matching

    queue_matching(alert_ids)


def _drain_receipts() -> None:
    from workers.receipts import schedule_drain

    schedule_drain()


for command in (system.run, system.serve, system.worker, system.db, system.users, bench):
    cli.add_command(command)
