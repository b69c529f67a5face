"""Where a rescue job is, in words: the insured asset's address, or the district the point lies in.

A car that broke down away from home is at a shared location, not at its asset's address; there the
gazetteer names the district and its city, in Chinese and in English ("温州市鹿城区", "Lucheng District,
Wenzhou"). The bundled gazetteer carries Chinese names only, so the English is their pinyin.
"""

from __future__ import annotations

import logging
from functools import cache

from pypinyin import lazy_pinyin

from geo.gazetteer import CN_ADCODE, Gazetteer, load_gazetteer

log = logging.getLogger(__name__)

# A job this close to its asset is at the asset's address (GPS and geocoding disagree by tens of metres).
AT_ASSET_KM = 0.3
# Longest suffix first: 自治县 before 县.
UNIT_SUFFIXES = (("自治县", "Autonomous County"), ("自治州", "Prefecture"), ("地区", "Prefecture"),
                 ("区", "District"), ("县", "County"), ("市", "City"), ("旗", "Banner"), ("盟", "League"))
CITY_SUFFIXES = ("自治州", "地区", "市", "盟")


@cache
def _gazetteer(path: str | None) -> Gazetteer | None:
    from config.settings import VAR_DIR

    try:
        return load_gazetteer(path, cache_dir=VAR_DIR / "cache")
    except (OSError, ValueError):
        log.warning("gazetteer %s unreadable; rescue jobs are placed with the bundled one", path)
        try:
            return load_gazetteer(None)
        except (OSError, ValueError):
            return None


def _pinyin(name: str) -> str:
    return "".join(lazy_pinyin(name)).title()


def english_unit(name: str) -> str:
    """鹿城区 -> Lucheng District, 乐清市 -> Yueqing City, 文成县 -> Wencheng County."""
    for suffix, word in UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{_pinyin(name[:-len(suffix)])} {word}"
    return _pinyin(name)


def english_city(name: str) -> str:
    """温州市 -> Wenzhou."""
    for suffix in CITY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return _pinyin(name[:-len(suffix)])
    return _pinyin(name)


def districts(points: list[tuple[float, float]], gazetteer_path: str | None) -> list[dict | None]:
    """For each (lon, lat): {"zh-CN": "温州市鹿城区", "en": "Lucheng District, Wenzhou"}, or None outside
    the gazetteer."""
    gazetteer = _gazetteer(str(gazetteer_path) if gazetteer_path else None)
    if gazetteer is None or not points:
        return [None] * len(points)
    codes = gazetteer.unit_of_points([p[0] for p in points], [p[1] for p in points], CN_ADCODE)
    found: dict[str, dict | None] = {}
    for code in set(codes):
        found[code] = _names(gazetteer, code) if code else None
    return [found[code] for code in codes]


def _names(gazetteer: Gazetteer, code: str) -> dict | None:
    unit = gazetteer.boundary(CN_ADCODE, code)
    if unit is None or not unit.name:
        return None
    parent_code = unit.parent or (code[:4] + "00" if len(code) == 6 and not code.endswith("00") else None)
    parent = gazetteer.boundary(CN_ADCODE, parent_code) if parent_code and parent_code != code else None
    if parent is None or not parent.name:
        return {"zh-CN": unit.name, "en": english_unit(unit.name)}
    return {"zh-CN": f"{parent.name}{unit.name}", "en": f"{english_unit(unit.name)}, {english_city(parent.name)}"}
