"""Hardened XML reading for agency feeds (docs/architecture.md).

Strict where safety needs it: no DTD, no entities, no XInclude, no network, a body cap checked before
any parsing, so a billion-laughs document is refused in microseconds. Lenient where real feeds need it:
a BOM, an ISO-8859-1 declaration, and Latin-1 bytes under a UTF-8 declaration (recovered, and noted).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from lxml import etree

from alerts.reading.errors import BodyTooLarge, MessageInvalid, Problem

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

# Everything that may stand before the root element: XML declaration, PIs, comments, whitespace.
_PROLOG_DOCTYPE = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.S)
_DECLARED_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass
class XmlDocument:
    root: etree._Element
    notes: list[dict] = field(default_factory=list)  # e.g. {"code": "encoding-recovered", ...}


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe and the web server parses in threads.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, collect_ids=False, remove_comments=True)


def check_size(raw: bytes, max_bytes: int | None) -> None:
    limit = max_bytes or DEFAULT_MAX_BYTES
    if len(raw) > limit:
        raise BodyTooLarge(len(raw), limit)


def _latin1_fallback(error: UnicodeDecodeError):
    # Producers that write Latin-1 (or cp1252) bytes into a file they declare as UTF-8.
    return error.object[error.start:error.end].decode("cp1252", errors="replace"), error.end


codecs.register_error("haven-latin1-fallback", _latin1_fallback)


def _recover_mixed_encoding(raw: bytes) -> tuple[bytes, dict] | None:
    try:
        raw.decode("utf-8")
        return None  # valid UTF-8: the syntax error has another cause
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = raw.decode("utf-8", errors="haven-latin1-fallback")
    note = {"code": "encoding-recovered", "path": "/",
            "detail": f"declared UTF-8 but holds non-UTF-8 bytes (first at byte {first_bad}); "
                      "decoded them as Latin-1/cp1252"}
    return text.encode("utf-8"), note


def parse_xml(raw: bytes, max_bytes: int | None = None) -> XmlDocument:
    """Parse untrusted XML or raise MessageInvalid naming the reason; never fetches anything."""
    check_size(raw, max_bytes)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raw = raw.decode("utf-16").encode("utf-8")
        raw = re.sub(rb"""(<\?xml[^>]*encoding\s*=\s*["'])[Uu][Tt][Ff]-?16(["'])""", rb"\1UTF-8\2", raw, count=1)
    if _PROLOG_DOCTYPE.match(raw):
        raise MessageInvalid("/", "document type declarations (DTD, entities) are refused for safety; "
                                  "nothing was resolved or fetched")
    notes: list[dict] = []
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        declared = _DECLARED_ENCODING.match(raw)
        utf8_declared = declared is None or declared.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8")
        recovered = _recover_mixed_encoding(raw) if utf8_declared else None
        if recovered is None:
            raise MessageInvalid("/", f"not well-formed XML: {exc}") from None
        fixed, note = recovered
        try:
            root = etree.fromstring(fixed, _parser())
        except etree.XMLSyntaxError as again:
            raise MessageInvalid("/", f"not well-formed XML: {again}") from None
        notes.append(note)
    except ValueError as exc:  # e.g. a str with an encoding declaration; bytes are expected
        raise MessageInvalid("/", f"not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise MessageInvalid("/", "document type declarations (DTD, entities) are refused for safety")
    for _entity in root.iter(etree.Entity):
        raise MessageInvalid("/", "entity references are refused for safety; nothing was resolved")
    return XmlDocument(root, notes)


def local_name(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace_of(element: etree._Element) -> str | None:
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return None


def element_path(element: etree._Element, stop: etree._Element | None = None) -> str:
    """/alert/info[1]/area[2]/polygon: local names, 1-based index where siblings share a name."""
    parts = []
    node = element
    while node is not None and isinstance(node.tag, str):
        parent = node.getparent()
        name = local_name(node)
        if parent is not None and node is not stop:
            same = [s for s in parent if isinstance(s.tag, str) and local_name(s) == name]
            if len(same) > 1 or name in ("info", "area", "entry", "item", "resource"):
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        if node is stop:
            break
        node = parent
    return "/" + "/".join(reversed(parts))


def text_of(element: etree._Element | None) -> str | None:
    """Whole text content (CDATA included), outer whitespace stripped; None when absent."""
    if element is None:
        return None
    return "".join(element.itertext()).strip()


def problem_at(element: etree._Element, reason: str, prefix: str = "") -> Problem:
    return Problem(prefix + element_path(element), reason)
