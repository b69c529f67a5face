"""Typhoon tracks with quadrant wind radii (QWeather `/v7/tropical/storm-track`, `storm-forecast`) as an alert.

The track and forecast become one alert whose area is the 30-knot (gale) wind swath: the union of the
quadrant-radius shapes along the track (geo.swath). That lets Haven warn before landfall, which no CAP
feed does. Severity follows the storm's current intensity class (China's scale): TD Minor, TS Moderate,
STS/TY Severe, STY/SuperTY Extreme. Forecast points carry no radii: the last observed radii are carried
forward, or, with none at all, a climatological radius per class (flagged `wind-radii-assumed`).

Identity: sender qweather.com, identifier `typhoon-track:<storm id>`, sent = the position's publish time;
every new position is a new message in the same chain (alerts.chains joins equal sender+identifier).
"""

from __future__ import annotations

import hashlib
import math

from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedAlert, ParsedMessage
from alerts.reading.times import BadTime, parse_time
from geo.limits import MAX_CIRCLE_RADIUS_KM
from geo.swath import Fix, polygons_lon_lat, wind_swath
from store.models.alerts import AlertStatus, MsgType

SENDER = "qweather.com"
CLASS_SEVERITY = {"TD": "Minor", "TS": "Moderate", "STS": "Severe", "TY": "Severe", "STY": "Extreme",
                  "SUPERTY": "Extreme", "STY+": "Extreme"}
ASSUMED_GALE_RADIUS_KM = {"TD": 80, "TS": 150, "STS": 200, "TY": 250, "STY": 300, "SUPERTY": 350}
QUADRANT_KEYS = {"ne": "neRadius", "se": "seRadius", "sw": "swRadius", "nw": "nwRadius"}


def looks_like_track(document: object) -> bool:
    return isinstance(document, dict) and (isinstance(document.get("track"), list)
                                           or isinstance(document.get("forecast"), list))


def _radii(point: dict) -> dict[str, float] | None:
    block = point.get("windRadius30")
    if not isinstance(block, dict):
        return None
    try:
        radii = {q: float(block.get(key) or 0) for q, key in QUADRANT_KEYS.items()}
    except ValueError:
        return None
    return radii if any(radii.values()) else None


def _radius_problem(radii: dict[str, float] | None, where: str) -> Problem | None:
    for quadrant, radius in (radii or {}).items():
        path = f"{where}/windRadius30/{QUADRANT_KEYS[quadrant]}"
        if not math.isfinite(radius) or radius < 0:
            return Problem(path, f"radius {radius:g} km is not a distance")
        if radius > MAX_CIRCLE_RADIUS_KM:
            return Problem(path, f"radius {radius:g} km is above the {MAX_CIRCLE_RADIUS_KM:g} km limit")
    return None


def _fixes(points: list[dict], base: str, flags: list[dict]) -> tuple[list[Fix], list[Problem]]:
    fixes, problems, last_radii = [], [], None
    for index, point in enumerate(points, 1):
        where = f"{base}[{index}]"
        try:
            lon, lat = float(point["lon"]), float(point["lat"])
        except (KeyError, TypeError, ValueError):
            problems.append(Problem(where, "lat and lon are required decimal degrees"))
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            problems.append(Problem(where, f"position lat {lat}, lon {lon} is out of range"))
            continue
        radius_problem = _radius_problem(_radii(point), where)
        if radius_problem:
            problems.append(radius_problem)
            continue
        radii = _radii(point) or last_radii
        if radii is None:
            kind = str(point.get("type") or "TS").upper()
            radius = ASSUMED_GALE_RADIUS_KM.get(kind, ASSUMED_GALE_RADIUS_KM["TS"])
            radii = dict.fromkeys(QUADRANT_KEYS, float(radius))
            flags.append({"code": "wind-radii-assumed", "path": where,
                          "detail": f"no 30-kt wind radii: assumed {radius} km for class {kind}"})
        else:
            last_radii = radii
        fixes.append(Fix(lon, lat, radii))
    return fixes, problems


def parse_track(document: dict, storm_id: str | None = None, storm_name: str | None = None) -> ParsedMessage:
    if str(document.get("code", "200")) != "200":
        raise MessageInvalid("/code", f"provider answered code {document.get('code')!r}, not 200")
    flags: list[dict] = []
    track, forecast = document.get("track") or [], document.get("forecast") or []
    fixes, problems = _fixes(track, "/track", flags)
    forecast_fixes, forecast_problems = _fixes(forecast, "/forecast", [] if fixes else flags)
    problems += forecast_problems
    if problems:
        raise MessageInvalid(problems)
    if not fixes and not forecast_fixes:
        raise MessageInvalid("/track", "a track or forecast with at least one position is required")
    now = document.get("now") if isinstance(document.get("now"), dict) else {}
    latest = now or (track[-1] if track else forecast[0])
    sent = now.get("pubTime") or document.get("updateTime") or latest.get("time") or latest.get("fxTime")
    try:
        parse_time(sent)
    except BadTime as exc:
        raise MessageInvalid("/now/pubTime", str(exc)) from None
    expires = forecast[-1].get("fxTime") if forecast else None
    kind = str(latest.get("type") or "").upper()
    swath = wind_swath(fixes + forecast_fixes)
    first = (track or forecast)[0]
    identity = storm_id or hashlib.sha1(f"{first.get('time') or first.get('fxTime')}|{first.get('lat')}|"
                                        f"{first.get('lon')}".encode()).hexdigest()[:16]
    name = storm_name or "tropical cyclone"
    info = {
        "language": "en",
        "event": "Typhoon wind swath",
        "categories": ["Met"],
        "urgency": "Expected" if document.get("isActive", "1") in ("1", 1, True) else "Past",
        "severity": CLASS_SEVERITY.get(kind, "Unknown"),
        "certainty": "Likely",
        "effective": sent,
        "onset": None,
        "expires": expires,
        "headline": f"Gale-force (30 kt) wind swath of {name}, class {kind or 'unknown'}",
        "description": (f"{len(fixes)} track and {len(forecast_fixes)} forecast positions; latest "
                        f"{latest.get('lat')}N {latest.get('lon')}E, {latest.get('windSpeed') or '?'} m/s, "
                        f"{latest.get('pressure') or '?'} hPa."),
        "instruction": None,
        # The track rides along with the swath: nearness to it decides who is warned first (alerts/notifying/priority.py).
        "areas": [{"desc": f"Wind swath of {name}", "polygons": polygons_lon_lat(swath), "circles": [],
                   "geocodes": [], "track": [[fix.lon, fix.lat] for fix in fixes + forecast_fixes]}],
    }
    alert = {"sender": SENDER, "identifier": f"typhoon-track:{identity}", "sent": sent, "status": AlertStatus.ACTUAL,
             "msg_type": MsgType.ALERT, "scope": "Public", "references": [], "infos": [info]}
    return ParsedMessage("typhoon-track", alerts=[ParsedAlert(alert, "typhoon-track", flags=flags)])
