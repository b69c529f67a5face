"""SMS length rules: GSM-7 versus UCS-2 and how many segments a text costs.

A text that fits the GSM 03.38 alphabet travels as GSM-7: 160 septets in one segment, 153 per
segment once it is split (7 go to the concatenation header); the extension characters (€ [ ] { } ...)
cost two septets and an escape pair is never split. Anything else, Chinese included, travels as UCS-2:
70 UTF-16 units in one segment, 67 per segment when split, and a surrogate pair is never split.
(docs/architecture.md)
"""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec; its tables are the alphabet used here)

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}
_ESCAPE = 0x1B


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _alphabet() -> tuple[frozenset[str], frozenset[str]]:
    """The GSM 03.38 default alphabet and its extension table, read from the gsm0338 codec once."""
    from gsm0338.charset import BASIC_CHARACTER_SET_EXTENSION

    basic = frozenset(bytes([code]).decode("gsm03.38") for code in range(128) if code != _ESCAPE)
    extension = frozenset(bytes([_ESCAPE, code]).decode("gsm03.38") for code in BASIC_CHARACTER_SET_EXTENSION)
    return basic, extension


_BASIC, _EXTENSION = _alphabet()


def _gsm7_units(text: str) -> list[int] | None:
    """Septets per character, or None when the text is not pure GSM-7."""
    units = []
    for character in text:
        if character in _BASIC:
            units.append(1)
        elif character in _EXTENSION:
            units.append(2)  # escape + character
        else:
            return None
    return units


def _ucs2_units(text: str) -> list[int]:
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(units: list[int], per_segment: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle two segments."""
    segments, used = 1, 0
    for width in units:
        if used + width > per_segment:
            segments, used = segments + 1, 0
        used += width
    return segments


def sms_size(text: str) -> SmsSize:
    units = _gsm7_units(text)
    encoding = GSM7
    if units is None:
        units, encoding = _ucs2_units(text), UCS2
    single, multi = _LIMITS[encoding]
    total = sum(units)
    segments = 1 if total <= single else _pack(units, multi)
    return SmsSize(encoding, total, segments)


def is_gsm7(text: str) -> bool:
    return _gsm7_units(text) is not None
