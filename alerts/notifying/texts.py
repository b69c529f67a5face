"""Warning texts: which language, which hazard, and a body that fits in 2 SMS segments.

The words live in alerts/notifying/templates/<language>.yaml; this module picks the template for a hazard,
severity and kind of message (warning, escalation, all_clear), counts the customer's assets by kind
("your 2 insured vehicles and 1 property") and names the place: the asset's address when there is one
asset, else the alert's area description. A place that would push the text past 2 segments is
shortened; in a GSM-7 language a place outside the GSM-7 alphabet is left out, since one such character
would turn the whole text into UCS-2 and halve its room (alerts/notifying/sms.py).
(docs/architecture.md)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from alerts.notifying.sms import is_gsm7, sms_size
from config.settings import DEFAULT_HOTLINE

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("zh-CN", "en")
FALLBACK_LANGUAGE = "en"
MAX_SEGMENTS = 2
# The longest signed link a warning carries: "/c/" and a 22-character token after a public base URL of up
# to 33 characters ("https://claims.insurer-example.cn"). A longer link is left out, never a third segment.
LINK_MAX = 58
KINDS = ("warning", "escalation", "all_clear")
PLACE_UNNAMED = {"zh-CN": "您所在地区", "en": "your area"}  # an alert whose areas have no description
SEVERITIES = ("Minor", "Moderate", "Severe", "Extreme")
VEHICLE_KINDS = frozenset({"vehicle"})  # every other asset kind (home, shop, factory) is a property

# Checked in order: the first hazard whose pattern matches the event (then the headline) wins, so the
# specific ones ("雷雨大风", "tropical storm") come before the general ones ("大风", "storm").
HAZARD_PATTERNS = [
    ("storm_surge", r"风暴潮|海啸|storm surge|tsunami|coastal flood"),
    ("typhoon", r"台风|热带风暴|热带气旋|typhoon|hurricane|tropical (storm|cyclone|depression)|cyclone"),
    ("thunderstorm", r"雷电|雷暴|雷雨|冰雹|thunder|lightning|hail|tornado"),
    ("flood", r"洪水|洪涝|山洪|内涝|渍涝|flood"),
    ("rainstorm", r"暴雨|强降雨|大雨|heavy rain|rainstorm|rainfall"),
    ("landslide", r"地质灾害|滑坡|泥石流|崩塌|landslide|debris flow|mudslide|avalanche"),
    ("gale", r"大风|强风|gale|wind|storm"),
    ("winter", r"暴雪|寒潮|冰冻|道路结冰|霜冻|低温|snow|blizzard|\bice\b|icy|freez|frost|cold|winter"),
    ("heat", r"高温|heat"),
    ("fog", r"大雾|浓雾|霾|fog|smoke|haze"),
    ("fire", r"火险|火灾|fire"),
    ("earthquake", r"地震|earthquake"),
]
HAZARDS = tuple(name for name, _ in HAZARD_PATTERNS) + ("other",)
_BRACKETED = re.compile(r"\s*[（(][^（）()]*[）)]")
_HAZARD_RE = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in HAZARD_PATTERNS]


class TemplateError(ValueError):
    """A template cannot produce a message within the segment limit (a content bug, caught by tests)."""


@dataclass(frozen=True)
class AssetCount:
    vehicles: int = 0
    properties: int = 0

    @classmethod
    def of_kinds(cls, kinds: Iterable[str]) -> AssetCount:
        kinds = list(kinds)
        vehicles = sum(1 for kind in kinds if kind in VEHICLE_KINDS)
        return cls(vehicles, len(kinds) - vehicles)

    @property
    def total(self) -> int:
        return self.vehicles + self.properties


@dataclass(frozen=True)
class Text:
    body: str
    language: str
    encoding: str
    segments: int


@functools.cache
def _load(language: str) -> dict:
    return yaml.safe_load((TEMPLATES / f"{language}.yaml").read_text(encoding="utf-8"))


def _language_of(tag: str | None) -> str | None:
    """zh, zh-CN, zh_Hans, zh-TW -> zh-CN; en, en-US -> en; anything else -> None."""
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-")[0].lower()
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def choose_language(customer_locale: str | None, info_languages: Iterable[str | None] = ()) -> str:
    """The customer's locale when we have templates for it, else the alert's own language, else English."""
    for tag in (customer_locale, *info_languages):
        language = _language_of(tag)
        if language:
            return language
    return FALLBACK_LANGUAGE


def pick_info(infos: list[dict], language: str) -> dict | None:
    """The alert info written in this language, else the first one (CAP allows one info per language)."""
    for info in infos:
        if _language_of(info.get("language")) == language:
            return info
    return infos[0] if infos else None


def hazard_of(info: dict | None) -> str:
    if not info:
        return "other"
    return _hazard(info.get("event"), info.get("headline"))


@functools.lru_cache(maxsize=1024)
def _hazard(event: str | None, headline: str | None) -> str:
    for text in (event, headline):
        for name, pattern in _HAZARD_RE:
            if text and pattern.search(text):
                return name
    return "other"


def area_name(info: dict | None, language: str) -> str | None:
    if not info:
        return None
    names = [(area.get("desc") or "").strip() for area in info.get("areas") or []]
    names = list(dict.fromkeys(name for name in names if name))
    return ("、" if language == "zh-CN" else ", ").join(names) or None


def _assets_phrase(template: dict, assets: AssetCount) -> str:
    forms = template["assets"]
    parts = []
    for key, count in (("vehicle", assets.vehicles), ("property", assets.properties)):
        if count:
            parts.append(forms[key]["one" if count == 1 else "other"].format(n=count))
    return forms["join"].join(parts)


def _advice(template: dict, hazard: str, assets: AssetCount) -> str:
    texts = template["hazards"].get(hazard) or template["hazards"]["other"]
    if assets.vehicles and assets.properties:
        return texts["both"]
    return texts["vehicle"] if assets.vehicles else texts["property"]


def _message_template(template: dict, kind: str, severity: str) -> str:
    variants = template["messages"][kind]
    return variants.get(severity, variants["default"])


@functools.lru_cache(maxsize=16384)  # a fan-out renders the same few texts for thousands of customers
def render(kind: str, hazard: str, severity: str, language: str, assets: AssetCount,
           address: str | None = None, area: str | None = None, hotline: str = DEFAULT_HOTLINE,
           max_segments: int = MAX_SEGMENTS, link: str | None = None) -> Text:
    """The text for one customer (hotline: HAVEN_HOTLINE). With a link (a CAT event is open for the area), a
    warning or escalation uses its `_linked` wording; a link longer than LINK_MAX is left out. Raises
    TemplateError only when even the place-less text is too long."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    template = _load(language)
    if link and len(link) <= LINK_MAX and f"{kind}_linked" in template["messages"]:
        kind = f"{kind}_linked"
    else:
        link = None
    hazards = template["hazards"]
    fields = {
        "signature": template["signature"],
        "hazard": (hazards.get(hazard) or hazards["other"])["name"],
        "level": template["levels"].get(severity, template["levels"]["Moderate"]),
        "assets": _assets_phrase(template, assets),
        "advice": _advice(template, hazard, assets),
        "hotline": hotline,
        "menu": template["reply"]["menu"],
        "link": link or "",
    }
    text = _message_template(template, kind, severity)
    gsm_language = is_gsm7(text.format(place="", **fields))
    candidates = []
    if assets.total == 1 and address:
        candidates.append(("address", address.strip()))
    if area:
        candidates.append(("area", area.strip()))
    for form, place in candidates:
        if gsm_language and not is_gsm7(place):
            continue
        body = _fit_place(text, fields, template["place"][form], form, place, max_segments)
        if body:
            return _text(body, language)
    result = _text(text.format(place=template["place"]["none"], **fields), language)
    if result.segments > max_segments:
        raise TemplateError(f"{language} {kind} {hazard} {severity}: {result.segments} segments even without a place")
    return result


def template_facts(infos: Iterable[dict], severity: str | None, language: str, hotline: str) -> dict[str, str]:
    """The facts a warning, escalation or all-clear is worded from, for providers that send only approved
    templates with variables (alerts/notifying/channels/aliyun_sms.py): the hazard's name, the warning
    level, the place (the alert's area, in this language where the alert has it) and the hotline."""
    template = _load(language)
    info = pick_info(list(infos), language)
    hazards = template["hazards"]
    return {"hazard": (hazards.get(hazard_of(info)) or hazards["other"])["name"],
            "level": template["levels"].get(severity or "Moderate", template["levels"]["Moderate"]),
            "place": area_name(info, language) or PLACE_UNNAMED[language], "hotline": hotline}


def reply_help(language: str, hotline: str = DEFAULT_HOTLINE) -> Text:
    """The one short answer to a reply the menu does not know (alerts/notifying/replies.py)."""
    return _text(_load(language)["reply"]["help"].format(hotline=hotline), language)


def _fit_place(text: str, fields: dict, place_form: str, key: str, place: str, max_segments: int) -> str | None:
    """The body with the place in full, or cut short with an ellipsis; None when not even 4 characters fit."""

    def body_with(name: str) -> str:
        return text.format(place=place_form.format(**{key: name}), **fields)

    full = body_with(place)
    if sms_size(full).segments <= max_segments:
        return full
    # "浙江全省沿海（杭州、嘉兴、...）": the list in brackets is the first thing to go.
    without_list = _BRACKETED.sub("", place).strip()
    if without_list and without_list != place:
        shorter = body_with(without_list)
        if sms_size(shorter).segments <= max_segments:
            return shorter
        place = without_list
    ellipsis = "..." if is_gsm7(full) else "…"
    low, high, best = 4, len(place) - 1, None
    while low <= high:  # the longest prefix that fits
        middle = (low + high) // 2
        candidate = body_with(place[:middle].rstrip() + ellipsis)
        if sms_size(candidate).segments <= max_segments:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _text(body: str, language: str) -> Text:
    size = sms_size(body)
    return Text(body=body, language=language, encoding=size.encoding, segments=size.segments)
