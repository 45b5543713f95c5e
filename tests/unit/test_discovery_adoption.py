"""`discover --add PREFIX`: which devices become cameras, under which ids, and the notes."""

from __future__ import annotations

import dataclasses

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


def sub_refused(address: str) -> Finding:
    """Its main stream took the credentials, its sub stream refused them."""
    finding = onvif_finding(address, f"rtsp://{address}/main", f"rtsp://{address}/sub",
                            access=StreamAccess.CREDENTIALS_ACCEPTED)  # fmt: skip
    assert finding.onvif is not None
    sub = finding.onvif.profiles[1]
    finding.onvif.profiles[1] = dataclasses.replace(sub, access=StreamAccess.CREDENTIALS_REFUSED)
    return finding


Step = tuple[str, ...]
CASES: list[tuple[str, list[Finding], dict[str, str], set[str], str | None, list[Step]]] = [
    (
        "the main stream, with the operator's credentials",
        [onvif_finding(A, f"rtsp://{A}/main")],
        {}, set(), "admin",
        [("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "two profiles: the main and its sub stream, linked, the same credentials",
        [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://{A}/sub", f"rtsp://{A}/third")],
        {}, set(), "admin",
        [("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1",
          "lobby-1-sub", f"rtsp://{A}/sub")],
    ),
    (
        "without the operator's credentials the sub's URL keeps the device's own",
        [onvif_finding(A, f"rtsp://v:1@{A}/main", f"rtsp://w:2@{A}/sub")],
        {}, set(), None,
        [("add", A, "lobby-1", f"rtsp://{A}/main", "v", "1", "Acme C1",
          "lobby-1-sub", f"rtsp://w:2@{A}/sub")],
    ),
    (
        "two profiles of the same stream: one camera",
        [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://u:p@{A}/main")],
        {}, set(), "admin",
        [("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "a sub stream on another host: the main alone, and a note",
        [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://{B}/sub")],
        {}, set(), "admin",
        [("note", A, f"{A}: sub stream not added (its stream is on another host)"),
         ("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "a sub stream that refused the credentials: the main alone, and a note",
        [sub_refused(A)],
        {}, set(), "admin",
        [("note", A, f"{A}: sub stream not added (its stream refused the credentials)"),
         ("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "a sub stream without a URI, or with a bad one: a note",
        [onvif_finding(A, f"rtsp://{A}/main", None),  # type: ignore[arg-type]
         onvif_finding(B, f"rtsp://{B}/main", f"rtsp://{B}:99999/sub")],
        {}, set(), "admin",
        [("note", A, f"{A}: sub stream not added (no stream URI)"),
         ("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1"),
         ("note", B, f"{B}: sub stream not added (stream URL has an invalid port)"),
         ("add", B, "lobby-2", f"rtsp://{B}/main", "admin", "pw", "Acme C1")],
    ),
    (
        "the sub's id taken: the main alone, and a note",
        [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://{A}/sub")],
        {}, {"lobby-1-sub"}, "admin",
        [("note", A, f"{A}: sub stream not added (the id lobby-1-sub is taken)"),
         ("add", A, "lobby-1", f"rtsp://{A}/main", "admin", "pw", "Acme C1")],
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
            sub: Step = ()
            if c.sub_url is not None:
                assert c.sub_id is not None and step.sub_stream == 1
                sub = (c.sub_id, c.sub_url)
            else:
                assert c.sub_id is None and step.sub_stream is None
            got.append(
                ("add", step.device.address, c.id, c.url, c.username or "", c.password or "",
                 c.name, *sub)
            )  # fmt: skip
    assert got == expected


def test_a_sub_stream_id_too_long_is_a_note() -> None:
    prefix = "p" * 59  # p...-1 fits in 63 characters; p...-1-sub does not
    findings = [onvif_finding(A, f"rtsp://{A}/main", f"rtsp://{A}/sub")]
    result = build(findings)
    note, add = adoptions(prefix, result.devices, {A: findings[0]}, set(), username=None,
                          password=None)  # fmt: skip
    assert isinstance(note, Skip) and isinstance(add, Adopt)
    assert (
        note.note == f"{A}: sub stream not added (the id {prefix}-1-sub would be longer "
        "than 63 characters)"
    )
    assert add.camera.id == f"{prefix}-1" and add.camera.sub_url is None


def test_the_device_to_mark_is_the_one_in_the_result() -> None:
    findings = [onvif_finding(A, f"rtsp://{A}/main")]
    result = build(findings)
    (step,) = adoptions("lobby", result.devices, {A: findings[0]}, set(), username=None,
                        password=None)  # fmt: skip
    assert isinstance(step, Adopt) and step.device is result.devices[0]
