"""`haven` commands: book."""

from cli.root import cli  # noqa: F401
