"""Chinese commercial warning JSON (QWeather `/v7/warning/now`, `/v7/tropical/storm-list`) to normalized alerts.

QWeather ended the `/v7/warning/now` service on 2026-10-01 (its deprecation page: "Weather Alerts
`/v7/warning/now`, end of service 2026-10-01"). This parser stays to replay recorded answers; live
warnings come from the Weather Alert API v1 (alerts.qweather_v1, polled by point in alerts.qweather_points).

Warnings carry no geometry: the area is the location that was polled, named by its 6-digit
administrative division code (geocode "CN-ADCODE", resolved by geo's gazetteer) when the feed knows it.
Colours map to CAP severity: blue→Minor, yellow→Moderate, orange→Severe, red→Extreme. The provider warns
that levels, types and colours change: an unknown value never fails a message; it is kept in a flag and
the severity says Unknown.

Update/cancel (provider docs, warning-info.md): older answers say `status` active/update/cancel and name
the replaced warning in `related`; newer ones carry `messageType.code` alert/update/cancel and
`messageType.supersedes` (ids replaced). Both become msg_type + references (sent unknown: None), and a
cancel expires one hour after it is published.
"""

from __future__ import annotations

import re
from datetime import timedelta

from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedAlert, ParsedMessage
from alerts.reading.times import BadTime, parse_time
from store.models.alerts import AlertStatus, MsgType

SENDER = "qweather.com"
COLOUR_SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
CAP_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CAP_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
CAP_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
MESSAGE_TYPES = {"alert": MsgType.ALERT, "active": MsgType.ALERT, "update": MsgType.UPDATE, "cancel": MsgType.CANCEL}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def looks_like_warning_list(document: object) -> bool:
    return isinstance(document, dict) and isinstance(document.get("warning"), list)


def looks_like_storm_list(document: object) -> bool:
    return isinstance(document, dict) and isinstance(document.get("storm"), list)


def _cap_value(value: str | None, allowed: tuple[str, ...]) -> str | None:
    text = (value or "").strip()
    for candidate in allowed:
        if candidate.lower() == text.lower():
            return candidate
    return None


def _severity(warning: dict, flags: list[dict], path: str) -> str:
    colour = warning.get("severityColor")
    if colour is None:  # newer answers: "color": {"code": "blue", ...}
        colour = warning.get("color").get("code") if isinstance(warning.get("color"), dict) else warning.get("color")
    stated = _cap_value(warning.get("severity"), CAP_SEVERITY)
    mapped = COLOUR_SEVERITY.get(str(colour or "").strip().lower())
    if colour and not mapped:
        flags.append({"code": "unknown-provider-value", "path": f"{path}/severityColor",
                      "detail": f"colour {colour!r} has no CAP severity mapping; kept, severity from 'severity'"})
    if warning.get("severity") and not stated:
        flags.append({"code": "unknown-provider-value", "path": f"{path}/severity",
                      "detail": f"severity {warning.get('severity')!r} is not a CAP value; kept"})
    return mapped or stated or "Unknown"


def _message_type(warning: dict) -> tuple[str, list[str]]:
    message_type = warning.get("messageType")
    if isinstance(message_type, dict):
        code = str(message_type.get("code") or "alert").lower()
        supersedes = message_type.get("supersedes") or []
        return MESSAGE_TYPES.get(code, MsgType.ALERT), [str(s) for s in supersedes]
    code = str(warning.get("status") or "active").lower()
    related = str(warning.get("related") or "").strip()
    return MESSAGE_TYPES.get(code, MsgType.ALERT), [related] if related else []


def parse_warning(warning: dict, path: str, admin_code: str | None, area_desc: str | None) -> ParsedAlert:
    if not isinstance(warning, dict):
        raise MessageInvalid(path, "a warning must be a JSON object")
    problems = [Problem(f"{path}/{key}", "is required") for key in ("id", "pubTime") if not warning.get(key)]
    for key in ("pubTime", "startTime", "endTime"):
        if warning.get(key):
            try:
                parse_time(warning[key])
            except BadTime as exc:
                problems.append(Problem(f"{path}/{key}", str(exc)))
    if problems:
        raise MessageInvalid(problems)
    flags: list[dict] = []
    msg_type, replaced = _message_type(warning)
    expires = warning.get("endTime") or None
    if msg_type == MsgType.CANCEL:
        expires = (parse_time(warning["pubTime"]) + timedelta(hours=1)).isoformat(timespec="minutes")
    text = " ".join(str(warning.get(k) or "") for k in ("title", "text", "typeName"))
    area = {"desc": area_desc or warning.get("sender"), "polygons": [], "circles": [],
            "geocodes": [{"name": "CN-ADCODE", "value": admin_code}] if admin_code else []}
    info = {
        "language": "zh-CN" if _CJK.search(text) else "en",
        "event": warning.get("typeName") or warning.get("type"),
        "categories": ["Met"],
        "urgency": _cap_value(warning.get("urgency"), CAP_URGENCY) or "Unknown",
        "severity": _severity(warning, flags, path),
        "certainty": _cap_value(warning.get("certainty"), CAP_CERTAINTY) or "Unknown",
        "effective": warning.get("startTime") or warning["pubTime"],
        "onset": warning.get("startTime") or None,
        "expires": expires,
        "headline": warning.get("title") or None,
        "description": warning.get("text") or None,
        "instruction": None,
        "areas": [area],
    }
    provider = {k: warning.get(k) for k in ("sender", "level", "type", "typeName", "severityColor", "status")
                if warning.get(k)}
    flags.append({"code": "provider-values", "path": path, "detail": provider})
    if not admin_code:
        flags.append({"code": "area-unlocated", "path": path,
                      "detail": "QWeather warnings have no geometry; set the feed's admin_code (CN-ADCODE) "
                                "so the polled location can be matched"})
    alert = {"sender": SENDER, "identifier": str(warning["id"]), "sent": warning["pubTime"], "status": AlertStatus.ACTUAL,
             "msg_type": msg_type, "scope": "Public",
             "references": [{"sender": SENDER, "identifier": r, "sent": None} for r in replaced],
             "infos": [info]}
    return ParsedAlert(alert, "qweather", flags=flags, ends_chain=msg_type == MsgType.CANCEL)


def parse_warning_list(document: dict, admin_code: str | None = None, area_desc: str | None = None) -> ParsedMessage:
    if str(document.get("code", "200")) != "200":
        raise MessageInvalid("/code", f"provider answered code {document.get('code')!r}, not 200")
    message = ParsedMessage("qweather")
    for index, warning in enumerate(document["warning"], 1):
        try:
            message.alerts.append(parse_warning(warning, f"/warning[{index}]", admin_code, area_desc))
        except MessageInvalid as exc:
            message.rejected.append(exc)
    return message


def parse_storm_list(document: dict) -> ParsedMessage:
    entries = [{"id": s.get("id"), "path": f"/storm[{i}]", "title": s.get("name"), "basin": s.get("basin"),
                "year": s.get("year"), "active": str(s.get("isActive")) == "1"}
               for i, s in enumerate(document["storm"], 1) if isinstance(s, dict)]
    return ParsedMessage("qweather-storm-list", entries=entries)
