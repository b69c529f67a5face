"""CAP ATOM and RSS indexes (docs/architecture.md).

An index lists entries that either link to a CAP message (rel="alternate", type application/cap+xml,
rel="related", gdacs:cap, an RSS <link>) or embed it in <content>. Entries keep the CAP summary fields
feeds carry as `cap:*` extension elements (whose valueName/value children may sit in the Atom namespace,
and MeteoAlarm's non-standard cap:message_type). An embedded alert is parsed and validated like any
CAP; an invalid one is set aside with its reason while the other entries go through. An entry that
neither links to nor embeds a CAP message is flagged `missing-cap-link` (its feed lost its links: nothing
can be fetched for it), and feed health counts such entries.
"""

from __future__ import annotations

from lxml import etree

from alerts.reading.cap import CAP_VERSIONS, circle_lon_lat, is_cap, parse_cap_element, polygon_lon_lat
from alerts.reading.errors import MessageInvalid, Problem
from alerts.reading.parsed import ParsedMessage
from alerts.reading.sanity import country_hints, swap_flag
from alerts.reading.xmlsafe import XmlDocument, element_path, local_name, namespace_of, text_of

ATOM_NS = "http://www.w3.org/2005/Atom"
GEORSS_NS = "http://www.georss.org/georss"
GDACS_NS = "http://www.gdacs.org"
CAP_MIME = "application/cap+xml"
CAP_SUMMARY_FIELDS = ("identifier", "sender", "sent", "status", "msgType", "message_type", "scope", "event",
                      "category", "urgency", "severity", "certainty", "effective", "onset", "expires",
                      "areaDesc")


def is_index(root: etree._Element) -> bool:
    return (local_name(root) == "feed" and namespace_of(root) == ATOM_NS) or local_name(root) == "rss"


def parse_index(document: XmlDocument) -> ParsedMessage:
    root = document.root
    if local_name(root) == "rss":
        return _parse_rss(document)
    return _parse_atom(document)


def _child(element, name: str, ns: str | None = ATOM_NS):
    return element.find(f"{{{ns}}}{name}" if ns else name)


def _cap_children(entry) -> dict[str, list]:
    children: dict[str, list] = {}
    for child in entry:
        if isinstance(child.tag, str) and namespace_of(child) in CAP_VERSIONS:
            children.setdefault(local_name(child), []).append(child)
    return children


def _pairs(element) -> list[dict]:
    """valueName/value pairs in any namespace; NWS puts several pairs and space-separated lists in one."""
    pairs, name = [], None
    for child in element:
        if local_name(child) == "valueName":
            name = " ".join((text_of(child) or "").split())
        elif local_name(child) == "value" and name is not None:
            for value in (text_of(child) or "").split() or [""]:
                pairs.append({"name": name, "value": value})
    return pairs


def _entry_areas(entry, cap: dict[str, list]) -> list[dict]:
    """Area hints an index carries: cap:area, cap:polygon/cap:circle/cap:geocode, GeoRSS (lat lon order)."""
    areas = []
    for area in cap.get("area", []):
        areas.append(_area_from(area, text_of(next((c for c in area if local_name(c) == "areaDesc"), None))))
    loose = {k: cap.get(k, []) for k in ("polygon", "circle", "geocode")}
    georss = [(local_name(e), text_of(e)) for e in entry if namespace_of(e) == GEORSS_NS]
    if any(loose.values()) or georss:
        area = {"desc": text_of(cap["areaDesc"][0]) if cap.get("areaDesc") else None, "polygons": [], "circles": [],
                "geocodes": [g for e in loose["geocode"] for g in _pairs(e)]}
        _add_shapes(area, [text_of(e) for e in loose["polygon"]], [text_of(e) for e in loose["circle"]])
        for kind, text in georss:
            numbers = [float(n) for n in (text or "").split()]
            if kind == "polygon" and len(numbers) >= 8:
                area["polygons"].append([[numbers[i + 1], numbers[i]] for i in range(0, len(numbers) - 1, 2)])
            elif kind == "point" and len(numbers) == 2:
                area["circles"].append({"center": [numbers[1], numbers[0]], "radius_km": 0.0})
        areas.append(area)
    return areas


def _area_from(area_element, desc: str | None) -> dict:
    area = {"desc": desc, "polygons": [], "circles": [], "geocodes": []}
    polygons = [text_of(c) for c in area_element if local_name(c) == "polygon"]
    circles = [text_of(c) for c in area_element if local_name(c) == "circle"]
    _add_shapes(area, polygons, circles)
    for child in area_element:
        if local_name(child) == "geocode":
            area["geocodes"] += _pairs(child)
    return area


def _add_shapes(area: dict, polygons: list[str | None], circles: list[str | None]) -> None:
    # Index summaries are hints, not the alert: unreadable shapes (NWS's empty <cap:polygon/>) are skipped.
    for text in polygons:
        try:
            ring = polygon_lon_lat(text or "")
        except ValueError:
            continue
        if len(ring) >= 4:
            area["polygons"].append(ring)
    for text in circles:
        try:
            area["circles"].append(circle_lon_lat(text or ""))
        except ValueError:
            continue


def _swap_flags(entry: dict, author: str | None) -> list[dict]:
    hints = country_hints(entry["cap"].get("sender") or author,
                          geocodes=[g for a in entry["areas"] for g in a["geocodes"]])
    flags = []
    for i, area in enumerate(entry["areas"], 1):
        for j, circle in enumerate(area["circles"], 1):
            flag = swap_flag(f"{entry['path']}/area[{i}]/circle[{j}]", [tuple(circle["center"])], hints)
            if flag:
                flags.append(flag)
        for j, ring in enumerate(area["polygons"], 1):
            flag = swap_flag(f"{entry['path']}/area[{i}]/polygon[{j}]", [tuple(p) for p in ring], hints)
            if flag:
                flags.append(flag)
    return flags


def _atom_cap_url(entry) -> str | None:
    links = [(link.get("rel") or "alternate", link.get("type") or "", link.get("href"))
             for link in entry.findall(f"{{{ATOM_NS}}}link") if link.get("href")]
    for _rel, mime, href in links:
        if mime == CAP_MIME:
            return href
    for rel, mime, href in links:
        if rel == "alternate" and mime in ("", "application/xml", "text/xml", "application/atom+xml"):
            return href
    return None


def _embedded_alert(entry):
    content = _child(entry, "content")
    if content is None:
        return None
    return next((child for child in content if isinstance(child.tag, str) and is_cap(child)), None)


MISSING_CAP_LINK = "missing-cap-link"


def _missing_link_flag(path: str, detail: str) -> dict:
    return {"code": MISSING_CAP_LINK, "path": path, "detail": detail}


def _refusal(problems: list[Problem], entries: list[dict]) -> MessageInvalid:
    """The document's problems first, then the entries without a CAP link (the operator sees both)."""
    also = [Problem(f["path"], f"{f['detail']} ({MISSING_CAP_LINK})") for e in entries for f in e["flags"]
            if f["code"] == MISSING_CAP_LINK]
    return MessageInvalid(problems + also)


def _parse_atom(document: XmlDocument) -> ParsedMessage:
    feed = document.root
    message = ParsedMessage("atom", entries=[], notes=list(document.notes))
    problems = []
    if not text_of(_child(feed, "id")):
        problems.append(Problem("/feed", "<id> is required (ATOM_ID_IS_REQUIRED)"))
    author = text_of(feed.find(f"{{{ATOM_NS}}}author/{{{ATOM_NS}}}name"))
    for entry in feed.findall(f"{{{ATOM_NS}}}entry"):
        path = element_path(entry)
        entry_id = text_of(_child(entry, "id"))
        if not entry_id:
            problems.append(Problem(path, "<id> is required (ATOM_ENTRY_ID_IS_REQUIRED)"))
        cap = _cap_children(entry)
        record = {
            "id": entry_id,
            "path": path,
            "title": text_of(_child(entry, "title")),
            "updated": text_of(_child(entry, "updated")),
            "published": text_of(_child(entry, "published")),
            "cap_url": _atom_cap_url(entry),
            "summary": text_of(_child(entry, "summary")),
            "cap": {name: text_of(elements[0]) for name, elements in cap.items() if name in CAP_SUMMARY_FIELDS},
            "areas": _entry_areas(entry, cap),
        }
        if "message_type" in record["cap"]:  # MeteoAlarm's name for msgType
            record["cap"].setdefault("msgType", record["cap"].pop("message_type"))
        entry_author = text_of(entry.find(f"{{{ATOM_NS}}}author/{{{ATOM_NS}}}name"))
        record["flags"] = _swap_flags(record, entry_author or author)
        _attach_embedded(record, entry, document, message)
        if not record["cap_url"] and "alert" not in record and "error" not in record:
            record["flags"].append(_missing_link_flag(path, "entry has no <link> to a CAP message and no CAP "
                                                            "alert in its <content>: nothing to fetch"))
        message.entries.append(record)
    if problems:
        raise _refusal(problems, message.entries)
    stray = [child for child in feed if isinstance(child.tag, str) and is_cap(child)]
    if stray:
        message.notes.append({"code": "cap-outside-entry", "path": element_path(stray[0]),
                              "detail": f"{len(stray)} CAP <alert> placed directly under <feed>, outside any "
                                        "<entry>: not an entry, ignored"})
    return message


def _attach_embedded(record: dict, entry, document: XmlDocument, message: ParsedMessage) -> None:
    embedded = _embedded_alert(entry)
    if embedded is None:
        return
    try:
        parsed = parse_cap_element(embedded, document)
    except MessageInvalid as exc:
        record["error"] = str(exc)
        message.rejected.append(exc)
        return
    record["alert"] = parsed.alert
    message.alerts.append(parsed)


def _parse_rss(document: XmlDocument) -> ParsedMessage:
    channel = document.root.find("channel")
    if channel is None:
        raise MessageInvalid("/rss", "RSS needs a <channel>")
    message = ParsedMessage("rss", entries=[], notes=list(document.notes))
    problems = []
    if channel.find("pubDate") is None:
        message.notes.append({"code": "RSS_PUBDATE_IS_RECOMMENDED", "path": "/rss/channel",
                              "detail": "channel has no <pubDate>"})
    for item in channel.findall("item"):
        path = element_path(item)
        cap_link = text_of(item.find(f"{{{GDACS_NS}}}cap")) or text_of(item.find("link"))
        title, description = text_of(item.find("title")), text_of(item.find("description"))
        guid = text_of(item.find("guid"))
        if not (title or description):
            # An empty item is not an entry at all: refused, naming both gaps.
            if not cap_link:
                problems.append(Problem(path, "item has no <link> to a CAP message (RSS_ITEM_MISSING_CAP_LINK)"))
            problems.append(Problem(path, "item needs a <title> or <description> "
                                          "(RSS_ITEM_TITLE_OR_DESCRIPTION_IS_REQUIRED)"))
        if not guid:
            message.notes.append({"code": "RSS_ITEM_GUID_IS_RECOMMENDED", "path": path, "detail": "item has no <guid>"})
        cap = _cap_children(item)
        record = {"id": guid or cap_link, "path": path, "title": title, "updated": text_of(item.find("pubDate")),
                  "published": text_of(item.find("pubDate")), "cap_url": cap_link, "summary": description,
                  "cap": {name: text_of(e[0]) for name, e in cap.items() if name in CAP_SUMMARY_FIELDS},
                  "areas": _entry_areas(item, cap)}
        record["flags"] = _swap_flags(record, None)
        if not cap_link and (title or description):
            record["flags"].append(_missing_link_flag(path, "item has no <link> to a CAP message "
                                                            "(RSS_ITEM_MISSING_CAP_LINK): nothing to fetch"))
        message.entries.append(record)
    if problems:
        raise _refusal(problems, message.entries)
    return message
