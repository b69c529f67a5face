"""Tasks for the greenchannel queue (thin wrappers; business rules live outside workers/)."""

from workers.app import app  # noqa: F401
