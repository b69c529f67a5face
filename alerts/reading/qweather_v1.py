"""QWeather Weather Alert API v1 answers (`GET /weatheralert/v1/current/{lat}/{lon}`) to normalized alerts.

An answer is `{"metadata": {"tag", "zeroResult", "attributions"}, "alerts": [...]}`, one entry per
warning in force at the polled coordinate. The provider states that any field may be null and that codes
and values change without notice, so nothing but the id and a time is required: an unknown value is kept
in a flag and never fails the message.

- Identity: `senderName` is the sender (the issuing office), `id` the identifier, `issuedTime` the sent
  time. `messageType.code` alert/update/cancel gives msg_type; `messageType.supersedes` names the replaced
  ids, with the same sender and no sent time (the provider gives none; chains match on sender and id).
- A cancel expires one hour after it is issued (provider documentation).
- Severity: the stated `severity` wins where it is a CAP value; otherwise the colour decides
  (blue Minor, yellow Moderate, orange Severe, red Extreme); otherwise Unknown.
- Language: the request's `lang` when the caller knows it, else detected from the text.
- Area: warnings carry no geometry. The area is the counties (six-digit administrative codes, geocode
  CN-ADCODE, resolved by the gazetteer) of the points whose answers carried the warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedAlert, ParsedMessage
from alerts.reading.qweather import CAP_CERTAINTY, CAP_SEVERITY, CAP_URGENCY, COLOUR_SEVERITY
from alerts.reading.times import BadTime, parse_time
from store.models.alerts import AlertStatus, MsgType

FORMAT = "qweather-v1"
FALLBACK_SENDER = "qweather.com"
ADMIN_CODE_SCHEME = "CN-ADCODE"
MESSAGE_TYPES = {"alert": MsgType.ALERT, "update": MsgType.UPDATE, "cancel": MsgType.CANCEL}
CANCEL_LIFETIME = timedelta(hours=1)
REQUEST_LANGUAGES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-cn": "zh-CN", "zh-hant": "zh-TW", "en": "en"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_TIME_FIELDS = ("issuedTime", "effectiveTime", "onsetTime", "expireTime")


def looks_like_alert_answer(document: object) -> bool:
    return (isinstance(document, dict) and isinstance(document.get("alerts"), list)
            and (isinstance(document.get("metadata"), dict) or "warning" not in document))


def looks_like_error_answer(document: object) -> bool:
    """The provider's v2 error body: {"error": {"status", "type", "title", "detail", "invalidParams"}}."""
    return isinstance(document, dict) and isinstance(document.get("error"), dict) and "title" in document["error"]


def language_of(request_lang: str | None) -> str | None:
    if not request_lang:
        return None
    return REQUEST_LANGUAGES.get(request_lang.strip().lower(), request_lang.strip())


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _cap_value(value: object, allowed: tuple[str, ...]) -> str | None:
    text = (_text(value) or "").lower()
    return next((candidate for candidate in allowed if candidate.lower() == text), None)


def _enum(entry: dict, key: str, allowed: tuple[str, ...], flags: list[dict], path: str) -> str:
    stated = _cap_value(entry.get(key), allowed)
    if stated is None and _text(entry.get(key)):
        flags.append({"code": "unknown-provider-value", "path": f"{path}/{key}",
                      "detail": f"{key} {entry.get(key)!r} is not a CAP value; kept, read as Unknown"})
    return stated or "Unknown"


def _colour(entry: dict) -> str | None:
    colour = entry.get("color")
    return _text(colour.get("code")) if isinstance(colour, dict) else _text(colour)


def _severity(entry: dict, flags: list[dict], path: str) -> str:
    stated = _cap_value(entry.get("severity"), CAP_SEVERITY)
    if stated and stated != "Unknown":
        return stated
    if _text(entry.get("severity")) and not stated:
        flags.append({"code": "unknown-provider-value", "path": f"{path}/severity",
                      "detail": f"severity {entry.get('severity')!r} is not a CAP value; kept, colour decides"})
    colour = _colour(entry)
    mapped = COLOUR_SEVERITY.get((colour or "").lower())
    if colour and not mapped:
        flags.append({"code": "unknown-provider-value", "path": f"{path}/color/code",
                      "detail": f"colour {colour!r} has no CAP severity; kept, severity Unknown"})
    return mapped or "Unknown"


def _message_type(entry: dict, flags: list[dict], path: str) -> tuple[str, list[str]]:
    message_type = entry.get("messageType")
    if not isinstance(message_type, dict):  # a bare code, should the provider flatten it
        message_type = {"code": message_type} if isinstance(message_type, str) else {}
    code = (_text(message_type.get("code")) or "alert").lower()
    if code not in MESSAGE_TYPES:
        flags.append({"code": "unknown-provider-value", "path": f"{path}/messageType/code",
                      "detail": f"message type {code!r} is not alert, update or cancel; read as alert"})
    supersedes = message_type.get("supersedes")
    replaced = [str(s).strip() for s in supersedes if _text(s)] if isinstance(supersedes, list) else []
    return MESSAGE_TYPES.get(code, MsgType.ALERT), replaced


def _problems(entry: dict, path: str) -> list[Problem]:
    problems = [] if _text(entry.get("id")) else [Problem(f"{path}/id", "is required")]
    for key in _TIME_FIELDS:
        if entry.get(key) is not None:
            try:
                parse_time(entry[key])
            except BadTime as exc:
                problems.append(Problem(f"{path}/{key}", str(exc)))
    if not any(entry.get(key) for key in ("issuedTime", "effectiveTime")):
        problems.append(Problem(f"{path}/issuedTime", "is required (or effectiveTime): the warning needs a time"))
    return problems


def parse_alert_entry(entry: dict, path: str, admin_codes: Iterable[str] = (), area_desc: str | None = None,
                      language: str | None = None) -> ParsedAlert:
    if not isinstance(entry, dict):
        raise MessageInvalid(path, "an alert must be a JSON object")
    problems = _problems(entry, path)
    if problems:
        raise MessageInvalid(problems)
    flags: list[dict] = []
    sender = _text(entry.get("senderName"))
    if sender is None:
        sender = FALLBACK_SENDER
        flags.append({"code": "sender-unknown", "path": f"{path}/senderName",
                      "detail": f"senderName is null: {FALLBACK_SENDER} stands in as the sender"})
    sent = _text(entry.get("issuedTime")) or _text(entry.get("effectiveTime"))
    if not _text(entry.get("issuedTime")):
        flags.append({"code": "sent-from-effective", "path": f"{path}/issuedTime",
                      "detail": "issuedTime is null: effectiveTime stands in as the sent time"})
    msg_type, replaced = _message_type(entry, flags, path)
    expires = _text(entry.get("expireTime"))
    if msg_type == MsgType.CANCEL:
        expires = (parse_time(sent) + CANCEL_LIFETIME).isoformat(timespec="minutes")
    event_type = entry.get("eventType") if isinstance(entry.get("eventType"), dict) else {}
    headline, description = _text(entry.get("headline")), _text(entry.get("description"))
    detected = "zh-CN" if _CJK.search(" ".join(filter(None, (headline, description, _text(event_type.get("name"))))))\
        else "en"
    codes = list(dict.fromkeys(code for code in admin_codes if code))
    area = {"desc": area_desc or sender, "polygons": [], "circles": [],
            "geocodes": [{"name": ADMIN_CODE_SCHEME, "value": code} for code in codes]}
    info = {
        "language": language or detected,
        "event": _text(event_type.get("name")),
        "categories": ["Met"],
        "urgency": _enum(entry, "urgency", CAP_URGENCY, flags, path),
        "severity": _severity(entry, flags, path),
        "certainty": _enum(entry, "certainty", CAP_CERTAINTY, flags, path),
        "effective": _text(entry.get("effectiveTime")) or sent,
        "onset": _text(entry.get("onsetTime")),
        "expires": expires,
        "headline": headline,
        "description": description,
        "instruction": _text(entry.get("instruction")),
        "areas": [area],
    }
    provider = {"eventType": event_type.get("code"), "color": _colour(entry), "criteria": entry.get("criteria"),
                "responseTypes": entry.get("responseTypes"), "latestChange": entry.get("latestChange"),
                "severity": entry.get("severity")}
    flags.append({"code": "provider-values", "path": path,
                  "detail": {k: v for k, v in provider.items() if v not in (None, [], "")}})
    if not codes:
        flags.append({"code": "area-unlocated", "path": path,
                      "detail": "QWeather warnings have no geometry; poll them by point (feed kind qweather-v1) "
                                "or give the county's CN-ADCODE, so the warning can be matched"})
    alert = {"sender": sender, "identifier": _text(entry.get("id")), "sent": sent, "status": AlertStatus.ACTUAL,
             "msg_type": msg_type, "scope": "Public",
             "references": [{"sender": sender, "identifier": r, "sent": None} for r in replaced],
             "infos": [info]}
    return ParsedAlert(alert, FORMAT, flags=flags, ends_chain=msg_type == MsgType.CANCEL)


def parse_alert_answer(document: dict, admin_codes: Iterable[str] = (), area_desc: str | None = None,
                       language: str | None = None) -> ParsedMessage:
    """One answer -> one ParsedAlert per entry; a bad entry is set aside, the others go through."""
    codes = list(admin_codes)
    message = ParsedMessage(FORMAT)
    for index, entry in enumerate(document["alerts"], 1):
        try:
            message.alerts.append(parse_alert_entry(entry, f"/alerts[{index}]", codes, area_desc, language))
        except MessageInvalid as exc:
            message.rejected.append(exc)
    return message


def error_answer(document: dict) -> MessageInvalid:
    error = document["error"]
    params = error.get("invalidParams")
    detail = f" (invalid: {', '.join(map(str, params))})" if isinstance(params, list) and params else ""
    return MessageInvalid("/error", f"provider answered an error: {error.get('status') or error.get('code') or ''} "
                                    f"{error.get('title') or ''}: {error.get('detail') or ''}{detail}".strip())
