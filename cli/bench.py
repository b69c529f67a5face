"""`haven bench ...`: each domain adds its own benchmark command to this group."""

import click


@click.group()
def bench():
    """Benchmarks that print measured figures."""
