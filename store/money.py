"""Amounts of money as they enter Haven: one strict reading for the API, the imports and the demo.

An amount is CNY written with ASCII digits and at most two decimals ("1000", "1000.5", "1000.50"),
no sign, no exponent, no spaces or digit separators, and at most MAX_AMOUNT. A JSON number is taken
when its value is exactly such an amount: the API reads JSON numbers as Decimal, never as binary
floats, so 50000.10 in a body means 50000.10.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

MAX_AMOUNT = Decimal("99999999999.99")  # just under 100 billion CNY: larger is a typo, not a loss
CENT = Decimal("0.01")
_WRITTEN = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")


class AmountError(ValueError):
    """Why a value is not an amount; the caller names the field."""


def parse_amount(value, *, allow_zero: bool = False) -> Decimal:
    """The amount as a Decimal with two places, or AmountError saying what is wrong with it."""
    if isinstance(value, bool) or value is None:
        raise AmountError('must be an amount such as "5000.00"')
    if isinstance(value, float):
        raise AmountError('must be a decimal string such as "5000.00", never a binary float')
    if isinstance(value, str):
        if len(value) > 40 and _WRITTEN.fullmatch(value):
            raise AmountError(f"must be at most {MAX_AMOUNT:,} CNY")
        if not _WRITTEN.fullmatch(value):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise AmountError(f'must be written with digits 0-9 and at most two decimals, e.g. "5000.00"; '
                              f"got {shown!r}")
        amount = Decimal(value)
    elif isinstance(value, int | Decimal):
        amount = Decimal(value)
    else:
        raise AmountError('must be an amount such as "5000.00"')
    if not amount.is_finite():
        raise AmountError("must be a finite amount")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise AmountError("must be a positive amount" if not allow_zero else "must not be negative")
    if amount > MAX_AMOUNT:
        raise AmountError(f"must be at most {MAX_AMOUNT:,} CNY")
    cents = amount.quantize(CENT)  # safe: the amount is bounded, so this never exceeds the precision
    if cents != amount:
        raise AmountError("has more than two decimal places")
    return cents


def format_amount(amount: Decimal) -> str:
    """For messages people read: 50,000.00 CNY."""
    return f"{amount:,.2f} CNY"


def _amount_field(value) -> Decimal:
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise ValueError(str(exc)) from None


# parse_amount as a pydantic field type: request models read every amount the same way, and their
# JSON Schema tells clients to send a decimal string.
Amount = Annotated[Decimal, BeforeValidator(_amount_field), WithJsonSchema({
    "type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "examples": ["5000.00"],
    "description": f"CNY, at most two decimals, at most {MAX_AMOUNT} (a JSON number of exactly such a value is taken too)"})]
