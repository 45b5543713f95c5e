"""SRT to the centre and the audio policy, with the real ucvd, ucvctl, FFmpeg and MediaMTX
and a simulated G.711 camera: what arrives at the central path is read back from
MediaMTX's API and with ffprobe from its RTSP side."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, secrets_of_lab
from tests.harness.media import Audio, probe_streams
from tests.harness.mediamtx import Central
from tests.harness.ports import LOOPBACK, free_port
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

PATH = "camera_door"


def srt_central(make_central: Callable[..., Central], passphrase: str) -> tuple[Central, int]:
    port = free_port()  # free for TCP; MediaMTX binds it for UDP
    central = make_central(
        settings={"srt": True, "srtAddress": f"{LOOPBACK}:{port}"},
        path_defaults={"srtPublishPassphrase": passphrase},
    )
    return central, port


def add_srt_target(d: Ucvd, central: Central, port: int, passphrase: str, name: str) -> None:
    s = central.server
    d.ctl(
        "target", "add", name,
        "--url", f"srt://{LOOPBACK}:{port}",
        "--api-url", s.api_url,
        "--username", central.publisher.user, "--password-stdin",
        "--api-username", central.api_user.user, "--api-password-stdin",
        "--srt-passphrase-stdin",
        "--reconnect-delay", "0.5",
        input=f"{central.publisher.password}\n{central.api_user.password}\n{passphrase}\n",
    ).check()  # fmt: skip


def central_audio(tools: Tools, central: Central) -> list[str]:
    """The audio codecs a reader of the central path gets."""
    streams = probe_streams(tools, central.read_url(PATH))
    assert [s.codec_name for s in streams if s.codec_type == "video"] == ["h264"]
    return [s.codec_name for s in streams if s.codec_type == "audio"]


def tracks(central: Central) -> list[str]:
    return central.server.api.tracks(PATH)


def test_srt_with_passphrase_transcodes_g711_to_aac_and_says_why(
    make_ucvd: Callable[..., Ucvd],
    make_central: Callable[..., Central],
    cameras: CameraFarm,
    tools: Tools,
) -> None:
    passphrase = "pp-" + secrets.token_hex(8)
    central, port = srt_central(make_central, passphrase)
    sim = cameras.add("door", audio=Audio.PCMU)
    d = make_ucvd().start()
    add_srt_target(d, central, port, passphrase, "centre")
    add_camera(d, sim, "door").check()  # the default policy: copy
    d.ctl("publish", "door").check()
    status = d.wait_status("door", "publishing")

    # The camera's G.711 cannot travel in MPEG-TS to MediaMTX: ucvd chose AAC, and says so.
    audio: dict[str, Any] = status["audio"]
    assert audio["policy"] == "copy" and audio["mode"] == "aac"
    assert audio["codec"] == "pcm_mulaw"
    assert audio["reason"] == "SRT cannot carry G.711 µ-law (pcm_mulaw)"
    assert status["error_count"] == 0 and status["restarts"] == 0  # no failure, no flap
    info = central.server.api.path(PATH) or {}
    assert info["source"]["type"] == "srtConn"
    assert tracks(central) == ["H264", "MPEG-4 Audio"]
    assert central_audio(tools, central) == ["aac"]
    shown = d.ctl("status", "door").check().stdout
    assert "aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))" in shown

    # A wrong passphrase: refused by the server, said in the operator's words.
    d.ctl("target", "update", "centre", "--srt-passphrase-stdin",
          input="wrong-" + secrets.token_hex(6) + "\n").check()  # fmt: skip
    d.ctl("restart", "door").check()

    def rejected() -> dict[str, Any] | None:
        s = d.status("door")
        e = s.get("last_error") or {}
        return s if e.get("kind") == "mediamtx_rejected" else None

    failing = wait_until(rejected, timeout=30, what="the wrong passphrase to be reported")
    assert failing is not None
    assert "SRT passphrase" in failing["last_error"]["message"]
    text = d.ctl("status", "door").stdout + d.ctl("logs", "door").stdout + d.log_text()
    for secret in [passphrase, *secrets_of_lab(central, [sim])]:
        assert secret not in text


@pytest.mark.parametrize(
    ("policy", "expected_tracks", "expected_audio"),
    [
        ("copy", ["H264", "G711"], ["pcm_mulaw"]),
        ("drop", ["H264"], []),
        ("aac", ["H264", "MPEG-4 Audio"], ["aac"]),
    ],
)
def test_each_audio_policy_over_rtsp_with_a_g711_camera(  # noqa: PLR0917
    policy: str,
    expected_tracks: list[str],
    expected_audio: list[str],
    make_ucvd: Callable[..., Ucvd],
    mediamtx: Central,
    cameras: CameraFarm,
    tools: Tools,
) -> None:
    sim = cameras.add("door", audio=Audio.PCMU)
    d = make_ucvd().start()
    add_target(d, mediamtx).check()
    add_camera(d, sim, "door", "--audio", policy).check()
    assert d.ctl_json("camera", "show", "door")["options"]["audio"] == policy
    d.ctl("publish", "door").check()
    status = d.wait_status("door", "publishing")
    assert status["audio"]["mode"] == policy and status["audio"]["reason"] is None
    assert status["audio"]["codec"] == "pcm_mulaw"
    assert tracks(mediamtx) == expected_tracks
    assert central_audio(tools, mediamtx) == expected_audio
