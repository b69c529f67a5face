"""Shared CLI plumbing: settings errors, automatic migrations on the embedded default, progress bars."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from config import SettingsError, get_settings


def settings_or_exit():
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def ensure_database() -> None:
    """On the embedded default every command that needs the database migrates it first."""
    settings = settings_or_exit()
    if settings.database_url.startswith("sqlite"):
        from store.db import upgrade

        upgrade(settings.database_url)


def progress(total: int | None, description: str, unit: str = "rows") -> tqdm:
    """A progress bar on stderr, so stdout stays clean for --json output."""
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, file=sys.stderr,
                disable=None, dynamic_ncols=True)
