"""Replaying recorded alerts as if they were published now (the demo's typhoon chain, `haven demo`).

Every CAP dateTime of a message (sent, effective, onset, expires) moves by the same offset, so by default
the first message is sent now and the chain keeps its shape. `sent_at` gives each message its own send
time instead (the demo's all-clear comes at the end of its story, not days ahead of the clock); a
reference then carries the new sent of the message it points to. Identifiers get a replay tag, so
replaying again starts a new chain instead of being deduplicated away.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from alerts.reading.times import parse_time

_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
_IDENTIFIER = re.compile(r"(<identifier>)([^<]+)(</identifier>)")
_REFERENCES = re.compile(r"(<references>)(.*?)(</references>)", re.S)
_SENT = re.compile(rb"<sent>([^<]+)</sent>")


def _shifted(text: str, offset: timedelta) -> str:
    return _CAP_TIME.sub(lambda m: (parse_time(m.group(0)) + offset).isoformat(), text)


def _whole_seconds(offset: timedelta) -> timedelta:
    return timedelta(seconds=round(offset.total_seconds()))


def replay(messages: list[bytes], now: datetime, tag: str, sent_at: list[datetime] | None = None) -> list[bytes]:
    """The messages re-stamped so the first is sent at `now` (or each at its `sent_at`); identifiers (and
    references to them) tagged."""
    originals = [parse_time(_SENT.search(raw).group(1).decode()) for raw in messages]
    if sent_at is None:
        common = _whole_seconds(now.astimezone(originals[0].tzinfo) - originals[0])
        offsets = [common] * len(messages)
    else:
        offsets = [_whole_seconds(at.astimezone(o.tzinfo) - o) for at, o in zip(sent_at, originals, strict=True)]
    offset_of_sent = {original: offset for original, offset in zip(originals, offsets, strict=True)}
    identifiers = [m.group(2) for raw in messages for m in _IDENTIFIER.finditer(raw.decode("utf-8"))]
    replayed = []
    for raw, own in zip(messages, offsets, strict=True):
        text = raw.decode("utf-8")
        parts, last = [], 0
        for refs in _REFERENCES.finditer(text):
            parts.append(_shifted(text[last:refs.start()], own))
            pointed = _CAP_TIME.sub(lambda m, own=own: (parse_time(m.group(0)) + offset_of_sent.get(
                parse_time(m.group(0)), own)).isoformat(), refs.group(2))
            parts.append(refs.group(1) + pointed + refs.group(3))
            last = refs.end()
        parts.append(_shifted(text[last:], own))
        text = "".join(parts)
        for identifier in identifiers:
            text = text.replace(f"{identifier}<", f"{identifier}-{tag}<").replace(f",{identifier},", f",{identifier}-{tag},")
        replayed.append(text.encode("utf-8"))
    return replayed
