"""The harness itself, proven against the real things it claims to be.

Later tests trust these parts (a camera that is "stopped" really refuses connections, a
"frozen" one really keeps the connection open and silent), so each control is checked here
by observing the effect from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.errors import HarnessError
from tests.harness.media import Audio, probe_streams
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import ProcessRegistry, wait_exec, wait_gone
from tests.harness.relay import start_plain_relay
from tests.harness.rtsp import rtsp_status
from tests.harness.rtsp_tap import PublishTap, _ClientStream
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

# Codec names as MediaMTX lists them in a path's tracks.
MTX_AUDIO_TRACK = {Audio.AAC: "MPEG-4 Audio", Audio.PCMU: "G711"}
FFPROBE_AUDIO = {Audio.AAC: "aac", Audio.PCMU: "pcm_mulaw"}


@pytest.mark.parametrize("audio", [Audio.AAC, Audio.PCMU])
def test_camera_stream_relayed_by_plain_ffmpeg_is_ready_at_central(
    audio: Audio,
    cameras: CameraFarm,
    mediamtx: Central,
    registry: ProcessRegistry,
    tools: Tools,
) -> None:
    camera = cameras.add(audio=audio, credentials=Credentials.generate("admin"))

    streams = probe_streams(tools, camera.full_url)
    video = [s for s in streams if s.codec_type == "video"]
    sound = [s for s in streams if s.codec_type == "audio"]
    assert [(s.codec_name, s.width, s.height) for s in video] == [("h264", 640, 360)]
    assert [s.codec_name for s in sound] == [FFPROBE_AUDIO[audio]]

    relay = start_plain_relay(
        registry, tools, camera.full_url, mediamtx.publish_url("camera_cam-001")
    )
    info = mediamtx.server.api.wait_path_ready("camera_cam-001", timeout=20)
    assert relay.alive()
    assert info["tracks"][0] == "H264"
    assert MTX_AUDIO_TRACK[audio] in info["tracks"]
    assert info["source"]["type"] == "rtspSession"

    published = probe_streams(tools, mediamtx.read_url("camera_cam-001"))
    assert [(s.codec_name, s.width, s.height) for s in published if s.codec_type == "video"] == [
        ("h264", 640, 360)
    ]
    first = mediamtx.server.api.inbound_bytes("camera_cam-001")
    wait_until(
        lambda: mediamtx.server.api.inbound_bytes("camera_cam-001") > first,
        timeout=5,
        what="inbound bytes at central to grow",
    )


def test_tap_parser_dates_the_first_packet_on_channel_0_only() -> None:
    stream = _ClientStream()
    sdp = b"v=0\r\nm=video 0 RTP/AVP 96\r\na=note:$\x00\x00\x04\r\n"  # a `$` in a body
    announce = (
        b"ANNOUNCE rtsp://h/p RTSP/1.0\r\nCSeq: 2\r\nContent-Length: "
        + str(len(sdp)).encode()
        + b"\r\n\r\n"
        + sdp
    )
    stream.feed(b"OPTIONS rtsp://h/p RTSP/1.0\r\nCSeq: 1\r\n\r\n" + announce[:30], now=1.0)
    stream.feed(announce[30:] + b"RECORD rtsp://h/p RTSP/1.0\r\nCSeq: 3\r\n\r\n", now=2.0)
    assert (stream.recorded, stream.first_media) == (2.0, None)
    stream.feed(b"$\x02\x00\x03abc", now=3.0)  # another track's packet
    assert stream.first_media is None
    stream.feed(b"$\x00\x00\x05ab", now=4.0)  # channel 0, incomplete
    assert stream.first_media is None
    stream.feed(b"cde$\x00\x00\x01z", now=5.0)
    assert stream.first_media == 5.0


def test_tap_parser_keeps_media_timestamps_up_to_its_limit() -> None:
    stream = _ClientStream(rtp_limit=3)
    stream.feed(b"RECORD rtsp://h/p RTSP/1.0\r\nCSeq: 3\r\n\r\n", now=1.0)

    def packet(channel: int, timestamp: int, size: int = 12) -> bytes:
        header = b"\x80\x60\x00\x01" + timestamp.to_bytes(4, "big") + b"\x00" * 4
        return b"$" + bytes([channel]) + size.to_bytes(2, "big") + header[:size]

    stream.feed(packet(0, 7) + packet(1, 99) + packet(2, 8, size=8), now=2.0)  # RTCP, short
    stream.feed(packet(2, 9)[:10], now=3.0)
    assert (stream.first_media, stream.rtp) == (2.0, [(0, 7)])
    stream.feed(packet(2, 9)[10:] + packet(0, 3600) + packet(0, 7200), now=4.0)
    assert stream.rtp == [(0, 7), (2, 9), (0, 3600)]


def test_tap_forwards_a_publisher_and_sees_its_first_packet(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    camera = cameras.add(audio=Audio.AAC)
    with PublishTap(mediamtx.server.rtsp_port) as tap:
        target = mediamtx.publish_url("tapped").replace(
            f":{mediamtx.server.rtsp_port}/", f":{tap.port}/"
        )
        assert f":{tap.port}/" in target
        start_plain_relay(registry, tools, camera.full_url, target)
        info = mediamtx.server.api.wait_path_ready("tapped", timeout=20)
        assert info["tracks"][0] == "H264"
        wait_until(
            lambda: bool(tap.first_media) and tap.first_media[0] is not None,
            timeout=5,
            what="the first media packet seen by the tap",
        )
        assert len(tap.first_media) == 1
        recorded, first = tap.recorded[0], tap.first_media[0]
        assert recorded is not None and first is not None and recorded <= first


def test_video_only_camera(cameras: CameraFarm, tools: Tools) -> None:
    camera = cameras.add(audio=Audio.NONE)
    streams = probe_streams(tools, camera.url)
    assert [s.codec_type for s in streams] == ["video"]


def test_camera_credentials_are_enforced(cameras: CameraFarm) -> None:
    creds = Credentials.generate("admin")
    camera = cameras.add(credentials=creds)
    assert rtsp_status(camera.host, camera.port, camera.path, "DESCRIBE") == 401
    open_camera = cameras.add()
    assert rtsp_status(open_camera.host, open_camera.port, open_camera.path, "DESCRIBE") == 200


def test_camera_wrong_password_is_refused_by_ffprobe(cameras: CameraFarm, tools: Tools) -> None:
    camera = cameras.add(credentials=Credentials.generate("admin"))
    with pytest.raises(HarnessError, match="401"):
        probe_streams(tools, camera.url_with(Credentials("admin", "wrong")))


def test_camera_unknown_path_is_404(cameras: CameraFarm) -> None:
    camera = cameras.add()
    assert rtsp_status(camera.host, camera.port, "no/such/stream", "DESCRIBE") == 404


def test_camera_stop_refuses_connections_and_start_serves_again(
    cameras: CameraFarm, tools: Tools
) -> None:
    camera = cameras.add()
    port = camera.port
    camera.stop()
    with pytest.raises(ConnectionRefusedError):
        rtsp_status(camera.host, camera.port, camera.path)
    camera.start()
    assert camera.port == port, "a restarted camera keeps its address"
    assert [s.codec_type for s in probe_streams(tools, camera.url)] == ["video", "audio"]


def test_camera_freeze_keeps_connection_open_but_silent(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    camera = cameras.add()
    relay = start_plain_relay(registry, tools, camera.url, mediamtx.publish_url("frozen"))
    api = mediamtx.server.api
    api.wait_path_ready("frozen", timeout=20)

    camera.freeze()
    # The port still accepts connections (the kernel does that) but the camera says nothing.
    assert rtsp_status(camera.host, camera.port, camera.path, timeout=1.0) is None
    # The relay's input dries up: central stops receiving bytes while the relay lives on.
    stalled_at = api.inbound_bytes("frozen")
    wait_until(
        lambda: (
            rtsp_status(camera.host, camera.port, camera.path, timeout=1.0) is None
            and api.inbound_bytes("frozen") == stalled_at
        ),
        timeout=5,
        what="inbound bytes to stay flat across a 1 s probe",
    )
    assert relay.alive()

    camera.thaw()
    assert rtsp_status(camera.host, camera.port, camera.path) == 200
    wait_until(
        lambda: api.inbound_bytes("frozen") > stalled_at,
        timeout=10,
        what="bytes to flow again after the thaw",
    )


def test_camera_drop_clients_disconnects_the_reader_only(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    camera = cameras.add()
    other = cameras.add()
    relay = start_plain_relay(registry, tools, camera.url, mediamtx.publish_url("dropped"))
    bystander = start_plain_relay(registry, tools, other.url, mediamtx.publish_url("bystander"))
    api = mediamtx.server.api
    api.wait_path_ready("dropped", timeout=20)
    api.wait_path_ready("bystander", timeout=20)

    assert camera.drop_clients() == 1
    wait_until(lambda: not relay.alive(), timeout=10, what="the dropped relay to exit")
    assert bystander.alive()
    assert camera.running()
    assert rtsp_status(camera.host, camera.port, camera.path, "DESCRIBE") == 200


def test_central_kick_publisher(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    camera = cameras.add()
    relay = start_plain_relay(registry, tools, camera.url, mediamtx.publish_url("kicked"))
    api = mediamtx.server.api
    api.wait_path_ready("kicked", timeout=20)
    session = api.kick_publisher("kicked")
    assert session
    wait_until(lambda: not relay.alive(), timeout=10, what="the kicked publisher to exit")
    wait_until(lambda: not api.path_ready("kicked"), timeout=5, what="the path to go unready")


def test_central_rejects_wrong_publish_credentials(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    camera = cameras.add()
    bad = mediamtx.server.rtsp_url("intruder", Credentials("ucvd-publisher", "wrong"))
    relay = start_plain_relay(registry, tools, camera.url, bad)
    wait_until(lambda: not relay.alive(), timeout=20, what="the refused publisher to exit")
    assert relay.returncode != 0
    assert "401" in relay.log_tail()
    assert not mediamtx.server.api.path_ready("intruder")


def test_central_api_refuses_wrong_credentials(mediamtx: Central) -> None:
    api = mediamtx.server.api
    api.credentials = Credentials("ucvd-api", "wrong")
    assert not api.reachable()


def test_override_publisher_off_keeps_the_first_publisher(
    cameras: CameraFarm,
    make_central: Callable[..., Central],
    registry: ProcessRegistry,
    tools: Tools,
) -> None:
    central = make_central(path_defaults={"overridePublisher": False})
    assert central.server.config["pathDefaults"]["overridePublisher"] is False
    camera = cameras.add()
    first = start_plain_relay(registry, tools, camera.url, central.publish_url("busy"))
    api = central.server.api
    api.wait_path_ready("busy", timeout=20)
    owner = api.publisher_session("busy")
    second = start_plain_relay(registry, tools, camera.url, central.publish_url("busy"))
    wait_until(lambda: not second.alive(), timeout=20, what="the second publisher to be refused")
    assert first.alive()
    assert api.publisher_session("busy") == owner


def test_central_restart_keeps_its_ports(mediamtx: Central) -> None:
    before = (mediamtx.server.rtsp_port, mediamtx.server.api_port)
    old_pid = mediamtx.server.proc.pid if mediamtx.server.proc else None
    mediamtx.server.restart()
    assert (mediamtx.server.rtsp_port, mediamtx.server.api_port) == before
    assert mediamtx.server.proc is not None and mediamtx.server.proc.pid != old_pid
    assert mediamtx.server.api.reachable()


def test_many_cameras_start_together(cameras: CameraFarm) -> None:
    farm = cameras.add_many(100)
    assert len({c.port for c in farm}) == 100
    for camera in farm:
        assert rtsp_status(camera.host, camera.port, camera.path, "DESCRIBE") == 200


def test_registry_close_stops_everything(tmp_path: Path, tools: Tools) -> None:
    registry = ProcessRegistry(tmp_path)
    sleepers = [registry.spawn(f"s{i}", ["sleep", "600"]) for i in range(3)]
    sleepers[0].freeze()  # a frozen child must not survive either
    pids = {p.pid for p in sleepers}
    registry.close()
    wait_gone(pids, timeout=2)


def test_children_die_with_a_killed_test_runner(tmp_path: Path) -> None:
    """A runner killed with SIGKILL cannot clean up; the parent-death signal must."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from tests.harness.procs import ProcessRegistry
        registry = ProcessRegistry(Path({str(tmp_path)!r}))
        proc = registry.spawn("orphan-candidate", ["sleep", "600"])
        print(proc.pid, flush=True)
        time.sleep(600)
        """
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert runner.stdout is not None
        child = int(runner.stdout.readline())
        # Until it runs sleep, the child may still be setpriv, its parent-death signal unset.
        wait_exec(child, "sleep")
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        wait_gone({child}, timeout=5)
    finally:
        runner.kill()
        runner.wait()
