"""ONVIF WS-Discovery (WS-Discovery 2005/04, as ONVIF profiles it): the Probe a client
multicasts and the ProbeMatch replies devices send back. Pure: bytes in, values out.

Only `NetworkVideoTransmitter` devices are asked for. A reply is kept only when it answers
our Probe (`RelatesTo` is our `MessageID`), so another client's traffic on the LAN never
adds devices to our scan.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ucvd.discovery import xmltext
from ucvd.discovery.xmltext import BadXML

MULTICAST_GROUP = "239.255.255.250"
PORT = 3702
NVT = "NetworkVideoTransmitter"

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" \
xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:MessageID>{message_id}</a:MessageID>
<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
</s:Header>
<s:Body>
<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>
</s:Body>
</s:Envelope>
"""


@dataclass(frozen=True)
class ProbeMatch:
    """One device as it describes itself: endpoint id, service addresses, scopes."""

    endpoint: str  # EndpointReference/Address, typically urn:uuid:...
    xaddrs: tuple[str, ...]  # device service URLs, e.g. http://192.0.2.11/onvif/device_service
    scopes: tuple[str, ...]
    types: tuple[str, ...]

    def scope(self, kind: str) -> str | None:
        """`onvif://www.onvif.org/<kind>/<value>` -> value (percent-decoded), if present."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        for scope in self.scopes:
            if scope.lower().startswith(prefix):
                return urllib.parse.unquote(scope[len(prefix) :]) or None
        return None


def probe_message(message_id: str) -> bytes:
    return _PROBE.format(message_id=message_id).encode()


def _qname_locals(value: str | None) -> tuple[str, ...]:
    return tuple(item.rsplit(":", 1)[-1] for item in (value or "").split())


def parse_probe_matches(data: bytes, message_id: str) -> list[ProbeMatch]:
    """The matches in one reply to our Probe; [] for anything else (other clients' Probes,
    Hello/Bye announcements, replies to someone else's Probe, garbage)."""
    try:
        root = xmltext.parse(data)
    except BadXML:
        return []
    if xmltext.local(root.tag) != "Envelope":
        return []
    relates_to = xmltext.text(root, "Header", "RelatesTo")
    if relates_to != message_id:
        return []
    body = xmltext.first(root, "Body", "ProbeMatches")
    if body is None:
        return []
    found: list[ProbeMatch] = []
    for match in xmltext.children(body, "ProbeMatch"):
        endpoint = xmltext.text(match, "EndpointReference", "Address")
        types = _qname_locals(xmltext.text(match, "Types"))
        xaddrs = tuple((xmltext.text(match, "XAddrs") or "").split())
        if not endpoint or not xaddrs or (types and NVT not in types):
            continue
        scopes = tuple((xmltext.text(match, "Scopes") or "").split())
        found.append(ProbeMatch(endpoint=endpoint, xaddrs=xaddrs, scopes=scopes, types=types))
    return found


def xaddrs_on(match: ProbeMatch, host: str) -> list[str]:
    """The service addresses that point at the host the reply came from.

    A reply is unauthenticated UDP; following an address elsewhere would let anything on
    the LAN send us (and our credentials) to any host. Only http(s) URLs count.
    """
    kept: list[str] = []
    for xaddr in match.xaddrs:
        parts = urllib.parse.urlsplit(xaddr)
        if parts.scheme in ("http", "https") and parts.hostname == host:
            kept.append(xaddr)
    return kept
