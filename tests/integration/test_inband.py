"""A camera that sends SPS/PPS only in-band, relayed by ucvd with real FFmpeg and MediaMTX.

Every other simulated camera announces its parameter sets in the SDP; this one
(tests/harness/inband_camera.py) does not, so FFmpeg learns the picture size only from the
first keyframe it receives. What the time-to-live work may cut in FFmpeg's probing is
bounded by this camera still working.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.inband_camera import InbandCamera, access_units, keyframe_indexes
from tests.harness.media import ClipLibrary, packets_read, probe_streams
from tests.harness.mediamtx import Central, MediaMTXServer, base_config
from tests.harness.ports import LOOPBACK
from tests.harness.procs import ProcessRegistry
from tests.harness.relayed import camera_for, target_for
from tests.harness.rtsp import rtsp_describe
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until
from ucvd.relay.ffmpeg.argv import RelaySettings, relay_argv

FFMPEG_DEFAULT_ANALYZE_US = 5_000_000  # what FFmpeg uses for RTSP when none is given


@pytest.fixture
def inband(tools: Tools, clips: ClipLibrary) -> Iterator[InbandCamera]:
    with InbandCamera(tools, clips) as camera:
        yield camera


def _assert_relayed(tools: Tools, central: Central, path: str) -> None:
    """The central path is online with H.264 and a reader decodes its picture."""
    info = central.server.api.wait_path_ready(path, timeout=15)
    assert info.get("tracks") == ["H264"], info
    streams = probe_streams(tools, central.read_url(path))
    assert [(s.codec_type, s.codec_name, s.width, s.height) for s in streams] == [
        ("video", "h264", 640, 360)
    ]
    assert packets_read(tools, central.read_url(path), seconds=1.5)[0] > 0


def test_the_camera_announces_no_parameter_sets(inband: InbandCamera, tools: Tools) -> None:
    sdp = rtsp_describe(inband.host, inband.port, inband.path)
    assert "H264/90000" in sdp
    assert "sprop-parameter-sets" not in sdp
    assert "profile-level-id" not in sdp
    # ...but every keyframe it sends carries them, one GOP (25 pictures) apart.
    keyframes = keyframe_indexes(inband.units)
    assert keyframes == list(range(0, len(inband.units), 25)), keyframes
    # A reader that joins between keyframes still describes it once the next one arrives.
    streams = probe_streams(tools, inband.url)
    assert [(s.codec_name, s.width, s.height) for s in streams] == [("h264", 640, 360)]


def test_pictures_are_split_where_they_end(inband: InbandCamera) -> None:
    """The packetizer's framing: one marker bit per picture is what FFmpeg relies on."""
    nals = [n for unit in inband.units for n in unit]
    assert access_units(nals) == inband.units
    assert len(inband.units) == 200  # the 8 s clip at 25 fps


def test_mediamtx_announces_what_it_learnt_in_band(
    inband: InbandCamera, registry: ProcessRegistry, tools: Tools, tmp_path: Any
) -> None:
    """Why a MediaMTX cannot play this camera: once it has seen a keyframe it puts the
    parameter sets into its own SDP."""
    users = [{"user": "any", "pass": "", "permissions": [{"action": "read"}, {"action": "api"}]}]

    def build(rtsp_port: int, api_port: int) -> dict[str, Any]:
        config = base_config(rtsp_port=rtsp_port, api_port=api_port, log_level="warn",
                             users=users)  # fmt: skip
        config["paths"] = {"cam": {"source": inband.url, "rtspTransport": "tcp"}}
        return config

    server = MediaMTXServer(registry=registry, tools=tools, workdir=tmp_path / "m", name="m",
                            build_config=build)  # fmt: skip
    server.start()
    server.api.wait_path_ready("cam")
    sdps: list[str] = []

    def announces() -> bool:
        sdps.append(rtsp_describe(LOOPBACK, server.rtsp_port, "cam"))
        return "sprop-parameter-sets" in sdps[-1]

    wait_until(announces, timeout=5, interval=0.2, what="MediaMTX to announce SPS/PPS")
    server.stop()


def test_ucvd_relays_it(
    make_ucvd: Callable[..., Ucvd], mediamtx: Central, inband: InbandCamera, tools: Tools
) -> None:
    """The daemon's own FFmpeg options (fpsprobesize 0, FFmpeg's analysis time)."""
    d = make_ucvd(settings={"relay": {"analyzeduration_us": FFMPEG_DEFAULT_ANALYZE_US}}).start()
    add_target(d, mediamtx).check()
    add_camera(d, inband, "inband").check()  # type: ignore[arg-type]
    d.ctl("publish", "inband", "--wait", "--timeout", "20").check()
    assert d.status("inband")["status"] == "publishing"
    _assert_relayed(tools, mediamtx, "camera_inband")
    d.ctl("stop", "inband").check()
    d.terminate()


@pytest.mark.parametrize(
    "settings",
    [
        RelaySettings(),  # ucvd's default: fpsprobesize 0, FFmpeg's analysis time
        # The analysis time does not cut the wait for the first SPS short: FFmpeg counts it
        # only from pictures it could parse, so even 1 us waits for the keyframe.
        RelaySettings(analyzeduration_us=1),
    ],
    ids=["default", "analyzeduration-1us"],
)
def test_probe_settings_that_keep_it_working(
    settings: RelaySettings, registry: ProcessRegistry, mediamtx: Central,
    inband: InbandCamera, tools: Tools,
) -> None:  # fmt: skip
    for run in range(3):  # joins at three random points of the GOP
        time.sleep(random.Random(run).uniform(0, 1))
        camera = camera_for(inband, f"probe{run}")  # type: ignore[arg-type]
        argv = relay_argv(tools.ffmpeg, camera, target_for(mediamtx), settings)
        proc = registry.spawn(f"relay-{run}", argv)
        _assert_relayed(tools, mediamtx, f"camera_probe{run}")
        proc.stop()


def test_a_byte_limit_too_small_loses_the_picture_size(
    registry: ProcessRegistry, mediamtx: Central, inband: InbandCamera, tools: Tools
) -> None:
    """The limit that does break it: a probesize smaller than the wait for a keyframe."""
    camera = camera_for(inband, "small")  # type: ignore[arg-type]
    proc = registry.spawn("relay", relay_argv(tools.ffmpeg, camera, target_for(mediamtx),
                                              RelaySettings(probesize=32)))  # fmt: skip
    wait_until(lambda: not proc.alive(), timeout=15, what="FFmpeg to give up")
    assert "dimensions not set" in proc.log_tail(60)
    assert not mediamtx.server.api.path_ready("camera_small")
