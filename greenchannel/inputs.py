"""Parsing request fields into typed values, with an error that names the field.

Shared by the HTTP layer and the demo, so a value means the same thing wherever it comes from.
Money is read by store.money.parse_amount, the one reading of an amount everywhere.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal

from greenchannel.errors import Malformed
from store.money import AmountError, parse_amount


def text(value, field: str, *, max_length: int = 4000, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Malformed(f"{field} is required", field)
        return None
    if not isinstance(value, str):
        raise Malformed(f"{field} must be a string", field)
    value = value.strip()
    if len(value) > max_length:
        raise Malformed(f"{field} is longer than {max_length} characters", field)
    return value


def flag(value, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Malformed(f"{field} must be true or false", field)
    return value


def integer(value, field: str, *, minimum: int | None = None, maximum: int | None = None,
            required: bool = False) -> int | None:
    if value is None:
        if required:
            raise Malformed(f"{field} is required", field)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{field} must be an integer", field)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise Malformed(f"{field} must be between {minimum} and {maximum}", field)
    return value


def timestamp(value, field: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 with an offset (e.g. 2021-07-25T12:30:00+08:00); a time without one is ambiguous."""
    if value is None:
        if required:
            raise Malformed(f"{field} is required", field)
        return None
    if not isinstance(value, str):
        raise Malformed(f"{field} must be an ISO 8601 string", field)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{field} is not an ISO 8601 time: {value!r}", field) from None
    if parsed.tzinfo is None:
        raise Malformed(f"{field} needs a UTC offset, e.g. {value}+08:00", field)
    return parsed


def money(value, field: str, *, required: bool = True) -> Decimal | None:
    """A positive CNY amount (store.money: ASCII digits, at most two decimals, bounded)."""
    if value is None:
        if required:
            raise Malformed(f"{field} is required", field)
        return None
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise Malformed(f"{field} {exc}", field) from None


def coordinate(value, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Malformed(f"{field} must be a number", field)
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise Malformed(f"{field} must be between {low} and {high}", field)
    return number


def point(lon, lat, field: str = "location") -> tuple[float, float]:
    """WGS-84 [lon, lat], as everywhere in this codebase."""
    return coordinate(lon, f"{field}.lon", -180, 180), coordinate(lat, f"{field}.lat", -90, 90)


_LEVEL = re.compile(r"^L?([1-6])$", re.IGNORECASE)


def flood_level(value, field: str = "flood_depth_level") -> int | None:
    """L1..L6 (or 1..6): the vehicle flood depth scale; L4 and above is a presumptive total loss."""
    if value is None:
        return None
    match = _LEVEL.match(str(value).strip()) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if not match:
        raise Malformed(f"{field} must be one of L1 to L6", field)
    return int(match.group(1))


def identifier(value, field: str, *, max_length: int = 200) -> str:
    """An opaque client-chosen key (Idempotency-Key): printable ASCII, no spaces."""
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{field} is required", field)
    value = value.strip()
    if len(value) > max_length or not re.fullmatch(r"[\x21-\x7e]+", value):
        raise Malformed(f"{field} must be 1 to {max_length} printable ASCII characters without spaces", field)
    return value
