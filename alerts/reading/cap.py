"""CAP 1.1 / 1.2 (OASIS) to the normalized alert, with validation (docs/architecture.md: the normalized alert).

The version is read from the namespace URN, never from a prefix. Validation is the OASIS XSD (shipped in
alerts/reading/schemas/) plus the rules the XSD cannot express: dateTime offsets, references on Update/Cancel,
polygon and circle syntax, coordinate ranges, circle radii up to geo.limits.MAX_CIRCLE_RADIUS_KM,
identifier characters. Problems name their element: `/alert/info[1]/area[2]/polygon: <reason>`.

An empty `<polygon/>` (common in NWS zone alerts) is skipped with an `empty-polygon` flag; the area is
then its circles and geocodes, and an area left with none of those is refused.

`parse_message` (the entry point for every format) lives in alerts.messages and is re-exported here.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path

import numpy as np
from lxml import etree

from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedAlert, ParsedMessage
from alerts.reading.sanity import country_hints, swap_flag
from alerts.reading.signature import DS_NS, check_signature
from alerts.reading.times import BadTime, parse_time
from alerts.reading.xmlsafe import XmlDocument, element_path, local_name, namespace_of, parse_xml, text_of
from geo.limits import MAX_CIRCLE_RADIUS_KM
from store.models.alerts import AlertStatus, MsgType

CAP_VERSIONS = {
    "urn:oasis:names:tc:emergency:cap:1.2": "1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
}
SCHEMAS = Path(__file__).resolve().parent / "schemas"
DEFAULT_LANGUAGE = "en-US"  # CAP: a missing <language> means en-US

STATUS = tuple(AlertStatus)
MSG_TYPES = tuple(MsgType)
SCOPES = ("Public", "Restricted", "Private")
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown", "Very Likely")  # "Very Likely": CAP 1.0/1.1

_NUMBER = r"[-]?\d+(?:\.\d+)?"
_PAIR = re.compile(rf"^({_NUMBER}),({_NUMBER})$")
_POLYGON = re.compile(rf"\s*{_NUMBER},{_NUMBER}(?:\s+{_NUMBER},{_NUMBER})*\s*")
_SEPARATORS = re.compile(r"[,\s]+")
_CIRCLE = re.compile(rf"^({_NUMBER}),({_NUMBER})\s+(\S+)$")
_RADIUS = re.compile(r"^\d+(?:\.\d+)?$")
_FORBIDDEN_ID_CHARS = re.compile(r"[\s,<&]")


def is_cap(element: etree._Element) -> bool:
    return local_name(element) == "alert" and namespace_of(element) in CAP_VERSIONS


def parse_cap_document(raw: bytes, max_bytes: int | None = None) -> ParsedMessage:
    document = parse_xml(raw, max_bytes)
    return ParsedMessage("cap", alerts=[parse_cap_element(document.root, document)], notes=document.notes)


def require_cap_root(root: etree._Element) -> None:
    if local_name(root) != "alert":
        raise MessageInvalid(element_path(root), f"root element <{local_name(root)}> is not a CAP <alert>")
    namespace = namespace_of(root)
    if namespace not in CAP_VERSIONS:
        raise MessageInvalid(element_path(root), f"namespace {namespace or '(none)'!r} is not CAP 1.1 or 1.2 "
                                                 "(urn:oasis:names:tc:emergency:cap:1.1 / :1.2): not CAP, "
                                                 "or an unknown version")


def parse_cap_element(alert: etree._Element, document: XmlDocument | None = None) -> ParsedAlert:
    """Validate one <alert> (a document root or embedded in a feed) and normalize it; MessageInvalid if invalid."""
    require_cap_root(alert)
    cap = _Cap(alert)
    problems = _schema_problems(alert, CAP_VERSIONS[cap.ns])
    seen_paths = {p.path for p in problems}
    problems += [p for p in _rule_problems(cap) if p.path not in seen_paths]
    if problems:
        raise MessageInvalid(problems)
    signature = check_signature(alert, parse_time(cap.text(alert, "sent")))
    if signature.malformed:
        raise MessageInvalid(signature.path or element_path(alert), signature.detail)
    normalized, flags, finished = _normalize(cap)
    if document is not None:
        flags = list(document.notes) + flags
    if signature.certificate_note:
        flags.append({"code": "signing-certificate-validity", "path": signature.path,
                      "detail": signature.certificate_note})
    return ParsedAlert(normalized, "cap", flags=flags, signature=signature.status,
                       signature_detail=signature.detail, ends_chain=finished)


def ends_chain(alert: dict) -> bool:
    """Cancellation semantics: a Cancel, or an Update whose every info says it is over.

    "Over" means urgency Past ("responsive action is no longer required") or responseType AllClear; NTWC
    writes tsunami cancellations as msgType=Update this way, and ECCC ends its watches the same way.
    """
    if alert.get("msg_type") == MsgType.CANCEL:
        return True
    infos = alert.get("infos") or []
    return alert.get("msg_type") == MsgType.UPDATE and bool(infos) and all(
        info.get("urgency") == "Past" or "AllClear" in (info.get("response_types") or []) for info in infos)


class _Cap:
    """Namespace-bound lookups on one <alert>."""

    def __init__(self, alert: etree._Element):
        self.alert = alert
        self.ns = namespace_of(alert)

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def find(self, element, name: str):
        return element.find(self.q(name))

    def findall(self, element, name: str) -> list:
        return element.findall(self.q(name))

    def text(self, element, name: str) -> str | None:
        return text_of(element.find(self.q(name)))


@functools.cache
def _schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"CAP-v{version}.xsd")))


def _schema_problems(alert: etree._Element, version: str) -> list[Problem]:
    standalone = alert.getparent() is None
    signatures = alert.findall(f"{{{DS_NS}}}Signature")
    if standalone and not (signatures and version == "1.1"):
        target = alert
    else:
        # Embedded in a feed, or a signed CAP 1.1 (whose XSD has no slot for ds:Signature): validate a copy.
        target = copy.deepcopy(alert)
        if version == "1.1":
            for signature in target.findall(f"{{{DS_NS}}}Signature"):
                target.remove(signature)
    schema = _schema(version)
    if schema.validate(target):
        return []
    prefix = element_path(alert.getparent()) if alert.getparent() is not None else ""
    problems = []
    for entry in schema.error_log:
        nodes = target.getroottree().xpath(entry.path) if entry.path else []
        where = element_path(nodes[0]) if nodes and isinstance(nodes[0], etree._Element) else "/alert"
        message = re.sub(r"\{(?:urn|https?):[^}]*\}", "", entry.message)
        problems.append(Problem(prefix + where, f"XSD (CAP {version}): {message}"))
    return problems


def _time_problem(cap: _Cap, parent, name: str, required: bool = False) -> Problem | None:
    element = cap.find(parent, name)
    if element is None:
        return Problem(element_path(parent) + "/" + name, "is required") if required else None
    try:
        parse_time(text_of(element))
    except BadTime as exc:
        return Problem(element_path(element), str(exc))
    return None


def _identity_problems(cap: _Cap) -> list[Problem]:
    problems = []
    for name in ("identifier", "sender"):
        element = cap.find(cap.alert, name)
        value = text_of(element)
        if not value:
            problems.append(Problem(f"{element_path(cap.alert)}/{name}", "is required and must not be empty"))
        elif _FORBIDDEN_ID_CHARS.search(value):
            problems.append(Problem(element_path(element),
                                    f"{value!r} contains a space, comma, '<' or '&', which CAP forbids"))
    return problems


def _reference_problems(cap: _Cap) -> list[Problem]:
    msg_type = cap.text(cap.alert, "msgType")
    element = cap.find(cap.alert, "references")
    triples = (text_of(element) or "").split()
    problems = []
    if msg_type in (MsgType.UPDATE, MsgType.CANCEL) and not triples:
        path = element_path(element) if element is not None else element_path(cap.alert) + "/references"
        problems.append(Problem(path, f"msgType {msg_type} must reference at least one earlier message "
                                      "(sender,identifier,sent)"))
    for triple in triples:
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            problems.append(Problem(element_path(element), f"{triple!r} is not a sender,identifier,sent triple"))
            continue
        try:
            parse_time(parts[2])
        except BadTime as exc:
            problems.append(Problem(element_path(element), f"reference {triple!r}: sent {exc}"))
    return problems


def _area_problems(cap: _Cap, area) -> list[Problem]:
    problems = []
    polygons = cap.findall(area, "polygon")
    empty = [k for k, polygon in enumerate(polygons, 1) if not text_of(polygon)]
    for polygon in polygons:
        if text_of(polygon):
            problem = _polygon_problem(text_of(polygon))
            if problem:
                problems.append(Problem(element_path(polygon), problem))
    for k, circle in enumerate(cap.findall(area, "circle"), 1):
        problem = _circle_problem(text_of(circle) or "")
        if problem:
            problems.append(Problem(f"{element_path(area)}/circle[{k}]", problem))
    has_geocode = any(cap.text(g, "value") for g in cap.findall(area, "geocode"))
    if empty and len(empty) == len(polygons) and not cap.findall(area, "circle") and not has_geocode:
        problems.append(Problem(f"{element_path(area)}/polygon[{empty[0]}]",
                                "polygon is empty and the area has no other polygon, circle or geocode; "
                                "a polygon needs at least 4 lat,lon pairs, first equal to last"))
    return problems


def _enum_problems(cap: _Cap, parent, fields) -> list[Problem]:
    problems = []
    for name, allowed in fields:
        value = cap.text(parent, name)
        if value not in allowed:
            reason = f"{value!r} is not one of {', '.join(allowed)}" if value is not None else "is required"
            problems.append(Problem(f"{element_path(parent)}/{name}", reason))
    return problems


def _rule_problems(cap: _Cap) -> list[Problem]:
    alert = cap.alert
    problems = _identity_problems(cap)
    problem = _time_problem(cap, alert, "sent", required=True)
    if problem:
        problems.append(problem)
    problems += _enum_problems(cap, alert, (("status", STATUS), ("msgType", MSG_TYPES), ("scope", SCOPES)))
    problems += _reference_problems(cap)
    for info in cap.findall(alert, "info"):
        problems += _enum_problems(cap, info, (("urgency", URGENCY), ("severity", SEVERITY), ("certainty", CERTAINTY)))
        for name in ("effective", "onset", "expires"):
            problem = _time_problem(cap, info, name)
            if problem:
                problems.append(problem)
        for event_code in cap.findall(info, "eventCode"):
            if not cap.text(event_code, "value"):
                problems.append(Problem(element_path(event_code) + "/value", "eventCode value is empty"))
        for area in cap.findall(info, "area"):
            problems += _area_problems(cap, area)
    return problems


def parse_polygon(text: str) -> tuple[list[list[float]] | None, str | None]:
    """CAP `lat,lon lat,lon ...` -> ([[lon, lat], ...], None), or (None, the reason it is invalid)."""
    cached = _POLYGONS.get(text)
    if cached is not None:
        return cached
    if _POLYGON.fullmatch(text):
        numbers = np.array(_SEPARATORS.split(text.strip()), dtype=float).reshape(-1, 2)
        result = (numbers[:, ::-1].tolist(), _ring_problem(numbers))
    else:
        result = (None, _first_bad_token(text))
    if len(_POLYGONS) >= POLYGON_CACHE_ENTRIES or sum(map(len, _POLYGONS)) + len(text) > POLYGON_CACHE_CHARS:
        _POLYGONS.clear()
    _POLYGONS[text] = result
    return result


# Validation and normalization read each polygon of one message once. Kept for that message only: held
# for hundreds of messages, megabyte polygons grew the API by 500 MB a minute under fuzzing.
_POLYGONS: dict[str, tuple] = {}
POLYGON_CACHE_ENTRIES, POLYGON_CACHE_CHARS = 64, 8_000_000


def _first_bad_token(text: str) -> str:
    tokens = text.split()
    if not tokens:
        return "polygon is empty; it needs at least 4 lat,lon pairs, first equal to last"
    bad = next((t for t in tokens if not _PAIR.match(t)), tokens[0])
    return f"{bad!r} is not a lat,lon pair (decimal degrees, no '+' sign, no trailing comma)"


def _ring_problem(lat_lon: np.ndarray) -> str | None:
    if len(lat_lon) < 4:
        return f"polygon has {len(lat_lon)} points; CAP needs at least 4 (first equal to last)"
    if not np.array_equal(lat_lon[0], lat_lon[-1]):
        return (f"polygon is not closed: first point {lat_lon[0][0]:g},{lat_lon[0][1]:g} differs from last "
                f"{lat_lon[-1][0]:g},{lat_lon[-1][1]:g}")
    return _range_problem(lat_lon) or _half_turn_problem(lat_lon)


def _half_turn_problem(lat_lon: np.ndarray) -> str | None:
    """An edge is read the short way round (so 179 to -179 crosses the antimeridian); at exactly 180
    degrees of longitude neither way is shorter, and the area could be either half of the globe."""
    steps = np.abs(np.diff(lat_lon[:, 1]))
    half_turns = np.flatnonzero(steps == 180.0)
    if not half_turns.size:
        return None
    (lat_a, lon_a), (lat_b, lon_b) = lat_lon[half_turns[0]], lat_lon[half_turns[0] + 1]
    return (f"edge from {lat_a:g},{lon_a:g} to {lat_b:g},{lon_b:g} spans exactly 180 degrees of longitude, "
            "so which way round it goes is ambiguous; add a point between them")


def _polygon_problem(text: str) -> str | None:
    return parse_polygon(text)[1]


def _circle_problem(text: str) -> str | None:
    match = _CIRCLE.match(" ".join(text.split()))
    if not match:
        return f"{text!r} is not a circle 'lat,lon radius_km'"
    return _range_problem([(float(match.group(1)), float(match.group(2)))]) or _radius_problem(match.group(3))


def _radius_problem(token: str) -> str | None:
    if not _RADIUS.match(token):
        try:
            value = float(token)
        except ValueError:
            return f"radius {token!r} is not a number of km"
        if not math.isfinite(value):
            return f"radius {token!r} is not a finite number of km"
        if value < 0:
            return f"radius {token} km is negative"
        return f"radius {token!r} is not a plain decimal number of km (no sign, no exponent)"
    if float(token) > MAX_CIRCLE_RADIUS_KM:
        return f"radius {token} km is above the {MAX_CIRCLE_RADIUS_KM:g} km limit"
    return None


def _range_problem(lat_lon) -> str | None:
    lat_lon = np.asarray(lat_lon, dtype=float).reshape(-1, 2)
    bad_lat = np.flatnonzero(np.abs(lat_lon[:, 0]) > 90)
    if bad_lat.size:
        lat, lon = lat_lon[bad_lat[0]]
        hint = " (lat,lon look swapped)" if abs(lon) <= 90 and abs(lat) <= 180 else ""
        return f"latitude {lat:g} is outside [-90, 90]{hint}"
    bad_lon = np.flatnonzero(np.abs(lat_lon[:, 1]) > 180)
    if bad_lon.size:
        return f"longitude {lat_lon[bad_lon[0], 1]:g} is outside [-180, 180]"
    return None


def polygon_lon_lat(text: str) -> list[list[float]]:
    ring, problem = parse_polygon(text)
    if ring is None:
        raise ValueError(problem)
    return ring


def circle_lon_lat(text: str) -> dict:
    point, radius = " ".join(text.split()).split(" ")
    lat, lon = point.split(",")
    return {"center": [float(lon), float(lat)], "radius_km": float(radius)}


def _normalize(cap: _Cap) -> tuple[dict, list[dict], bool]:
    alert = cap.alert
    references = []
    for triple in (cap.text(alert, "references") or "").split():
        sender, identifier, sent = triple.split(",")
        references.append({"sender": sender, "identifier": identifier, "sent": sent})
    infos = [_normalize_info(cap, info) for info in cap.findall(alert, "info")]
    normalized = {
        "sender": cap.text(alert, "sender"),
        "identifier": cap.text(alert, "identifier"),
        "sent": cap.text(alert, "sent"),
        "status": cap.text(alert, "status"),
        "msg_type": cap.text(alert, "msgType"),
        "scope": cap.text(alert, "scope"),
        "references": references,
        "infos": infos,
    }
    flags = _empty_polygon_flags(cap) + _swap_flags(normalized)
    finished = ends_chain(normalized)
    for info in infos:
        info.pop("response_types")
    return normalized, flags, finished


def _optional(value: str | None) -> str | None:
    return value if value else None


def _normalize_info(cap: _Cap, info) -> dict:
    areas = []
    for area in cap.findall(info, "area"):
        areas.append({
            "desc": cap.text(area, "areaDesc"),
            "polygons": [polygon_lon_lat(text_of(p)) for p in cap.findall(area, "polygon") if text_of(p)],
            "circles": [circle_lon_lat(text_of(c)) for c in cap.findall(area, "circle")],
            "geocodes": [{"name": " ".join((cap.text(g, "valueName") or "").split()), "value": cap.text(g, "value")}
                         for g in cap.findall(area, "geocode")],
        })
    return {
        "language": cap.text(info, "language") or DEFAULT_LANGUAGE,
        "event": cap.text(info, "event"),
        "categories": [text_of(c) for c in cap.findall(info, "category")],
        "urgency": cap.text(info, "urgency"),
        "severity": cap.text(info, "severity"),
        "certainty": cap.text(info, "certainty"),
        "effective": _optional(cap.text(info, "effective")),
        "onset": _optional(cap.text(info, "onset")),
        "expires": _optional(cap.text(info, "expires")),
        "headline": _optional(cap.text(info, "headline")),
        "description": _optional(cap.text(info, "description")),
        "instruction": _optional(cap.text(info, "instruction")),
        "areas": areas,
        # Read by ends_chain() before it is dropped; the normalized alert has no such key.
        "response_types": [text_of(r) for r in cap.findall(info, "responseType")],
    }


def _empty_polygon_flags(cap: _Cap) -> list[dict]:
    flags = []
    for i, info in enumerate(cap.findall(cap.alert, "info"), 1):
        for j, area in enumerate(cap.findall(info, "area"), 1):
            for k, polygon in enumerate(cap.findall(area, "polygon"), 1):
                if not text_of(polygon):
                    flags.append({"code": "empty-polygon", "path": f"/alert/info[{i}]/area[{j}]/polygon[{k}]",
                                  "detail": "empty <polygon> skipped; the area is its other polygons, circles "
                                            "and geocodes"})
    return flags


def _swap_flags(normalized: dict) -> list[dict]:
    geocodes = [g for info in normalized["infos"] for area in info["areas"] for g in area["geocodes"]]
    hints = country_hints(normalized["sender"], [i["language"] for i in normalized["infos"]], geocodes)
    flags = []
    for i, info in enumerate(normalized["infos"], 1):
        for j, area in enumerate(info["areas"], 1):
            base = f"/alert/info[{i}]/area[{j}]"
            for k, ring in enumerate(area["polygons"], 1):
                flag = swap_flag(f"{base}/polygon[{k}]", [tuple(p) for p in ring], hints)
                if flag:
                    flags.append(flag)
            for k, circle in enumerate(area["circles"], 1):
                flag = swap_flag(f"{base}/circle[{k}]", [tuple(circle["center"])], hints)
                if flag:
                    flags.append(flag)
    return flags
