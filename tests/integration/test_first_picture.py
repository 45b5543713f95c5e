"""The first picture of a camera whose keyframes are further apart than the stall timeout.

FFmpeg's probe of a camera that announces its parameter sets in the SDP can end before the
first keyframe: always when the keyframes are further apart than the analysis time (5 s by
default, 0.3 s here, as `[relay] analyzeduration_us` allows). MediaMTX then has the path
at once and stream copy sends nothing until the keyframe comes. The watchdog must give
that first picture the start allowance, not the stall timeout, or such a camera would be
restarted before every first keyframe. (FFmpeg 7.1 moves its output time before the
keyframe, so the stall timeout alone never fired there; this runs with 7.1 too, as a check
that such a camera starts.)

The central sets the other limit: MediaMTX drops a publisher that sends nothing for its
`readTimeout`. A camera it drops before its first picture is then probed up to its
keyframe, so that RECORD comes with the picture.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.daemon import Ucvd, add_target
from tests.harness.media import Audio, ClipLibrary, ClipSpec
from tests.harness.mediamtx import Central
from tests.harness.procs import ProcessRegistry
from tests.harness.rtsp_tap import PublishTap
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

# One keyframe every 8 s: longer than the stall timeout below, shorter than the 10 s
# MediaMTX waits for a publisher's first packet (its readTimeout) before it drops it.
GOP_S = 8
# Not shorter: FFmpeg writes a progress block a second and ucvd reads them once a tick,
# so up to two seconds pass between blocks seen, and FFmpeg silent that long is a stall.
STALL_S = 3.0
WAITED_S = STALL_S + 1.5  # a join waiting this long for its keyframe exercises the rule
JOINS = 14  # a join waits less about 6 times in 10: all 14 of them, about 1 in 1000
SOURCE = "long_gop_source"
HINT = "none yet: waiting for the camera's first keyframe"  # ucvctl status CAMERA


@pytest.fixture
def long_gop_camera(registry: ProcessRegistry, tools: Tools, mediamtx: Central) -> Iterator[str]:
    """A path of the central MediaMTX that loops an 8 s GOP clip: the camera (its read URL,
    credentials apart). MediaMTX announces SPS/PPS in its SDP, as most cameras do."""
    clips = ClipLibrary(tools, ClipSpec(gop_frames=25 * GOP_S, seconds=GOP_S))
    clips.ensure()
    feeder = registry.spawn(
        "feeder-long-gop",
        [
            tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
            "-re", "-stream_loop", "-1", "-i", str(clips.path(Audio.NONE)),
            "-map", "0", "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
            mediamtx.publish_url(SOURCE),
        ],
    )  # fmt: skip
    mediamtx.server.api.wait_path_ready(SOURCE, timeout=15)
    yield mediamtx.server.rtsp_url(SOURCE)
    feeder.stop()


def _add(d: Ucvd, mediamtx: Central, url: str) -> None:
    d.ctl(
        "camera", "add", "longgop", "--url", url,
        "--username", mediamtx.reader.user, "--password-stdin",
        input=mediamtx.reader.password + "\n",
    ).check()  # fmt: skip


def test_a_camera_with_keyframes_8_s_apart_starts_without_a_stall(
    make_ucvd: Callable[..., Ucvd], mediamtx: Central, long_gop_camera: str
) -> None:
    """Joins are repeated until one has its first picture more than the stall timeout
    (plus a check period) after RECORD, the case the old rule restarted; each join must
    publish without a failure. A join whose probe ran into the keyframe proves nothing and
    is not counted."""
    supervision: dict[str, Any] = {"stall_timeout_s": STALL_S, "start_timeout_s": 20.0}
    relay = {"analyzeduration_us": 300_000}  # the probe ends before most keyframes
    d = make_ucvd(settings={"supervision": supervision, "relay": relay}).start()
    gaps: list[float] = []
    told = 0  # joins whose status was read while the central had no picture
    with PublishTap(mediamtx.server.rtsp_port) as tap:
        add_target(d, mediamtx, url=f"rtsp://127.0.0.1:{tap.port}").check()
        _add(d, mediamtx, long_gop_camera)
        for _ in range(JOINS):
            seen = len(tap.first_media)
            d.ctl("publish", "longgop", "--wait", "--timeout", "15").check()

            # The first picture leaves with the camera's next keyframe, up to GOP_S later.
            def pictured(seen: int = seen) -> bool:
                return any(t is not None for t in tap.first_media[seen:])

            # While the central has no picture the operator is told why it is dark, once
            # ucvd has read FFmpeg's progress (a second or so after the path is ready).
            hinted: list[bool] = []

            def told_or_pictured(seen: int = seen, hinted: list[bool] = hinted) -> bool:
                detail = d.ctl("status", "longgop").check().stdout
                hinted.append(HINT in detail and not pictured(seen))
                return hinted[-1] or pictured(seen)

            wait_until(told_or_pictured, timeout=GOP_S + 5, interval=0.3, what="hint or picture")
            told += hinted[-1]
            wait_until(
                pictured,
                timeout=GOP_S + 5,
                interval=0.1,
                what="the first picture to reach the central",
            )

            def told_no_more() -> bool:
                return HINT not in d.ctl("status", "longgop").check().stdout

            # Frames are counted from FFmpeg's progress, a second or two behind.
            wait_until(told_no_more, timeout=10, interval=0.5, what="the hint to go")
            status = d.status("longgop")
            assert status["status"] == "publishing", status
            assert status["consecutive_failures"] == 0, status
            # One connection carried the picture: no restarted attempt before it.
            pairs = [
                (r, f) for r, f in zip(tap.recorded[seen:], tap.first_media[seen:], strict=True)
                if r is not None
            ]  # fmt: skip
            assert len(pairs) == 1, pairs
            recorded, first = pairs[0]
            assert first is not None
            gaps.append(first - recorded)
            d.ctl("stop", "longgop").check()
            if gaps[-1] > WAITED_S:
                break
        assert gaps[-1] > WAITED_S, f"no join waited long enough for its keyframe: {gaps}"
        assert told >= 1  # the join that waited longest was told, long before its picture
        # Every publishing session ended by the operator's stops, none as stalled.
        sessions = d.ctl_json("history", "longgop")["items"]
        assert len(sessions) == len(gaps), sessions
        assert all(
            (s["end_reason"], s["error_kind"], s["restarts"]) == ("stopped", None, 0)
            for s in sessions
        ), sessions
    d.terminate()


def test_a_camera_dropped_before_its_keyframe_is_then_probed_up_to_it(  # noqa: PLR0917
    make_ucvd: Callable[..., Ucvd],
    make_central: Callable[..., Central],
    mediamtx: Central,
    tools: Tools,
    registry: ProcessRegistry,
    long_gop_camera: str,
) -> None:
    """A central that drops a publisher silent for 2 s (its readTimeout; 10 s by default,
    as short against keyframes 12 s apart) and a join just after the camera's keyframe:
    ucvd's probe ends before the next one, the central drops the attempt, and the retry
    must wait for the keyframe before publishing, so that it publishes at any phase."""
    strict = make_central(settings={"readTimeout": "2s"})
    # When the camera's keyframes pass: a plain FFmpeg with FFmpeg's own probing publishes
    # only once it has decoded one, so its first packet dates the phase (give or take the
    # 7 pictures it decodes after it and the handshakes: well under a second).
    with PublishTap(mediamtx.server.rtsp_port) as phase:
        url = mediamtx.read_url(SOURCE)
        probe = registry.spawn(
            "phase",
            [
                tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
                "-rtsp_transport", "tcp", "-i", url, "-map", "0:v:0", "-c", "copy",
                "-f", "rtsp", "-rtsp_transport", "tcp",
                mediamtx.publish_url("phase").replace(
                    f":{mediamtx.server.rtsp_port}/", f":{phase.port}/"
                ),
            ],
        )  # fmt: skip
        wait_until(lambda: any(phase.first_media), timeout=GOP_S + 10, what="the phase probe")
        keyframe = next(t for t in phase.first_media if t is not None)
        probe.stop()
    d = make_ucvd().start()
    with PublishTap(strict.server.rtsp_port) as tap:
        add_target(d, strict, url=f"rtsp://127.0.0.1:{tap.port}").check()
        _add(d, mediamtx, long_gop_camera)
        # Just after a keyframe: the next one is GOP_S away, far beyond the 2 s.
        start = keyframe + GOP_S * (int((time.time() - keyframe) / GOP_S) + 1) + 0.3
        time.sleep(max(0.0, start - time.time()))
        d.ctl("publish", "longgop").check()
        wait_until(
            lambda: any(tap.first_media),
            timeout=3 * GOP_S,
            interval=0.1,
            what="the first picture to reach the strict central",
        )
        status = d.wait_status("longgop", "publishing", timeout=10)
        assert status["consecutive_failures"] == 1, status  # the first attempt, and only it
        assert status["last_error"]["kind"] == "mediamtx_closed", status
        assert "wait for the keyframe" in status["last_error"]["message"], status
        assert status["probe_to_keyframe"] is True, status
        detail = d.ctl("status", "longgop").check().stdout.splitlines()
        assert any(re.fullmatch(r"probe:\s+up to the keyframe .*", ln) for ln in detail), detail
        recorded_at, media_at = tap.recorded, tap.first_media  # a new connection may come between
        pairs = [(r, f) for r, f in zip(recorded_at, media_at, strict=False) if r]
        assert len(pairs) == 2 and pairs[0][1] is None, pairs
        recorded, first = pairs[1]
        assert first is not None and first - recorded < 2.0, pairs  # RECORD waited for it
    d.terminate()
