"""`haven` commands: alerts."""

from cli.root import cli  # noqa: F401
