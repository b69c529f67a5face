"""Replaying recorded alerts as if they were published now (the demo's typhoon chain, `haven demo`).

Every CAP dateTime (sent, effective, onset, expires, and the sent of each reference) moves by the same
offset, so the first message is sent now and the chain keeps its shape. Identifiers get a replay tag,
so replaying again starts a new chain instead of being deduplicated away.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from alerts.reading.times import parse_time

_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
_IDENTIFIER = re.compile(r"(<identifier>)([^<]+)(</identifier>)")


def _shift(match: re.Match, offset: timedelta) -> str:
    original = parse_time(match.group(0))
    return (original + offset).isoformat()


def replay(messages: list[bytes], now: datetime, tag: str) -> list[bytes]:
    """The messages re-stamped so the first is sent at `now`; identifiers (and references to them) tagged."""
    first_sent = re.search(rb"<sent>([^<]+)</sent>", messages[0])
    offset = now.astimezone(parse_time(first_sent.group(1).decode()).tzinfo) - parse_time(first_sent.group(1).decode())
    offset = timedelta(seconds=round(offset.total_seconds()))
    identifiers = [m.group(2) for raw in messages for m in _IDENTIFIER.finditer(raw.decode("utf-8"))]
    replayed = []
    for raw in messages:
        text = _CAP_TIME.sub(lambda m: _shift(m, offset), raw.decode("utf-8"))
        for identifier in identifiers:
            text = text.replace(f"{identifier}<", f"{identifier}-{tag}<").replace(f",{identifier},", f",{identifier}-{tag},")
        replayed.append(text.encode("utf-8"))
    return replayed
