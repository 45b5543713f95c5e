"""Reading SOAP from devices on the LAN: bounded, no DTDs, namespaces matched loosely. Pure.

Replies come from whatever answers on the network, so they are untrusted. SOAP 1.2 forbids
a document type declaration, so any document carrying one is refused before parsing: no
entity can be declared, let alone expanded. Devices disagree on namespace versions and
prefixes, so elements are found by local name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

MAX_DOCUMENT = 256 * 1024


class BadXML(ValueError):
    pass


def parse(data: bytes) -> ET.Element:
    if len(data) > MAX_DOCUMENT:
        raise BadXML(f"document larger than {MAX_DOCUMENT} bytes")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise BadXML("document type declarations are not allowed in SOAP")
    try:
        return ET.fromstring(data)  # noqa: S314 (no DTD can reach here)
    except ET.ParseError as exc:
        raise BadXML(f"not well-formed XML: {exc}") from None


def local(tag: str) -> str:
    """`{namespace}Name` -> `Name`."""
    return tag.rsplit("}", 1)[-1]


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if local(child.tag) == name]


def descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in element.iter() if local(el.tag) == name]


def first(element: ET.Element, *path: str) -> ET.Element | None:
    """Follow `path` of local names, child by child; the first match at each step."""
    current: ET.Element | None = element
    for name in path:
        if current is None:
            return None
        found = children(current, name)
        current = found[0] if found else None
    return current


def text(element: ET.Element | None, *path: str) -> str | None:
    if element is None:
        return None
    found = first(element, *path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def deep_text(element: ET.Element, name: str) -> str | None:
    """The text of the first descendant with this local name, wherever it sits."""
    for el in descendants(element, name):
        if el.text and el.text.strip():
            return el.text.strip()
    return None
