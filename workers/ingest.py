"""Tasks for the ingest queue (thin wrappers; business rules live outside workers/)."""

from workers.app import app  # noqa: F401
