"""NWS API GeoJSON (api.weather.gov/alerts) to the normalized alert (docs/architecture.md).

A FeatureCollection or a single Feature. Each feature is its own alert: a bad feature is set aside with
its reason (`/features[3]/properties/sent: ...`) and the others still go through. Geometry is already
`[lon, lat]`; zone alerts have `geometry: null` and are located by their UGC/SAME geocodes.
"""

from __future__ import annotations

from alerts.reading.cap import CERTAINTY, MSG_TYPES, SCOPES, SEVERITY, STATUS, URGENCY, ends_chain
from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedAlert, ParsedMessage
from alerts.reading.times import BadTime, parse_time

DEFAULT_LANGUAGE = "en-US"


def looks_like_nws(document: object) -> bool:
    if not isinstance(document, dict) or document.get("type") not in ("FeatureCollection", "Feature"):
        return False
    features = document.get("features") if document.get("type") == "FeatureCollection" else [document]
    if not isinstance(features, list):
        return False
    if not features:
        return "@context" in document or "title" in document  # an empty NWS answer still has these
    properties = features[0].get("properties") if isinstance(features[0], dict) else None
    return isinstance(properties, dict) and ("messageType" in properties or properties.get("@type") == "wx:Alert")


def parse_nws(document: dict) -> ParsedMessage:
    if document.get("type") == "Feature":
        features, base = [document], ""
    else:
        features, base = document.get("features"), "/features"
        if not isinstance(features, list):
            raise MessageInvalid("/features", "must be a list of GeoJSON Features")
    message = ParsedMessage("nws-geojson")
    for index, feature in enumerate(features, 1):
        path = f"{base}[{index}]" if base else ""
        try:
            message.alerts.append(parse_feature(feature, path))
        except MessageInvalid as exc:
            message.rejected.append(exc)
    return message


def _enum_problem(properties: dict, key: str, allowed, path: str, required: bool = True) -> Problem | None:
    value = properties.get(key)
    if value is None and not required:
        return None
    if value not in allowed:
        return Problem(f"{path}/properties/{key}", f"{value!r} is not one of {', '.join(allowed)}")
    return None


def _time_problems(properties: dict, path: str) -> list[Problem]:
    problems = []
    for key in ("sent", "effective", "onset", "expires", "ends"):
        value = properties.get(key)
        if value is None and key != "sent":
            continue
        try:
            parse_time(value)
        except BadTime as exc:
            problems.append(Problem(f"{path}/properties/{key}", str(exc)))
    return problems


def _ring_problem(ring) -> str | None:
    if not isinstance(ring, list) or len(ring) < 4:
        return "a polygon ring needs at least 4 [lon, lat] positions"
    if ring[0] != ring[-1]:
        return "polygon ring is not closed (first position differs from last)"
    for position in ring:
        if (not isinstance(position, list) or len(position) < 2
                or not all(isinstance(c, int | float) for c in position[:2])):
            return f"{position!r} is not a [lon, lat] position"
        lon, lat = position[:2]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return f"[{lon}, {lat}] is outside [-180..180, -90..90]"
    return None


def _polygons(geometry, path: str) -> tuple[list, list[Problem]]:
    if geometry is None:
        return [], []
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        shells = [geometry.get("coordinates") or []]
    elif kind == "MultiPolygon":
        shells = geometry.get("coordinates") or []
    else:
        return [], [Problem(f"{path}/geometry", f"geometry type {kind!r} is not Polygon or MultiPolygon")]
    polygons, problems = [], []
    for shell in shells:
        ring = shell[0] if shell else []
        problem = _ring_problem(ring)
        if problem:
            problems.append(Problem(f"{path}/geometry/coordinates", problem))
        else:
            polygons.append([[float(lon), float(lat)] for lon, lat, *_ in ring])
    return polygons, problems


def _references(properties: dict, path: str) -> tuple[list[dict], list[Problem]]:
    references, problems = [], []
    for i, reference in enumerate(properties.get("references") or [], 1):
        where = f"{path}/properties/references[{i}]"
        if not isinstance(reference, dict) or not all(reference.get(k) for k in ("sender", "identifier", "sent")):
            problems.append(Problem(where, "a reference needs sender, identifier and sent"))
            continue
        references.append({"sender": reference["sender"], "identifier": reference["identifier"],
                           "sent": reference["sent"]})
    if properties.get("messageType") in ("Update", "Cancel") and not references and not problems:
        problems.append(Problem(f"{path}/properties/references",
                                f"messageType {properties.get('messageType')} must reference an earlier message"))
    return references, problems


def parse_feature(feature: dict, path: str = "") -> ParsedAlert:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise MessageInvalid(path or "/", "a GeoJSON Feature with properties is required")
    properties = feature["properties"]
    identifier = properties.get("identifier") or properties.get("id")
    problems = []
    for key, value in (("id", identifier), ("sender", properties.get("sender"))):
        if not value or not isinstance(value, str):
            problems.append(Problem(f"{path}/properties/{key}", "is required"))
    for key, allowed, required in (("status", STATUS, True), ("messageType", MSG_TYPES, True),
                                   ("scope", SCOPES, False), ("severity", SEVERITY, True),
                                   ("urgency", URGENCY, True), ("certainty", CERTAINTY, True)):
        problem = _enum_problem(properties, key, allowed, path, required)
        if problem:
            problems.append(problem)
    problems += _time_problems(properties, path)
    polygons, geometry_problems = _polygons(feature.get("geometry"), path)
    references, reference_problems = _references(properties, path)
    problems += geometry_problems + reference_problems
    if problems:
        raise MessageInvalid(problems)
    geocodes = [{"name": scheme, "value": code}
                for scheme, codes in (properties.get("geocode") or {}).items() for code in (codes or [])]
    category = properties.get("category")
    info = {
        "language": properties.get("language") or DEFAULT_LANGUAGE,
        "event": properties.get("event"),
        "categories": category if isinstance(category, list) else [category] if category else [],
        "urgency": properties.get("urgency"),
        "severity": properties.get("severity"),
        "certainty": properties.get("certainty"),
        "effective": properties.get("effective"),
        "onset": properties.get("onset"),
        "expires": properties.get("expires"),
        "headline": properties.get("headline"),
        "description": properties.get("description"),
        "instruction": properties.get("instruction"),
        "areas": [{"desc": properties.get("areaDesc"), "polygons": polygons, "circles": [], "geocodes": geocodes}],
    }
    alert = {
        "sender": properties["sender"],
        "identifier": identifier,
        "sent": properties["sent"],
        "status": properties["status"],
        "msg_type": properties["messageType"],
        "scope": properties.get("scope") or "Public",
        "references": references,
        "infos": [info],
    }
    finished = ends_chain({**alert, "infos": [{**info, "response_types": [properties.get("response")]}]})
    # NWS `expires` is when the message expires, `ends` when the hazard does; the alert lives until the later.
    return ParsedAlert(alert, "nws-geojson", ends_chain=finished, valid_until=properties.get("ends"))
