"""Times as agencies publish them: ISO 8601 with an offset, kept as published (docs/architecture.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# CAP dateTime: seconds required by the XSD, but QWeather and others omit them; fractions occur in NWS.
_ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)$")


class BadTime(ValueError):
    pass


def parse_time(value: str | None) -> datetime:
    """An aware datetime from an ISO 8601 string that carries its offset; BadTime (with a reason) otherwise."""
    if value is None or not isinstance(value, str) or not value.strip():
        raise BadTime("is empty; an ISO 8601 date-time with its UTC offset is required")
    text = value.strip()
    if not _ISO_WITH_OFFSET.match(text):
        raise BadTime(f"{text[:60]!r} is not an ISO 8601 date-time with a UTC offset (e.g. 2021-07-25T12:00:00+08:00)")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"{text[:60]!r} is not a valid date-time") from None


def to_utc(value: str) -> datetime:
    return parse_time(value).astimezone(UTC)
