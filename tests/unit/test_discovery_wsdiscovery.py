"""WS-Discovery messages: our Probe, and which replies count as matches."""

from __future__ import annotations

import pytest

from ucvd.discovery import xmltext
from ucvd.discovery.wsdiscovery import ProbeMatch, parse_probe_matches, probe_message, xaddrs_on

MID = "urn:uuid:0f5d604c-81ac-4abc-8010-51dbffad55f2"


def reply(
    relates_to: str = MID,
    types: str = "dn:NetworkVideoTransmitter tds:Device",
    xaddrs: str = "http://192.0.2.11/onvif/device_service",
    endpoint: str = "urn:uuid:cam-1",
    scopes: str = "onvif://www.onvif.org/name/Front%20Door onvif://www.onvif.org/hardware/X1",
) -> bytes:
    return f"""<?xml version="1.0"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery">
<SOAP-ENV:Header><wsa:RelatesTo>{relates_to}</wsa:RelatesTo></SOAP-ENV:Header>
<SOAP-ENV:Body><wsd:ProbeMatches><wsd:ProbeMatch>
<wsa:EndpointReference><wsa:Address>{endpoint}</wsa:Address></wsa:EndpointReference>
<wsd:Types>{types}</wsd:Types><wsd:Scopes>{scopes}</wsd:Scopes>
<wsd:XAddrs>{xaddrs}</wsd:XAddrs><wsd:MetadataVersion>1</wsd:MetadataVersion>
</wsd:ProbeMatch></wsd:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>""".encode()


def test_probe_asks_for_video_transmitters_with_our_message_id() -> None:
    root = xmltext.parse(probe_message(MID))
    assert xmltext.text(root, "Header", "MessageID") == MID
    assert xmltext.text(
        root,
        "Header",
        "Action",
    ) == ("http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe")
    assert xmltext.text(root, "Body", "Probe", "Types") == "dn:NetworkVideoTransmitter"


def test_a_match_gives_endpoint_addresses_and_scopes() -> None:
    [match] = parse_probe_matches(reply(), MID)
    assert match.endpoint == "urn:uuid:cam-1"
    assert match.xaddrs == ("http://192.0.2.11/onvif/device_service",)
    assert match.scope("name") == "Front Door"
    assert match.scope("hardware") == "X1"
    assert match.scope("location") is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (reply(relates_to="urn:uuid:someone-else"), "a reply to another client's Probe"),
        (reply(types="dn:NetworkVideoDisplay"), "not a video transmitter"),
        (reply(xaddrs=""), "no service address"),
        (reply(endpoint=""), "no endpoint"),
        (b"<not xml", "garbage"),
        (b"", "empty"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
            "a DTD (forbidden in SOAP; never parsed)",
        ),
        (probe_message(MID), "another client's Probe (no ProbeMatches)"),
    ],
)
def test_replies_that_are_not_matches_to_our_probe_are_ignored(data: bytes, why: str) -> None:
    assert parse_probe_matches(data, MID) == [], why


def test_several_addresses_are_kept_in_order() -> None:
    [match] = parse_probe_matches(
        reply(xaddrs="http://192.0.2.11/onvif/device_service http://[fe80::1]/onvif"), MID
    )
    assert len(match.xaddrs) == 2


def test_only_service_addresses_on_the_answering_host_are_followed() -> None:
    match = ProbeMatch(
        endpoint="urn:uuid:x",
        xaddrs=(
            "http://169.254.169.254/latest/meta-data",  # elsewhere: never
            "ftp://192.0.2.11/onvif",  # not http
            "http://192.0.2.11:8080/onvif/device_service",
            "https://192.0.2.11/onvif/device_service",
        ),
        scopes=(),
        types=("NetworkVideoTransmitter",),
    )
    assert xaddrs_on(match, "192.0.2.11") == [
        "http://192.0.2.11:8080/onvif/device_service",
        "https://192.0.2.11/onvif/device_service",
    ]
    assert xaddrs_on(match, "192.0.2.99") == []


def test_oversized_documents_are_refused() -> None:
    with pytest.raises(xmltext.BadXML, match="larger than"):
        xmltext.parse(b"<a>" + b"x" * xmltext.MAX_DOCUMENT + b"</a>")
