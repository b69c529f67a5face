"""`haven` commands: notifications and delivery."""

from cli.root import cli  # noqa: F401
