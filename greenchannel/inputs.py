"""Field types for green-channel requests: pydantic annotated types with the refusals people read.

Each validator raises ValueError with what is wrong ("must be true or false"); the caller turns a
pydantic ValidationError into one refusal naming the field (`refusal`). Money is store.money.Amount,
the one reading of an amount everywhere. Request bodies are read with JSON numbers as Decimal, so
numbers arrive here as int or Decimal, never as binary floats.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from greenchannel.errors import Malformed

TEXT_MAX = 4000


def _text(max_length: int, required: bool):
    def check(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValueError("is required")
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip()
        if len(value) > max_length:
            raise ValueError(f"is longer than {max_length} characters")
        return value

    return BeforeValidator(check)


def Text(max_length: int = TEXT_MAX):  # used as a type: `note: Text() = None`
    """Optional text, stripped; blank means absent."""
    return Annotated[str | None, _text(max_length, False),
                     WithJsonSchema({"anyOf": [{"type": "string", "maxLength": max_length}, {"type": "null"}]})]


def RequiredText(max_length: int = TEXT_MAX):
    return Annotated[str, _text(max_length, True), WithJsonSchema({"type": "string", "minLength": 1,
                                                                    "maxLength": max_length})]


def _flag(value):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]


def _whole(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


def _bounds(minimum: int | None, maximum: int | None):
    # The validators check the bounds (with their own words); this only tells the JSON Schema.
    extra = {key: value for key, value in (("minimum", minimum), ("maximum", maximum)) if value is not None}
    return WithJsonSchema({"type": "integer", **extra})


INT32_MAX = 2_147_483_647  # every whole number a request carries lands in an INTEGER column


def Whole(minimum: int | None = None, maximum: int | None = None):
    """An integer (JSON integer only: not true, not 2.0, not "2") within [minimum, maximum]."""
    maximum = INT32_MAX if maximum is None else maximum

    def bounded(value):
        if value is not None and ((minimum is not None and value < minimum)
                                  or (maximum is not None and value > maximum)):
            raise ValueError(f"must be between {minimum} and {maximum}")
        return value

    return Annotated[int, BeforeValidator(bounded), BeforeValidator(_whole), _bounds(minimum, maximum)]


def QueryWhole(minimum: int, maximum: int):
    """An integer from a query string: ASCII digits only (int() would also take "¹" or "٣")."""

    def check(value):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value):
            number = int(value)
        else:
            number = None
        if number is None or not minimum <= number <= maximum:
            raise ValueError(f"must be a whole number from {minimum} to {maximum}, got {str(value)[:40]!r}")
        return number

    return Annotated[int, BeforeValidator(check), _bounds(minimum, maximum)]


def _timestamp(value):
    """ISO 8601 with an offset (e.g. 2021-07-25T12:30:00+08:00); a time without one is ambiguous."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"is not an ISO 8601 time: {value[:60]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError(f"needs a UTC offset, e.g. {value[:40]}+08:00")
    elif value is None:
        raise ValueError("is required")
    else:
        raise ValueError("must be an ISO 8601 string")
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset")
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def _coordinate(low: float, high: float):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError("must be a number")
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return BeforeValidator(check)


class Location(BaseModel):
    """WGS-84 [lon, lat], as everywhere in this codebase; also taken as {"lon": .., "lat": ..}."""

    model_config = ConfigDict(extra="ignore")

    lon: Annotated[float, _coordinate(-180, 180), WithJsonSchema({"type": "number", "minimum": -180, "maximum": 180})]
    lat: Annotated[float, _coordinate(-90, 90), WithJsonSchema({"type": "number", "minimum": -90, "maximum": 90})]

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any):
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"lon": value[0], "lat": value[1]}
        if isinstance(value, dict):
            return {"lon": value.get("lon"), "lat": value.get("lat")}
        if isinstance(value, Location):
            return value
        raise ValueError('must be {"lon": .., "lat": ..} or [lon, lat]')


_LEVEL = re.compile(r"^L?([1-6])$", re.IGNORECASE)


def _flood_level(value):
    """L1..L6 (or 1..6): the vehicle flood depth scale; L4 and above is a presumptive total loss."""
    if value is None:
        return None
    match = _LEVEL.match(str(value).strip()) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if not match:
        raise ValueError("must be one of L1 to L6")
    return int(match.group(1))


FloodLevel = Annotated[int | None, BeforeValidator(_flood_level), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": "^[Ll]?[1-6]$"}, {"type": "integer", "minimum": 1, "maximum": 6},
              {"type": "null"}],
    "description": "L1..L6 (or 1..6); L4 and above is a presumptive total loss"})]


def _identifier(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required")
    value = value.strip()
    if len(value) > 200 or not re.fullmatch(r"[\x21-\x7e]+", value):
        raise ValueError("must be 1 to 200 printable ASCII characters without spaces")
    return value


# An opaque client-chosen key (Idempotency-Key): printable ASCII, no spaces.
ClientKey = Annotated[str, BeforeValidator(_identifier)]


def _int_list(value):
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError("must be a list of integers")
    return value


IdList = Annotated[list[int] | None, BeforeValidator(_int_list)]


def _str_list(value):
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return value


NameList = Annotated[list[str] | None, BeforeValidator(_str_list)]


def _non_empty(value):
    if value is not None and not value:
        raise ValueError("must not be empty")
    return value


def NonEmpty(inner):
    return Annotated[inner, AfterValidator(_non_empty)]


def refusal(exc: ValidationError) -> Malformed:
    """The first problem of a ValidationError as one refusal naming the field (dotted, e.g. location.lon)."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    if kind == "missing":
        reason = "is required"
    elif kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
    elif kind == "extra_forbidden":
        reason = "is not a field of this request"
    elif kind == "enum":
        reason = f"must be one of {error['ctx']['expected']}".replace("'", "")
    else:
        reason = error["msg"][0].lower() + error["msg"][1:]
    return Malformed(f"{field} {reason}" if field else reason, field)


def parse(model: type[BaseModel], data: Any) -> BaseModel:
    """`model` from plain data, or Malformed naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc) from None
