"""The prototype MediaMTX engine's pure part (tests/prototypes/mtxengine/plan.py): the site
server's configuration, a camera's path, and the site's log lines read as faults. The lines
are MediaMTX v1.20.1's and gortsplib's own wording (seen in the integration test's runs and
read in internal/staticsources/handler.go, internal/forward/dest_handler.go)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.prototypes.mtxengine.plan import (
    Unsupported,
    dest_fault,
    parse_line,
    password_hash,
    path_config,
    site_config,
    source_fault,
)
from ucvd.domain.audio import AudioPolicy
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, CameraOptions, Target, Transport

CAMERA = Camera(id="door", url="rtsp://192.0.2.10:554/live", username="admin", password="c@m!")
TARGET = Target(
    name="central",
    rtsp_url="rtsp://198.51.100.5:8554",
    api_url="http://198.51.100.5:9997",
    username="pub",
    password="p&ss",
)


def test_site_listens_only_on_a_loopback_api_with_a_hashed_password() -> None:
    config = site_config(api_port=40001, api_password="s3cret")
    assert config["apiAddress"] == "127.0.0.1:40001"
    for server in ("rtsp", "rtmp", "hls", "webrtc", "srt", "moq", "playback", "metrics", "pprof"):
        assert config[server] is False, server
    [user] = config["authInternalUsers"]
    assert user["permissions"] == [{"action": "api"}]
    assert "s3cret" not in str(config)
    digest = base64.b64encode(hashlib.sha256(b"s3cret").digest()).decode()
    assert user["pass"] == password_hash("s3cret") == f"sha256:{digest}"
    assert config["paths"] == {}


def test_a_camera_path_pulls_for_good_and_forwards_with_credentials() -> None:
    body = path_config(CAMERA, TARGET)
    assert body["source"] == "rtsp://admin:c%40m%21@192.0.2.10:554/live"
    assert body["sourceOnDemand"] is False
    assert body["rtspTransport"] == "tcp"
    assert body["forward"] == [{"dest": "rtsp://pub:p%26ss@198.51.100.5:8554/camera_door"}]
    udp = Camera(id="u", url=CAMERA.url, options=CameraOptions(transport=Transport.UDP))
    assert path_config(udp, TARGET)["rtspTransport"] == "udp"


def test_a_pinned_rtsps_target_passes_its_fingerprint() -> None:
    pin = "ab" * 32
    target = Target(name="t", rtsp_url="rtsps://198.51.100.5:8322", tls_fingerprint=pin)
    assert path_config(CAMERA, target)["forward"][0]["destFingerprint"] == pin


@pytest.mark.parametrize(
    ("camera", "target", "why"),
    [
        (CAMERA, Target(name="t", rtsp_url="srt://198.51.100.5:8890"), "srt"),
        (CAMERA, Target(name="t", rtsp_url="rtsps://198.51.100.5:8322"), "fingerprint"),
        (
            Camera(id="d", url=CAMERA.url, options=CameraOptions(audio=AudioPolicy.DROP)),
            TARGET,
            "audio",
        ),
        (
            Camera(id="a", url=CAMERA.url, options=CameraOptions(audio=AudioPolicy.AAC)),
            TARGET,
            "audio",
        ),
    ],
)
def test_what_it_cannot_do_is_refused(camera: Camera, target: Target, why: str) -> None:
    with pytest.raises(Unsupported, match=why):
        path_config(camera, target)


def test_log_lines_by_path_and_side() -> None:
    src = parse_line(
        "2026/12/02 07:05:53 ERR [path camera_a] [RTSP source] dial tcp 127.0.0.1:1: "
        "connect: connection refused"
    )
    assert src is not None and (src.path, src.side, src.error) == ("camera_a", "source", True)
    assert src.message.endswith("connection refused")
    dest = parse_line("2026/12/02 07:05:53 ERR [path camera_a] [RTSP dest 1 0a1b2c3d] EOF")
    assert dest is not None and (dest.side, dest.error, dest.message) == ("dest", True, "EOF")
    info = parse_line("2026/12/02 07:05:53 INF [path camera_a] [RTSP source] started")
    assert info is not None and not info.error
    assert parse_line("2026/12/02 07:05:52 INF [API] started with listener on 127.0.0.1:1") is None
    assert parse_line("not a MediaMTX line") is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("dial tcp 192.0.2.10:554: connect: connection refused", ErrorKind.CONNECTION_FAILED),
        ("dial tcp 192.0.2.10:554: i/o timeout", ErrorKind.CONNECTION_FAILED),
        ("EOF", ErrorKind.CONNECTION_FAILED),
        ("bad status code: 401 (Unauthorized)", ErrorKind.AUTH_FAILED),
        ("bad status code: 404 (Not Found)", ErrorKind.STREAM_UNAVAILABLE),
        ("TCP timeout", ErrorKind.STREAM_STALLED),
        ("invalid SDP: something", ErrorKind.STREAM_UNAVAILABLE),
    ],
)
def test_source_errors_are_camera_kinds(message: str, kind: ErrorKind) -> None:
    assert source_fault(message).kind is kind


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("dial tcp 198.51.100.5:8554: connect: connection refused", ErrorKind.MEDIAMTX_UNREACHABLE),
        ("bad status code: 401 (Unauthorized)", ErrorKind.MEDIAMTX_REJECTED),
        ("bad status code: 400 (Bad Request)", ErrorKind.MEDIAMTX_REJECTED),
        ("server fingerprint does not match", ErrorKind.CERTIFICATE_REJECTED),
        ("EOF", ErrorKind.MEDIAMTX_CLOSED),
    ],
)
def test_forward_errors_are_target_kinds(message: str, kind: ErrorKind) -> None:
    assert dest_fault(message).kind is kind


def test_fault_messages_are_redacted() -> None:
    fault = source_fault("bad status code: 401 for rtsp://admin:c@m!@192.0.2.10/x", ("c@m!",))
    assert "c@m!" not in fault.message
