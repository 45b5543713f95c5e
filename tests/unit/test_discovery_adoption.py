"""`discover --add PREFIX`: which devices become cameras, under which ids, and the notes."""

from __future__ import annotations

import pytest

from tests.unit.test_discovery_results import build, onvif_finding
from ucvd.discovery.adoption import Adopt, Skip, adoptions
from ucvd.discovery.onvif_client import OnvifDevice, OnvifStatus
from ucvd.discovery.onvif_soap import DeviceInfo
from ucvd.discovery.rtsp_probe import RtspAccess, RtspService, StreamAccess
from ucvd.discovery.scan import Finding

A, B, C = "192.0.2.11", "192.0.2.12", "192.0.2.13"


def rtsp_only(address: str) -> Finding:
    return Finding(address, rtsp=[RtspService(address, 554, RtspAccess.OPEN, None)])


def locked(address: str) -> Finding:
    """Answered WS-Discovery, but its ONVIF service wants credentials."""
    finding = onvif_finding(address)
    finding.onvif = OnvifDevice(OnvifStatus.NEEDS_CREDENTIALS, "401")
    return finding


def named(address: str, manufacturer: str | None, model: str | None) -> Finding:
    finding = onvif_finding(address, f"rtsp://{address}/main")
    assert finding.onvif is not None
    finding.onvif.info = DeviceInfo(manufacturer, model, None)
    return finding


Step = tuple[str, ...]
CASES: list[tuple[str, list[Finding], dict[str, str], set[str], str | None, list[Step]]] = [
    (
        "the main stream, with the operator's credentials",
        [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://{A}/sub")],
        {}, set(), "admin",
        [("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "without them, the credentials the device put in the URI",
        [onvif_finding(A, f"rtsp://viewer:view@{A}:8554/main")],
        {}, set(), None,
        [("add", A, "lobby-1", f"rtsp://{A}:8554/main", "viewer", "view", "Acme C1")],
    ),
    (
        "ids taken are skipped; the numbers go on past them",
        [onvif_finding(a, f"rtsp://{a}/main") for a in (A, B, C)],
        {}, {"lobby-1", "lobby-3"}, "admin",
        [("add", A, "lobby-2", f"rtsp://{A}/main", "admin", "pw", "Acme C1"),
         ("add", B, "lobby-4", f"rtsp://{B}/main", "admin", "pw", "Acme C1"),
         ("add", C, "lobby-5", f"rtsp://{C}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "a camera already at the address: left alone, silently",
        [onvif_finding(A, f"rtsp://{A}/main")],
        {"gate": f"rtsp://{A}/other"}, set(), "admin",
        [],
    ),
    (
        "a stream already registered (on another host): left alone, silently",
        [onvif_finding(A, f"rtsp://{B}/main")],
        {"gate": f"rtsp://{B}/main"}, set(), "admin",
        [],
    ),
    (
        "a stream on another host would get the credentials: not added",
        [onvif_finding(A, f"rtsp://{B}/main")],
        {}, set(), "admin",
        [("note", A, f"{A} not added (its stream is on another host)")],
    ),
    (
        "a stream that refused the credentials: not added; the next gets the first id",
        [onvif_finding(A, f"rtsp://{A}/main", access=StreamAccess.CREDENTIALS_REFUSED),
         onvif_finding(B, f"rtsp://{B}/main", access=StreamAccess.CREDENTIALS_ACCEPTED)],
        {}, set(), "admin",
        [("note", A, f"{A} not added (its stream refused the credentials)"),
         ("add", B, "lobby-1", f"rtsp://{B}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "an RTSP server without ONVIF: its stream path is unknown",
        [rtsp_only(A)],
        {}, set(), "admin",
        [("note", A, f"{A} not added (no ONVIF: its stream path is unknown)")],
    ),
    (
        "ONVIF that would not say: its status is the reason",
        [locked(A)],
        {}, set(), None,
        [("note", A, f"{A} not added (needs_credentials)")],
    ),
    (
        "a host with no camera trait: nothing to say",
        [Finding(A)],
        {}, set(), "admin",
        [],
    ),
    (
        "a URI that is no stream URL: the reason in the note",
        [onvif_finding(A, f"rtsp://{A}:99999/main")],
        {}, set(), "admin",
        [("note", A, f"{A} not added: stream URL has an invalid port")],
    ),
    (
        "the device's words as the name, printable and bounded",
        [named(A, "Ac\x1bme\n", "X" * 300), named(B, None, "C2"), named(C, None, None)],
        {}, set(), "admin",
        [("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", ("Acme " + "X" * 300)[:200]),
         ("add", B, "lobby-2", f"rtsp://{B}/main", "admin", "pw", "C2"),
         ("add", C, "lobby-3", f"rtsp://{C}/main", "admin", "pw", "")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("findings", "cameras", "taken", "username", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_adoptions(
    findings: list[Finding],
    cameras: dict[str, str],
    taken: set[str],
    username: str | None,
    expected: list[Step],
) -> None:
    result = build(findings, cameras)
    password = "pw" if username else None
    steps = adoptions(
        "lobby",
        result.devices,
        {f.address: f for f in findings},
        taken | set(cameras),
        username=username,
        password=password,
    )
    got: list[Step] = []
    for step in steps:
        if isinstance(step, Skip):
            got.append(("note", step.address, step.note))
        else:
            c = step.camera
            assert step.device.address in {f.address for f in findings}
            got.append(
                ("add", step.device.address, c.id, c.url, c.username or "", c.password or "",
                 c.name)
            )  # fmt: skip
    assert got == expected


def test_the_device_to_mark_is_the_one_in_the_result() -> None:
    findings = [onvif_finding(A, f"rtsp://{A}/main")]
    result = build(findings)
    (step,) = adoptions("lobby", result.devices, {A: findings[0]}, set(), username=None,
                        password=None)  # fmt: skip
    assert isinstance(step, Adopt) and step.device is result.devices[0]
