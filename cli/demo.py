"""`haven` commands: demo."""

from cli.root import cli  # noqa: F401
