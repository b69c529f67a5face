"""`haven` commands: greenchannel."""

from cli.root import cli  # noqa: F401
