"""One entry point for every incoming format: `parse_message(raw, content_type)` (issue 3, Interfaces).

Detects CAP XML, a CAP ATOM/RSS index, NWS GeoJSON, QWeather Weather Alert v1 answers, QWeather v7
warning or storm-list JSON and typhoon track JSON, and returns a ParsedMessage: normalized alerts (docs/architecture.md), or an index's entries, plus the
parts set aside as invalid. A document that cannot be read at all raises MessageInvalid(path, reason).
Pure: no database, no network, no settings read unless max_bytes is left out.
"""

from __future__ import annotations

import json

from alerts import rules
from alerts.reading.atom_index import is_index, parse_index
from alerts.reading.cap import parse_cap_element, require_cap_root
from alerts.reading.errors import MessageInvalid
from alerts.reading.nws import looks_like_nws, parse_nws
from alerts.reading.parsed import ParsedMessage
from alerts.reading.qweather import (
    looks_like_storm_list,
    looks_like_warning_list,
    parse_storm_list,
    parse_warning_list,
)
from alerts.reading.qweather_v1 import (
    error_answer,
    looks_like_alert_answer,
    looks_like_error_answer,
    parse_alert_answer,
)
from alerts.reading.typhoon import looks_like_track, parse_track
from alerts.reading.xmlsafe import check_size, parse_xml

_BLANK = b" \t\r\n"


def _default_max_bytes() -> int:
    return rules.current().reading.max_body_bytes


def parse_message(raw: bytes, content_type: str | None = None, *, admin_code: str | None = None,
                  area_desc: str | None = None, storm_id: str | None = None, storm_name: str | None = None,
                  max_bytes: int | None = None, admin_codes: list[str] | None = None,
                  language: str | None = None) -> ParsedMessage:
    """Detect the format and parse; MessageInvalid carries the path and the reason.

    admin_code / area_desc: where a QWeather warning applies (the polled location); storm_id / storm_name:
    the typhoon a track belongs to. admin_codes / language: the counties of the points whose QWeather v1
    answers carried the warnings, and the `lang` they were asked in. content_type is only a hint: the bytes
    decide.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    check_size(raw, max_bytes or _default_max_bytes())
    start = raw.lstrip(b"\xef\xbb\xbf").lstrip(_BLANK)[:1]
    if start in (b"{", b"["):
        codes = list(admin_codes or []) or ([admin_code] if admin_code else [])
        return _parse_json(raw, codes, area_desc, storm_id, storm_name, language)
    if start == b"<" or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _parse_xml(raw, max_bytes)
    kind = f" (Content-Type {content_type})" if content_type else ""
    raise MessageInvalid("/", f"neither XML nor JSON{kind}: cannot be a CAP, GeoJSON or warning message")


def _parse_xml(raw: bytes, max_bytes: int | None) -> ParsedMessage:
    document = parse_xml(raw, max_bytes or _default_max_bytes())
    if is_index(document.root):
        return parse_index(document)
    require_cap_root(document.root)
    return ParsedMessage("cap", alerts=[parse_cap_element(document.root, document)], notes=document.notes)


def _parse_json(raw: bytes, admin_codes, area_desc, storm_id, storm_name, language) -> ParsedMessage:
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MessageInvalid("/", f"not valid JSON: {exc}") from None
    if looks_like_nws(document):
        return parse_nws(document)
    if looks_like_warning_list(document):
        return parse_warning_list(document, admin_codes[0] if admin_codes else None, area_desc)
    if looks_like_alert_answer(document):
        return parse_alert_answer(document, admin_codes, area_desc, language)
    if looks_like_error_answer(document):
        raise error_answer(document)
    if looks_like_track(document):
        return parse_track(document, storm_id, storm_name)
    if looks_like_storm_list(document):
        return parse_storm_list(document)
    if isinstance(document, dict) and document.get("type") in ("FeatureCollection", "Feature"):
        raise MessageInvalid("/", "GeoJSON that is not an NWS alert collection (features have no alert "
                                  "properties such as messageType): not a supported alert format")
    raise MessageInvalid("/", "JSON that is neither NWS alert GeoJSON, a QWeather warning list or Weather "
                              "Alert v1 answer, a storm list nor a typhoon track")
