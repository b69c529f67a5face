"""The root `haven` group; domain command modules attach their commands to it."""

import click

from cli import system
from cli.bench import bench


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Haven: weather warnings out to insured customers, green-channel claims in."""
    from workers.wiring import wire

    wire()


for command in (system.run, system.serve, system.worker, system.db, system.users, bench):
    cli.add_command(command)
