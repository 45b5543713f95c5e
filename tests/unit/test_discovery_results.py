"""A scan's findings as the operator sees them: ordered, redacted, matched to cameras."""

from __future__ import annotations

import ipaddress

from ucvctl import render
from ucvd.discovery import results
from ucvd.discovery.onvif_client import OnvifDevice, OnvifStatus, StreamProfile
from ucvd.discovery.onvif_soap import DeviceInfo, Profile
from ucvd.discovery.rtsp_probe import RtspAccess, RtspService, StreamAccess
from ucvd.discovery.scan import Finding, Plan, Report
from ucvd.discovery.wsdiscovery import ProbeMatch

SECRET = "Tr0ub4dor&3"
PLAN = Plan(
    interface=("eth0", ipaddress.IPv4Interface("192.0.2.10/24")),
    subnet=ipaddress.IPv4Network("192.0.2.0/24"),
    ports=(554, 8554),
    timeout=5.0,
    credentials=None,
)


def onvif_finding(address: str, *uris: str, access: StreamAccess | None = None) -> Finding:
    profiles = [
        StreamProfile(Profile(f"p{i}", f"P{i}", "H264", 1280, 720), uri, access)
        for i, uri in enumerate(uris)
    ]
    return Finding(
        address=address,
        match=ProbeMatch(
            endpoint=f"urn:uuid:{address}",
            xaddrs=(f"http://{address}/onvif/device_service",),
            scopes=("onvif://www.onvif.org/name/Gate",),
            types=("NetworkVideoTransmitter",),
        ),
        onvif=OnvifDevice(OnvifStatus.OK, info=DeviceInfo("Acme", "C1", "1.2"), profiles=profiles),
        rtsp=[RtspService(address, 554, RtspAccess.OPEN, "cam")],
    )


def build(findings: list[Finding], cameras: dict[str, str] | None = None, complete: bool = True):  # type: ignore[no-untyped-def]
    report = Report({f.address: f for f in findings}, probed=508, complete=complete, seconds=2.5)
    return results.build(PLAN, report, cameras or {}, [SECRET])


def test_devices_are_sorted_by_address_numerically() -> None:
    found = build([Finding("192.0.2.100"), Finding("192.0.2.9"), Finding("192.0.2.20")])
    assert [d.address for d in found.devices] == ["192.0.2.9", "192.0.2.20", "192.0.2.100"]


def test_stream_uris_are_redacted() -> None:
    found = build([
        onvif_finding("192.0.2.11", f"rtsp://admin:{SECRET}@192.0.2.11/s0",
                      f"rtsp://192.0.2.11/s1?user=admin&password={SECRET}"),
    ])  # fmt: skip
    uris = [s.uri for s in found.devices[0].streams]
    assert uris == [
        "rtsp://admin:***@192.0.2.11/s0",
        "rtsp://192.0.2.11/s1?user=admin&password=***",
    ]
    assert SECRET not in render.discovery_table(found)


def test_errors_are_redacted_too() -> None:
    finding = Finding("192.0.2.12", onvif=OnvifDevice(OnvifStatus.ERROR, f"echoed {SECRET}"))
    assert build([finding]).devices[0].onvif_error == "echoed ***"


def test_registered_cameras_are_recognised_by_stream_and_address() -> None:
    cameras = {
        "gate": "rtsp://192.0.2.11:554/s0",  # the same stream: default port made explicit
        "other": "rtsp://192.0.2.99/s0",
    }
    found = build([onvif_finding("192.0.2.11", "rtsp://u:p@192.0.2.11/s0", "rtsp://192.0.2.11/s1")],
                  cameras)  # fmt: skip
    device = found.devices[0]
    assert device.registered == ["gate"]
    assert [s.registered_as for s in device.streams] == ["gate", None]


def test_a_stream_that_asked_for_credentials_marks_its_port() -> None:
    found = build([onvif_finding("192.0.2.11", "rtsp://192.0.2.11/s0",
                                 access=StreamAccess.CREDENTIALS_ACCEPTED)])  # fmt: skip
    device = found.devices[0]
    assert [(r.port, r.access) for r in device.rtsp] == [(554, "needs_credentials")]
    assert device.streams[0].rtsp_access == "credentials_accepted"
    open_stream = build([onvif_finding("192.0.2.11", "rtsp://192.0.2.11/s0",
                                       access=StreamAccess.OPEN)])  # fmt: skip
    assert [r.access for r in open_stream.devices[0].rtsp] == ["open"]


def test_notes_say_what_was_not_done() -> None:
    cut = build([], complete=False)
    assert cut.complete is False
    assert cut.notes == ["the 5s timeout cut the scan short; results are partial"]
    report = Report({}, probed=0, complete=True, seconds=1.0)
    bare = results.build(
        Plan(interface=None, subnet=None, ports=(554,), timeout=2.0, credentials=None), report, {}
    )
    assert bare.notes == [
        "no WS-Discovery: no interface is on the subnet",
        "no RTSP sweep: name a subnet (--subnet) to sweep it",
    ]
    assert bare.ports == []


def test_table_shows_device_profiles_and_summary() -> None:
    text = render.discovery_table(build([
        onvif_finding("192.0.2.11", "rtsp://192.0.2.11/s0", access=StreamAccess.OPEN),
        Finding("192.0.2.13", rtsp=[RtspService("192.0.2.13", 8554, RtspAccess.OPEN, None)]),
    ]))  # fmt: skip
    lines = text.splitlines()
    assert lines[0].split() == ["ADDRESS", "DEVICE", "ONVIF", "RTSP", "REGISTERED"]
    assert lines[1].startswith("192.0.2.11") and "Acme C1 (fw 1.2)" in lines[1]
    assert "P0  H264  1280x720  rtsp://192.0.2.11/s0  (open)" in lines[2]
    assert lines[3].startswith("192.0.2.13") and "8554 open" in lines[3]
    assert "2 found (1 ONVIF) in 2.5s" in text
    assert "swept 192.0.2.0/24 on ports 554, 8554 (508 probes)" in text
