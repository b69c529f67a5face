"""Evidently swapped coordinates (issue 3: "When a circle's or polygon's lat/lon are evidently swapped, flag it").

A producer that writes `lon,lat` where CAP wants `lat,lon` puts a Swedish county in the Arabian Sea.
We only call it *evident* when the message tells us its country (language region, sender domain, an
ISO 3166-2 geocode) and the points fall outside that country as published but inside it swapped.
The coordinates are kept as published; the alert carries the flag for an operator to see.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

MARGIN_DEG = 0.5
_ISO2 = re.compile(r"^[A-Za-z]{2}$")
# Generic or multi-country top-level domains say nothing about where an alert applies.
_NON_COUNTRY_TLDS = {"com", "org", "net", "gov", "edu", "int", "mil", "info", "eu", "io"}


@functools.cache
def _country_boxes(iso2: str) -> tuple[tuple[float, float, float, float], ...]:
    import country_bounding_boxes

    try:
        return tuple(unit.bbox for unit in country_bounding_boxes.country_subunits_by_iso_code(iso2.upper()))
    except Exception:  # an unknown code is simply no hint
        return ()


def country_hints(sender: str | None, languages: Iterable[str | None] = (), geocodes: Iterable[dict] = ()) -> set[str]:
    hints: set[str] = set()
    for language in languages:
        if language and "-" in language:
            region = language.split("-")[-1]
            if _ISO2.match(region):
                hints.add(region.upper())
    if sender:
        host = sender.split("@")[-1] if "@" in sender else re.sub(r"^[a-z]+://", "", sender.lower()).split("/")[0]
        tld = host.rstrip(".").rsplit(".", 1)[-1].lower()
        if _ISO2.match(tld) and tld not in _NON_COUNTRY_TLDS:
            hints.add("GB" if tld == "uk" else tld.upper())
    for geocode in geocodes:
        value = str(geocode.get("value") or "")
        match = re.match(r"^([A-Z]{2})[-_][A-Z0-9]{1,3}$", value)
        if match and "3166" in str(geocode.get("name") or "").replace("_", ""):
            hints.add(match.group(1))
    return {hint for hint in hints if _country_boxes(hint)}


def _all_inside(lons, lats, boxes) -> bool:
    """Every point inside one of the country's boxes (checked on the points' own bounding box)."""
    lon_min, lon_max, lat_min, lat_max = min(lons), max(lons), min(lats), max(lats)
    return any(west - MARGIN_DEG <= lon_min and lon_max <= east + MARGIN_DEG
               and south - MARGIN_DEG <= lat_min and lat_max <= north + MARGIN_DEG
               for west, south, east, north in boxes)


def evidently_swapped(points_lon_lat: list[tuple[float, float]], hints: set[str]) -> str | None:
    """The country the points land in once swapped, when as published they land outside every hinted one."""
    if not points_lon_lat or not hints:
        return None
    lons = [p[0] for p in points_lon_lat]
    lats = [p[1] for p in points_lon_lat]
    for country in sorted(hints):
        boxes = _country_boxes(country)
        published_inside = _all_inside(lons, lats, boxes)
        swapped_inside = max(abs(x) for x in lons) <= 90 and _all_inside(lats, lons, boxes)
        if not published_inside and swapped_inside:
            return country
    return None


def swap_flag(path: str, points_lon_lat: list[tuple[float, float]], hints: set[str]) -> dict | None:
    country = evidently_swapped(points_lon_lat, hints)
    if country is None:
        return None
    lon, lat = points_lon_lat[0]
    return {"code": "coordinates-swapped", "path": path,
            "detail": f"latitude {lat:g}, longitude {lon:g} lies outside {country}, the country this message is "
                      f"about; read as lon,lat it lies inside. Kept as published; check the producer."}
