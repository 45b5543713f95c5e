"""RTSPS to the centre, verified: a real MediaMTX with `encryption: strict` and its own
certificate, the real ucvd and ucvctl, a simulated camera.

ucvd publishes through its own TLS link (ucvd/relay/tlslink.py), since FFmpeg's RTSPS does
not check certificates (a test below shows it on this machine's FFmpeg). A certificate is
trusted through a CA file or a pinned fingerprint; any other is refused with
`certificate_rejected`, and nothing of the stream or the password is sent.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import tls
from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, secrets_of_lab
from tests.harness.mediamtx import Central
from tests.harness.tools import ffmpeg_under_test
from tests.harness.waiting import wait_until


def wait_error(d: Ucvd, camera_id: str, kind: str, timeout: float = 30.0) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal seen
        seen = d.status(camera_id)
        error = seen.get("last_error") or {}
        return bool(error.get("kind") == kind)

    wait_until(
        reached, timeout=timeout, interval=0.2,
        what=lambda: f"{camera_id}'s error to be {kind} (now {seen.get('last_error')})",
    )  # fmt: skip
    error: dict[str, Any] = seen["last_error"]
    return error


def served(central: Central, path: str) -> list[str]:
    """The tracks the central serves on `path` once it is online, from its API."""
    api = central.server.api
    wait_until(lambda: api.path_ready(path), timeout=30, what=f"{path} to be online")
    return api.tracks(path)


def no_publisher_ever(central: Central) -> None:
    """Nothing reached MediaMTX's RTSP layer: no session was ever made, so no ANNOUNCE (and
    so no password) was sent."""
    log = central.server.log_tail(400)
    assert "[session" not in log, log
    assert _rtsps_sessions(central) == []


def _rtsps_sessions(central: Central) -> list[dict[str, Any]]:
    return central.server.api._list("/v3/rtspssessions/list")


def test_a_ca_signed_and_a_pinned_certificate_are_trusted_and_the_stream_arrives(
    make_ucvd: Callable[..., Ucvd], make_central: Callable[..., Central], cameras: CameraFarm,
    tmp_path: Path, open_dir: Path,
) -> None:  # fmt: skip
    authority = tls.ca(open_dir)
    authority.cert.chmod(0o644)
    by_ca = make_central(tls=tls.signed(authority, tmp_path / "pki", "mtx", ("127.0.0.1",)))
    pinned_cert = tls.self_signed(tmp_path / "pki", "selfsigned")
    pinned = make_central(tls=pinned_cert, anonymous_read=True)  # so pictures come from it
    d = make_ucvd().start()
    # A CA file the daemon cannot use is refused when it is given, not at the first attempt.
    refused = add_target(d, by_ca, "by-ca", "--ca-file", str(open_dir / "missing.pem"))
    assert refused.code != 0
    assert f"cannot use the TLS CA file {open_dir / 'missing.pem'}" in refused.stderr
    # ... and in a site file, before anything is applied.
    site = tmp_path / "site.toml"
    site.write_text(f'active_target = "by-ca"\n[targets.by-ca]\n'
                    f'rtsp_url = "rtsps://127.0.0.1:8322"\n'
                    f'tls_ca_file = "{open_dir / "missing.pem"}"\n')  # fmt: skip
    applied = d.ctl("apply", "-f", str(site))
    assert applied.code != 0, applied.stdout
    assert f"cannot use the TLS CA file {open_dir / 'missing.pem'}" in applied.stderr
    assert d.ctl_json("target", "list")["items"] == []
    add_target(d, by_ca, "by-ca", "--ca-file", str(authority.cert)).check()
    add_target(d, pinned, "pinned", "--fingerprint", pinned_cert.fingerprint()).check()
    shown = d.ctl("target", "show", "pinned").check().stdout
    assert pinned_cert.fingerprint().replace(":", "").lower() in shown
    checked = d.ctl("target", "check", "pinned").check().stdout
    assert re.search(r"tls certificate:\s+trusted \(the pinned certificate\)", checked), checked

    cam = cameras.add("yard")
    add_camera(d, cam, "yard").check()
    d.ctl("publish", "yard", "--wait").check()  # the active target: the first, by-ca
    assert "H264" in served(by_ca, "camera_yard")
    assert [s["path"] for s in _rtsps_sessions(by_ca)] == ["camera_yard"]

    d.ctl("target", "activate", "pinned").check()
    wait_until(lambda: pinned.server.api.path_ready("camera_yard"), timeout=30,
               what="the stream to move to the pinned server")  # fmt: skip
    assert "H264" in served(pinned, "camera_yard")
    d.wait_status("yard", "publishing")  # ucvd confirms it a poll after MediaMTX has it
    # A picture of the central path is read through a verified link as well.
    shot = tmp_path / "yard.jpg"
    taken = d.ctl_json("still", "yard", "-o", str(shot))
    assert taken["source"] == "central" and shot.read_bytes()[:2] == b"\xff\xd8"

    code, _ = d.terminate()
    assert code == 0
    log = d.log_text()
    for secret in secrets_of_lab(by_ca, [cam]) + secrets_of_lab(pinned, [cam]):
        assert secret not in log


@pytest.mark.parametrize("trust", ["system", "wrong-pin", "other-ca", "wrong-name"])
def test_an_untrusted_certificate_is_refused_before_anything_is_sent(  # noqa: PLR0917
    trust: str, make_ucvd: Callable[..., Ucvd], make_central: Callable[..., Central],
    cameras: CameraFarm, tmp_path: Path, open_dir: Path,
) -> None:  # fmt: skip
    pki = tmp_path / "pki"
    authority = tls.ca(open_dir)
    names = ("localhost",) if trust == "wrong-name" else ("127.0.0.1",)
    server_cert = (
        tls.signed(authority, pki, "mtx", names)
        if trust == "wrong-name"
        else tls.self_signed(pki, "mtx")
    )
    central = make_central(tls=server_cert)
    extra: tuple[str, ...] = {
        "system": (),
        "wrong-pin": ("--fingerprint", tls.self_signed(pki, "other").fingerprint()),
        "other-ca": ("--ca-file", str(authority.cert)),
        "wrong-name": ("--ca-file", str(authority.cert)),
    }[trust]
    d = make_ucvd().start()
    add_target(d, central, "central", *extra).check()
    cam = cameras.add("door")
    add_camera(d, cam, "door").check()
    d.ctl("publish", "door").check()
    error = wait_error(d, "door", "certificate_rejected")
    where = f"127.0.0.1:{central.server.rtsp_port}"
    expected = {
        "system": "self-signed certificate",
        "wrong-pin": "not the pinned",
        "other-ca": "self-signed certificate",
        "wrong-name": "IP address mismatch",
    }[trust]
    assert where in error["message"] and expected in error["message"], error
    assert "refused before sending anything" in error["message"]
    assert "ucvctl target update NAME --fingerprint" in error["hint"]
    check = d.ctl("--json", "target", "check", "central")
    checked = check.json()
    assert check.code == 1 and checked["tls"] == "refused" and not checked["ok"]
    assert any(expected in problem for problem in checked["problems"])
    shown = d.ctl("status", "door").check().stdout
    assert "certificate_rejected" in shown
    # FFmpeg never ran, so MediaMTX saw no RTSP request.
    assert d.ctl_json("logs", "door")["lines"] == []
    no_publisher_ever(central)
    code, _ = d.terminate()
    assert code == 0
    log = d.log_text()
    assert central.publisher.password not in log


def test_a_certificate_changed_under_a_running_publication_is_refused_on_reconnect(
    make_ucvd: Callable[..., Ucvd], make_central: Callable[..., Central], cameras: CameraFarm,
    tmp_path: Path,
) -> None:  # fmt: skip
    pki = tmp_path / "pki"
    first = tls.self_signed(pki, "first")
    central = make_central(tls=first)
    d = make_ucvd().start()
    add_target(d, central, "central", "--fingerprint", first.fingerprint()).check()
    cam = cameras.add("gate")
    add_camera(d, cam, "gate").check()
    d.ctl("publish", "gate", "--wait").check()
    assert "H264" in served(central, "camera_gate")

    # The server comes back with another certificate (a renewal, or someone else).
    second = tls.self_signed(pki, "second")
    central.server.stop()
    first.cert.write_bytes(second.cert.read_bytes())
    first.key.write_bytes(second.key.read_bytes())
    central.server.start()
    error = wait_error(d, "gate", "certificate_rejected")
    assert second.fingerprint().replace(":", "").lower() in error["message"]
    assert not central.server.api.path_ready("camera_gate")

    # The operator trusts the new one: it publishes again without a restart of its own.
    d.ctl("target", "update", "central", "--fingerprint", second.fingerprint()).check()
    d.wait_status("gate", "publishing", timeout=40)
    assert "H264" in served(central, "camera_gate")


def test_a_refusal_through_the_link_names_the_target_not_the_link(
    make_ucvd: Callable[..., Ucvd], make_central: Callable[..., Central], cameras: CameraFarm,
    tmp_path: Path,
) -> None:  # fmt: skip
    cert = tls.self_signed(tmp_path / "pki", "mtx")
    central = make_central(tls=cert)
    d = make_ucvd().start()
    s = central.server
    d.ctl("target", "add", "central", "--url", s.rtsp_url("").rstrip("/"),
          "--no-api", "--username", central.publisher.user, "--password-stdin",
          "--fingerprint", cert.fingerprint(), "--reconnect-delay", "0.5",
          input="not-the-password\n").check()  # fmt: skip
    cam = cameras.add("hall")
    add_camera(d, cam, "hall").check()
    d.ctl("publish", "hall").check()
    error = wait_error(d, "hall", "mediamtx_rejected")
    assert f"MediaMTX 127.0.0.1:{s.rtsp_port} refused the publish credentials" in error["message"]


def test_ffmpeg_alone_publishes_to_an_untrusted_rtsps_server(
    make_central: Callable[..., Central], tmp_path: Path
) -> None:
    """Why the link exists: the FFmpeg under test, asked to verify, publishes anyway to a
    server whose certificate nothing vouches for (its RTSP muxer passes no TLS options)."""
    pki = tmp_path / "pki"
    central = make_central(tls=tls.self_signed(pki, "mtx"))
    stranger_ca = tls.ca(pki, "unrelated")
    done = subprocess.run(
        [ffmpeg_under_test(), "-hide_banner", "-loglevel", "error",
         "-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2",
         "-c:v", "libx264", "-g", "10",
         "-tls_verify", "1", "-ca_file", str(stranger_ca.cert),
         "-f", "rtsp", "-rtsp_transport", "tcp", central.publish_url("unverified")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "publishing to path 'unverified'" in central.server.log_tail(200), done.stderr
