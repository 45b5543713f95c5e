"""What the relay stamps its stream with, as the central receives it.

ucvd ends FFmpeg's probe at the keyframe (`-max_ts_probe 1`), before FFmpeg has learnt
H.264's decode timestamps from 7 decoded pictures. What that may cost is confined to the
stream's first packets: FFmpeg guesses the timestamps of what it buffered while probing,
as it does with its own settings. After them every step must be the stream's own (one
picture, one audio packet): the check that the default keeps the stream whole. (A
recurring timestamp fault fails it: tried with a `setts` filter shifting every 40th
picture. `-max_ts_probe 0`, refused by the config, does not: its damage is to the AAC
frames inside packets whose RTP timestamps stay steady, see docs/architecture.md §6.)
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.media import Audio
from tests.harness.mediamtx import Central
from tests.harness.rtsp_tap import PublishTap
from tests.harness.waiting import wait_until

VIDEO_UNITS, AUDIO_UNITS = 100, 30  # steps to judge: about 4 s of this camera
JOINS = 4  # the probe ends at a different point of the GOP and of the audio each time
# Steps at the start that may differ: FFmpeg guesses the timestamps of the packets its
# probe buffered, with its own settings too (pictures 1 tick apart up to the 4th step, a
# wider first step, one audio frame missing between the first two packets were seen).
START = 8
VIDEO, AUDIO = 0, 2  # interleaved channels: the relay sets up video first, then audio


def steps(timestamps: list[int]) -> list[int]:
    """Signed steps between successive distinct RTP timestamps (a picture spans several
    packets with one timestamp); 32-bit wraparound allowed."""
    distinct: list[int] = []
    for ts in timestamps:
        if not distinct or ts != distinct[-1]:
            distinct.append(ts)
    return [((b - a + (1 << 31)) % (1 << 32)) - (1 << 31) for a, b in itertools.pairwise(distinct)]


def unsteady(found: list[int]) -> list[tuple[int, int]]:
    """(index, step) of the steps after the start that are not the stream's own: backwards,
    nearly zero, or a hole of half a step or more."""
    usual = statistics.median(found)
    return [(i, s) for i, s in enumerate(found) if i >= START and not usual / 2 < s < usual * 3 / 2]


def test_steps_table() -> None:
    assert steps([10, 10, 20, 30, 30, 40]) == [10, 10, 10]
    assert steps([(1 << 32) - 5, 5]) == [10]  # wraps
    assert steps([30, 20]) == [-10]
    assert unsteady([25, 1, 1, 30, 10, 10, 10, 10, 10, 10]) == []  # the start may differ
    found = [10] * 8 + [10, -3, 10, 1, 10, 16, 10]
    assert unsteady(found) == [(9, -3), (11, 1), (13, 16)]


def test_relayed_timestamps_step_steadily_after_the_first_packets(
    make_ucvd: Callable[..., Ucvd], mediamtx: Central, cameras: CameraFarm
) -> None:
    sim = cameras.add(audio=Audio.AAC)  # both tracks start from what the probe buffered
    d = make_ucvd().start()
    with PublishTap(mediamtx.server.rtsp_port, rtp_limit=5000) as tap:
        add_target(d, mediamtx, url=f"rtsp://127.0.0.1:{tap.port}").check()
        add_camera(d, sim, "cam").check()
        for join in range(JOINS):
            seen = len(tap.rtp)
            d.ctl("publish", "cam", "--wait", "--timeout", "20").check()

            def arrived(seen: int = seen) -> bool:
                return any(
                    len(steps([ts for ch, ts in r if ch == VIDEO])) >= VIDEO_UNITS
                    and len(steps([ts for ch, ts in r if ch == AUDIO])) >= AUDIO_UNITS
                    for r in tap.rtp[seen:]
                )

            wait_until(
                arrived,
                timeout=20,
                interval=0.1,
                what=f"4 s of join {join}'s media at the central",
            )
            d.ctl("stop", "cam").check()
            carried = [r for r in tap.rtp[seen:] if r]
            assert len(carried) == 1, f"join {join}: media over {len(carried)} connections"
            packets = carried[0]
            for channel in (VIDEO, AUDIO):
                found = steps([ts for ch, ts in packets if ch == channel])
                assert unsteady(found) == [], (join, channel, found[:40])
    d.terminate()
