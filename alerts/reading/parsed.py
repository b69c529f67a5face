"""What a parser returns (docs/architecture.md).

`ParsedAlert.alert` is exactly the normalized alert; everything Haven learns on the way
(flags, signature status, format) rides beside it, so the contract shape never grows surprise keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.reading.errors import MessageInvalid

SEVERITY_ORDER = {"Unknown": 0, "Minor": 1, "Moderate": 2, "Severe": 3, "Extreme": 4}


@dataclass
class ParsedAlert:
    alert: dict
    format: str  # cap, nws-geojson, qweather, typhoon-track
    flags: list[dict] = field(default_factory=list)
    signature: str = "unsigned"  # unsigned, verified, failed, unverifiable
    signature_detail: str | None = None
    ends_chain: bool = False  # a Cancel, or an Update that says it is over (see alerts.reading.cap.ends_chain)
    valid_until: str | None = None  # when the format states the hazard's end apart from `expires` (NWS `ends`)

    @property
    def max_severity(self) -> str | None:
        severities = [info.get("severity") for info in self.alert.get("infos", [])]
        known = [s for s in severities if s in SEVERITY_ORDER]
        if known:
            return max(known, key=SEVERITY_ORDER.__getitem__)
        return next((s for s in severities if s), None)


@dataclass
class ParsedMessage:
    """One document: alerts (CAP, NWS, QWeather, typhoon), or an index's entries; bad parts set aside."""

    format: str  # cap, nws-geojson, atom, rss, qweather, qweather-storm-list, typhoon-track
    alerts: list[ParsedAlert] = field(default_factory=list)
    entries: list[dict] | None = None
    rejected: list[MessageInvalid] = field(default_factory=list)  # invalid parts; the rest still goes through
    notes: list[dict] = field(default_factory=list)

    @property
    def is_index(self) -> bool:
        return self.entries is not None
